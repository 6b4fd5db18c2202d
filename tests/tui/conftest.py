"""Fixtures for the TUI tests: fake-trainer configs, fixed run folders, a pilot wait helper.

Pilot tests are plain ``def`` functions that call ``asyncio.run`` on the app's ``run_test``
(no pytest-asyncio needed). Runs are launched through the real queue and scheduler daemon with
the fake trainer (``HW2_EXTRA_TRAINERS=fake=tests.fake_trainer``); every test stops its
scheduler and kills its leftover trainers on teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hw2.contract import RunMeta, atomic_write_text, host_name, read_meta, write_meta, write_result
from tests.conftest import PROJECT_ROOT

FIXED_NOW = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC: the fake clock of snapshot tests


# ---------------------------------------------------------------------- configs


FAKE_EXPERIMENT = """\
name: fake-one
trainer: fake
seed: 1
model: {{name: {model}}}
optimizer: {{name: sgd, lr: 0.05}}
train: {{epochs: {epochs}, batch_size: {batches}}}
"""

FAKE_STUDY = """\
study: "Fake sweep"
description: a sweep of the fake trainer over the learning rate
base: fake-one.yaml
grid:
  optimizer.lr: [0.01, 0.02, 0.03, 0.04]
"""

INVALID = """\
name: broken
trainer: fake
model: {name: x}
optimizer: {name: sgd, lr: -1}
"""


def write_configs(d: Path, *, epochs: int = 3, batches: int = 5, model: str = "ok") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "fake-one.yaml").write_text(FAKE_EXPERIMENT.format(epochs=epochs, batches=batches, model=model))
    (d / "fake-sweep.yaml").write_text(FAKE_STUDY)
    (d / "zz-broken.yaml").write_text(INVALID)
    return d


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Environment for launching the fake trainer through the real scheduler."""
    monkeypatch.setenv("HW2_EXTRA_TRAINERS", "fake=tests.fake_trainer")
    monkeypatch.setenv("HW2_CPU_SLOTS", "2")
    monkeypatch.setenv("HW2_FAKE_SLEEP", "0.02")
    monkeypatch.setenv("HW2_SCHEDULER_IDLE", "1")
    monkeypatch.setenv("HW2_KILL_GRACE", "3")
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.chdir(PROJECT_ROOT)


@pytest.fixture
def configs_dir(tmp_path: Path) -> Path:
    return write_configs(tmp_path / "configs")


