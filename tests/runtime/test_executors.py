"""The executor interface (:mod:`hw2.executors`): a third executor is one module plus one registry
line, and the CLI then launches, requeues and kills through it; the local scheduler leaves its runs
alone.

The third executor here is real, if small: ``inline`` keeps submitted runs queued until the test
drains it, then runs them in this process (the real launcher, harness and fake trainer). This module is its
"one module"; ``executors.REGISTRY["inline"] = __name__`` (set by a fixture) is its registry line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from hw2 import cli, contract, daemon, executors, launch, queue
from hw2.contract import RunMeta
from hw2.executors import ExecutorError, Submitted, local
from hw2.runs import lifecycle
from hw2.runs.readers import list_runs
from tests.runtime.conftest import WriteConfig, wait_for

NAME = "inline"


class InlineExecutor:
    """A batch system in miniature: submitted runs wait (queued) until :meth:`drain` runs them, one
    after another, in this process (the real launcher and harness, the fake trainer)."""

    name = NAME
    where = " inline"
    foreground = False

    def __init__(self) -> None:
        self.pending: list[tuple[Path, str]] = []

    def submit(self, runs_dir: Path, run_ids: Sequence[str], settings: Any = None) -> Submitted:
        self.pending += [(Path(runs_dir), run_id) for run_id in run_ids]
        return Submitted(list(run_ids), f"handed {len(run_ids)} run(s) to the inline executor")

    def drain(self) -> None:
        while self.pending:
            runs_dir, run_id = self.pending.pop(0)
            path = contract.run_path(runs_dir, run_id)
            with launch.queue_lock(runs_dir):
                meta = contract.read_meta(path)
                if meta is None or meta.status != "queued":
                    continue  # killed meanwhile
                proc = launch.start_trainer(path, meta, cuda_visible_devices="", launched_by=NAME)
            proc.wait(timeout=120)

    def kill(self, runs_dir: Path, run_id: str) -> bool:
        with launch.queue_lock(runs_dir):
            return lifecycle.cancel_queued(contract.run_path(runs_dir, run_id))

    def requeue(self, runs_dir: Path, run_id: str) -> str:
        new_id = queue.requeue(runs_dir, run_id, extra=executors.meta_extra(NAME))
        self.submit(runs_dir, [new_id])
        return new_id

    def resume(self, runs_dir: Path, run_id: str, *, force: bool = False) -> str:
        executors.reopen(runs_dir, run_id, force)
        self.submit(runs_dir, [run_id])
        return f"resumed {run_id}"

    def describe(self, meta: RunMeta) -> str | None:
        return "waiting inline" if meta.status == "queued" else None

    def plan(self, runs_dir: Path, settings: Any) -> executors.Placement:
        return executors.Placement(NAME, 1, "cpu", "this process")


EXECUTOR = InlineExecutor()


@pytest.fixture
def inline_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(executors.REGISTRY, NAME, __name__)  # the one registry line
    monkeypatch.setattr(EXECUTOR, "pending", [])


def _meta(runs_dir: Path, run_id: str) -> RunMeta:
    meta = contract.read_meta(runs_dir / run_id)
    assert meta is not None
    return meta


def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_registry_names_local_then_slurm_and_each_module_defines_its_executor() -> None:
    assert executors.names()[:2] == (executors.LOCAL, executors.SLURM)
    for name in executors.names():
        assert executors.get(name).name == name
    assert executors.get(None).name == executors.LOCAL
    with pytest.raises(ExecutorError, match=r"unknown executor 'nope'; fix: use one of local, slurm"):
        executors.get("nope")


def test_a_third_executor_runs_kills_and_requeues_through_the_cli(
    inline_registered: None, runs_dir: Path, write_config: WriteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config("third", epochs=2, batches=2)
    code, out, err = _run_cli(["run", str(cfg), "--executor", NAME, "--runs-dir", str(runs_dir)], capsys)
    assert code == cli.EXIT_OK, err
    [run_id] = out.split()
    assert "handed 1 run(s) to the inline executor" in err
    meta = _meta(runs_dir, run_id)
    assert meta.status == "queued" and meta.extra["executor"] == NAME
    assert EXECUTOR.pending == [(runs_dir, run_id)]
    assert executors.of_run(meta).describe(meta) == "waiting inline"
    assert not (runs_dir / daemon.SCHEDULER_INFO).exists()  # the local scheduler was never asked

    code, out, err = _run_cli(["kill", run_id, "--runs-dir", str(runs_dir)], capsys)  # its kill
    assert code == cli.EXIT_OK, err
    assert _meta(runs_dir, run_id).status == "killed"

    code, out, err = _run_cli(["requeue", run_id, "--runs-dir", str(runs_dir)], capsys)  # its requeue
    assert code == cli.EXIT_OK, err
    [new_id] = out.split()
    new = _meta(runs_dir, new_id)
    assert new.status == "queued" and new.extra["executor"] == NAME and new.extra["requeued_from"] == run_id
    assert new.attempt == 2

    EXECUTOR.drain()  # the killed run is skipped; the requeued one runs to its end
    assert _meta(runs_dir, run_id).status == "killed"
    done = _meta(runs_dir, new_id)
    assert done.status == "done" and done.extra["launched_by"] == NAME
    [summary] = [s for s in list_runs(runs_dir, use_cache=False) if s.run_id == new_id]
    assert summary.epochs_done == 2
    assert not (runs_dir / daemon.SCHEDULER_INFO).exists()


def test_an_unregistered_executor_is_refused_in_one_line(
    runs_dir: Path, write_config: WriteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config("third", epochs=1, batches=1)
    with pytest.raises(SystemExit):  # argparse: --executor's choices are the registry's names
        cli.main(["run", str(cfg), "--executor", NAME, "--runs-dir", str(runs_dir)])
    assert f"invalid choice: '{NAME}'" in capsys.readouterr().err


def test_the_local_scheduler_never_launches_another_executors_run(
    inline_registered: None, runs_dir: Path, write_config: WriteConfig
) -> None:
    from hw2.config import expand_study

    [planned] = expand_study(write_config("mine", epochs=1, batches=1))
    theirs = queue.create_run(runs_dir, planned, extra=executors.meta_extra(NAME))
    mine = queue.create_run(runs_dir, planned)
    executors.get(NAME).submit(runs_dir, [theirs])
    executors.get(executors.LOCAL).submit(runs_dir, [mine])
    assert wait_for(lambda: _meta(runs_dir, mine).status == "done", timeout=60)
    assert wait_for(lambda: not daemon.scheduler_lock_held(runs_dir), timeout=60)  # it exits: nothing left
    assert _meta(runs_dir, theirs).status == "queued"
    with pytest.raises(queue.QueueError, match=f"is a {NAME} run; kill it through its executor"):
        local.kill_run(runs_dir, theirs)
    assert executors.of_run(_meta(runs_dir, theirs)).kill(runs_dir, theirs) is True  # its own kill
    assert _meta(runs_dir, theirs).status == "killed"