@pytest.fixture
def cleanup_runs(runs_dir: Path) -> Iterator[Path]:
    """Stop the scheduler and any trainer still alive in ``runs_dir`` after the test."""
    yield runs_dir
    from hw2.daemon import stop_scheduler

    with contextlib.suppress(Exception):
        stop_scheduler(runs_dir, timeout=5)
    for meta_file in runs_dir.glob("*/meta.json"):
        meta = read_meta(meta_file.parent)
        if meta and meta.status == "running" and meta.pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(meta.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(meta.pid, signal.SIGKILL)


# ---------------------------------------------------------------------- fixed runs (snapshots)


def _curve(e: int, epochs: int, lr: float) -> dict[str, float]:
    f = e / epochs
    k = 1.0 + 10 * lr
    return {
        "train_loss": round(2.2 * (1 - f) ** k + 0.08, 4),
        "val_loss": round(2.25 * (1 - f) ** k + 0.15 + 0.02 * f * f, 4),
        "train_acc": round(0.3 + 0.68 * f**0.7, 4),
        "val_acc": round(0.28 + 0.66 * f**0.7 - (0.03 if e == epochs else 0.0), 4),
    }


def make_fixed_run(
    runs_dir: Path,
    run_id: str,
    name: str,
    status: str,
    *,
    epochs: int,
    done: int,
    study: str | None = None,
    lr: float = 0.01,
    model: str = "mlp",
    started: float = FIXED_NOW - 600,
    progress: tuple[int, int] | None = None,
    garbage: int = 0,
) -> Path:
    """A run folder with fixed metrics: what the trainer would leave behind, minus the noise."""
    d = runs_dir / run_id
    d.mkdir(parents=True)
    cfg = {
        "name": name,
        "trainer": "mlp",
        "seed": 0,
        "model": {"name": model, "hidden": [256, 128]},
        "optimizer": {"name": "sgd", "lr": lr},
        "train": {"epochs": epochs, "batch_size": 128},
    }
    atomic_write_text(d / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
    finished = status in ("done", "failed", "killed")
    write_meta(
        d,
        RunMeta(
            run_id=run_id,
            name=name,
            status=status,
            trainer="mlp",
            study=study,
            created=started - 5,
            started=None if status == "queued" else started,
            ended=started + 30.0 * done if finished else None,
            # running runs name a live pid (this test process) so liveness.effective_status keeps them running
            pid=os.getpid() if status == "running" else None,
            host="fixed-host" if status != "running" else host_name(),
            device=None if status == "queued" else "cpu",
            epochs=epochs,
            error="RuntimeError: diverged" if status == "failed" else None,
        ),
    )
    with open(d / "metrics.jsonl", "w", encoding="utf-8") as fh:
        for e in range(1, done + 1):
            line = {"type": "epoch", "epoch": e, "epochs": epochs, **_curve(e, epochs, lr)}
            line.update({"lr": lr, "seconds": 30.0, "time": started + 30.0 * e})
            fh.write(json.dumps(line) + "\n")
        for _ in range(garbage):
            fh.write("this is not json\n")
        if progress:
            fh.write(
                json.dumps(
                    {
                        "type": "progress",
                        "epoch": done + 1,
                        "epochs": epochs,
                        "batch": progress[0],
                        "batches": progress[1],
                        "loss": 0.6,
                        "acc": 0.8,
                        "time": started,
                    }
                )
                + "\n"
            )
    (d / "train.log").write_text(f"[fixed] {name}: {done} of {epochs} epochs\n", encoding="utf-8")
    if status == "done":
        vals = [_curve(e, epochs, lr)["val_acc"] for e in range(1, done + 1)]
        best = max(range(done), key=lambda i: vals[i])
        write_result(
            d,
            {
                "test_loss": 0.31,
                "test_acc": round(vals[best] - 0.01, 4),
                "best_epoch": best + 1,
                "best_val_acc": vals[best],
                "total_seconds": 30.0 * done,
                "params": 235146,
            },
        )
    return d


def write_fixed_runs(runs_dir: Path) -> list[str]:
    """Five runs in every state; the same bytes on every machine."""
    make_fixed_run(runs_dir, "20260101-000000-mlp-baseline-aaaa", "mlp-baseline", "done", epochs=10, done=10)
    make_fixed_run(
        runs_dir,
        "20260101-000100-lr-0.1-bbbb",
        "lr-0.1",
        "done",
        epochs=10,
        done=10,
        study="LR sweep",
        lr=0.1,
    )
    make_fixed_run(
        runs_dir,
        "20260101-000200-lr-0.5-cccc",
        "lr-0.5",
        "failed",
        epochs=10,
        done=3,
        study="LR sweep",
        lr=0.5,
        garbage=2,
    )
    make_fixed_run(
        runs_dir,
        "20260101-000300-lr-0.05-dddd",
        "lr-0.05",
        "running",
        epochs=10,
        done=6,
        study="LR sweep",
        lr=0.05,
        progress=(30, 100),
        started=FIXED_NOW - 200,
    )
    make_fixed_run(
        runs_dir,
        "20260101-000400-lr-1.0-eeee",
        "lr-1.0",
        "queued",
        epochs=10,
        done=0,
        study="LR sweep",
        lr=1.0,
    )
    return sorted(p.name for p in runs_dir.iterdir())


# ---------------------------------------------------------------------- pilot helpers


async def wait_for(pilot: Any, cond: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Let the app run until ``cond()`` holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or cond}")
        await pilot.pause(0.05)


async def put_tree_cursor(pilot: Any, app: Any, node: Any) -> None:
    """Focus the configs tree and put its cursor on ``node``, as arrow keys would.

    Textual lays the tree's lines out lazily (on idle): until then every node's ``line`` is -1 and
    ``move_cursor`` would silently move nowhere, which a loaded CI box hits. So wait for the layout,
    move, and wait until the tree reports the node under its cursor.
    """
    app.tree.focus()
    await wait_for(pilot, lambda: node.line >= 0, 10, "the configs tree laid out")
    app.tree.move_cursor(node)
    await wait_for(pilot, lambda: app.tree.cursor_node is node, 10, "the tree cursor on the node")


def fixed_runs_app(runs_dir: Path, configs_dir: Path) -> Any:
    """The app on the five fixed runs (written here unless the test wrote runs already), with the
    fixed clock, no GPU and no scheduler, polling every 0.1 s."""
    from tui.app import make_app

    if not any(runs_dir.iterdir()):
        write_fixed_runs(runs_dir)
    return make_app(
        runs_dir,
        configs_dir,
        poll_interval=0.1,
        gpu_stats=lambda: [],
        clock=lambda: FIXED_NOW,
        start_scheduler=False,
    )


def run_pilot(app: Any, body: Callable[[Any], Awaitable[None]], size: tuple[int, int] = (140, 40)) -> None:
    """Run ``body(pilot)`` against a headless ``app`` (plain ``def`` tests, no asyncio plugin)."""

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, app.first_poll_done.is_set, 10, "the first poll")
            await body(pilot)

    asyncio.run(main())


async def open_launch_dialog(pilot: Any, app: Any, timeout: float = 30.0) -> Any:
    """Put the configs tree's cursor on the first study, press ``s`` and wait for the launch
    dialog and its plan; returns the dialog (a :class:`tui.launch.LaunchScreen`)."""
    from tui.launch import LaunchScreen

    await wait_for(pilot, app.configs_loaded.is_set, 20, "configs")
    node = next((n for n in tree_nodes(app) if n.data is not None and n.data.kind == "study"), None)
    assert node is not None, "no study in the configs tree"
    await put_tree_cursor(pilot, app, node)
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen), 10, "the launch dialog")
    screen = app.screen
    assert isinstance(screen, LaunchScreen)
    await wait_for(pilot, lambda: bool(screen.plan_text), timeout, "the plan")
    return screen


def tree_nodes(app: Any) -> list[Any]:
    """Every node of the configs tree, the root first."""
    out, stack = [], [app.tree.root]
    while stack:
        node = stack.pop(0)
        out.append(node)
        stack.extend(node.children)
    return out
