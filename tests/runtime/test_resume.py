"""Resume (issue 18 §3): a failed or killed run goes on in its own folder from its checkpoint.

Everything here runs for real through the CLI: the local scheduler daemon starts the trainers as
subprocesses, kills are real signals. The fake trainer (``HW2_FAKE_CHECKPOINT=1``) covers the
lifecycle, the metrics file and the refusals in seconds; the real trainers (base CNN, regularised
CNN, Keras MLP) on tiny fixture data, SIGKILLed in their third epoch of four and resumed, must end
with the per-epoch figures and test accuracy of the same config run without a break.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hw2 import contract, daemon
from tests.conftest import PROJECT_ROOT
from tests.data.fixtures import write_cifar_imagefolder, write_mnist_idx
from tests.runtime.conftest import WriteConfig, wait_for
from tests.trainers import recipes

LONG = 180.0  # a loaded 2-core CI box


def _cli(runs_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "hw2.cli", "--runs-dir", str(runs_dir), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    if check:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def _meta(runs_dir: Path, rid: str) -> contract.RunMeta:
    meta = contract.read_meta(runs_dir / rid)
    assert meta is not None
    return meta


def _final(runs_dir: Path, rid: str) -> contract.RunMeta:
    assert wait_for(lambda: _meta(runs_dir, rid).status in contract.FINAL_STATUSES, timeout=LONG)
    return _meta(runs_dir, rid)


def _lines(runs_dir: Path, rid: str, kind: str) -> list[dict[str, Any]]:
    return [x for x in contract.iter_metrics(runs_dir / rid / contract.METRICS_FILE) if x["type"] == kind]


def _row(runs_dir: Path, rid: str) -> dict[str, Any]:
    rows = json.loads(_cli(runs_dir, "ls", "--json").stdout)
    return next(r for r in rows if r["run_id"] == rid)


@pytest.fixture
def checkpointing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HW2_FAKE_CHECKPOINT", "1")


def _fail_at(runs_dir: Path, monkeypatch: pytest.MonkeyPatch, epoch: int) -> None:
    """Where the next fake runs fail: the scheduler daemon passes on its own environment, so wait
    for the current one to exit (idle) before the next one starts with this."""
    assert wait_for(lambda: not daemon.scheduler_lock_held(runs_dir), timeout=60)
    monkeypatch.setenv("HW2_FAKE_FAIL_AT_EPOCH", str(epoch))


def _killed_run(runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> str:
    """A 5-epoch fake run that SIGKILLs itself at the start of epoch 3 (checkpoint: epoch 2)."""
    _fail_at(runs_dir, monkeypatch, 3)
    cfg = write_config("rs", epochs=5, batches=3, model="sigkill")
    rid = _cli(runs_dir, "run", str(cfg), "--detach").stdout.split()[-1]
    meta = _final(runs_dir, rid)
    assert meta.status == "killed" and "SIGKILL" in (meta.error or ""), meta
    assert [e["epoch"] for e in _lines(runs_dir, rid, "epoch")] == [1, 2]
    return rid


@pytest.mark.usefixtures("checkpointing")
def test_a_killed_run_resumes_in_its_own_folder_with_each_epoch_once(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = _killed_run(runs_dir, write_config, monkeypatch)
    row = _row(runs_dir, rid)
    assert row["resumable"] is True and row["checkpoint_bytes"] > 0 and row["attempt"] == 1
    assert "killed · resumable" in _cli(runs_dir, "ls").stdout
    # What a kill can leave past the checkpoint: an epoch line written just before its checkpoint
    # was, and progress lines of the epoch cut off. Both are lost work, done again on resume.
    with open(runs_dir / rid / contract.METRICS_FILE, "a", encoding="utf-8") as fh:
        lost = {"type": "epoch", "epoch": 3, "epochs": 5, "train_loss": 9.0, "train_acc": 0.0}
        fh.write(json.dumps({**lost, "val_loss": 9.0, "val_acc": 0.0, "lr": 0.1, "seconds": 1.0}) + "\n")
        fh.write(json.dumps({"type": "progress", "epoch": 4, "epochs": 5, "batch": 1, "batches": 3}) + "\n")

    out = _cli(runs_dir, "resume", rid[-4:]).stdout  # a unique part of the id, as everywhere
    assert f"resumed {rid} (attempt 2)" in out
    meta = _final(runs_dir, rid)
    assert meta.status == "done", meta.error
    assert (meta.attempt, meta.extra["resumed"]) == (2, 1)
    epochs = _lines(runs_dir, rid, "epoch")
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4, 5]  # each once, the lost epoch 3 replaced
    assert all(e["train_loss"] != 9.0 for e in epochs)
    progress = _lines(runs_dir, rid, "progress")
    assert [p["epoch"] for p in progress].count(4) == 3  # the resumed epoch 4's three batches only
    log = (runs_dir / rid / contract.LOG_FILE).read_text(encoding="utf-8")
    assert "resume: attempt 2 queued, to go on from checkpoint.npz" in log
    assert "resume: metrics.jsonl cut back to epoch 2 (2 line(s) of the lost work after it dropped)" in log
    assert log.index("killed by SIGKILL") < log.index("resume: attempt 2") < log.index("resumed (1x)")
    row = _row(runs_dir, rid)
    assert (row["status"], row["resumable"], row["resumed"], row["epoch"]) == ("done", False, 1, 5)
    assert "done · resumed 1×" in _cli(runs_dir, "ls").stdout

    again = _cli(runs_dir, "resume", rid, check=False)
    assert again.returncode != 0
    assert f"run {rid} is done: only a failed or killed run resumes; fix: requeue it" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


@pytest.mark.usefixtures("checkpointing")
def test_resume_refuses_a_changed_config_or_trainer_code_unless_forced(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = _killed_run(runs_dir, write_config, monkeypatch)
    assert isinstance(_meta(runs_dir, rid).extra.get("trainer_code"), str)  # recorded by the harness

    # the trainers' code changed since the checkpoint
    contract.update_meta(runs_dir / rid, trainer_code="0123456789abcdef")
    refused = _cli(runs_dir, "resume", rid, check=False)
    assert refused.returncode != 0 and _meta(runs_dir, rid).status == "killed"
    assert (
        "the trainers' code changed since its checkpoint was written (code 0123456789abcdef" in refused.stderr
    )
    assert "fix: requeue it for a new run, or resume --force" in refused.stderr

    # its config.yaml changed (edited in the folder)
    cfg_file = runs_dir / rid / contract.CONFIG_FILE
    data = yaml.safe_load(cfg_file.read_text(encoding="utf-8"))
    data["optimizer"]["lr"] = 0.5
    cfg_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    refused = _cli(runs_dir, "resume", rid, check=False)
    assert refused.returncode != 0 and _meta(runs_dir, rid).status == "killed"
    assert f"run {rid}: config.yaml changed since the run started (config hash" in refused.stderr

    _cli(runs_dir, "resume", rid, "--force")
    meta = _final(runs_dir, rid)
    assert meta.status == "done" and meta.attempt == 2
    log = (runs_dir / rid / contract.LOG_FILE).read_text(encoding="utf-8")
    assert "(--force: config or code changed)" in log


@pytest.mark.usefixtures("checkpointing")
def test_requeue_failed_resumes_what_has_a_checkpoint_and_fresh_requeues(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = _killed_run(runs_dir, write_config, monkeypatch)
    # another config killed in its first epoch: no checkpoint, so it is requeued (a new run)
    _fail_at(runs_dir, monkeypatch, 1)
    cfg = write_config("rs-early", epochs=6, batches=3, model="sigkill")
    early = _cli(runs_dir, "run", str(cfg), "--detach").stdout.split()[-1]
    assert _final(runs_dir, early).status == "killed"
    assert contract.checkpoint_file(runs_dir / early) is None

    fresh_refused = _cli(runs_dir, "requeue", "--fresh", check=False)
    assert fresh_refused.returncode != 0 and "--fresh goes with --failed" in fresh_refused.stderr

    out = _cli(runs_dir, "requeue", "--failed").stdout
    assert f"{rid} (resumed)" in out and "requeued 1 and resumed 1 failed or killed run(s)" in out
    [new] = [d.name for d in contract.list_run_dirs(runs_dir) if d.name not in (rid, early)]
    assert _final(runs_dir, rid).status == "done"
    assert _final(runs_dir, new).status == "killed"  # a new run from epoch 1: killed there again
    assert _meta(runs_dir, new).extra["requeued_from"] == early

    # --fresh: a new run even for a run that could resume
    _fail_at(runs_dir, monkeypatch, 3)
    other = write_config("rs-other", epochs=4, batches=2, model="sigkill")
    killed = _cli(runs_dir, "run", str(other), "--detach").stdout.split()[-1]
    assert _final(runs_dir, killed).status == "killed" and contract.checkpoint_file(runs_dir / killed)
    out = _cli(runs_dir, "requeue", "--failed", "--fresh").stdout
    # rs-other (which could resume) and the killed-again rs-early: both as new runs
    assert "requeued 2 and resumed 0" in out and _meta(runs_dir, killed).status == "killed"
    froms = {contract.read_meta(d).extra.get("requeued_from") for d in contract.list_run_dirs(runs_dir)}  # type: ignore[union-attr]
    assert killed in froms and new in froms


@pytest.mark.usefixtures("checkpointing")
@pytest.mark.parametrize("auto", [False, True], ids=["resume-by-hand", "auto-resume"])
def test_a_run_lost_with_its_daemon_is_resumable(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch, auto: bool
) -> None:
    monkeypatch.setenv("HW2_FAKE_SLEEP", "0.2")  # 0.6 s per epoch: time to pull the plug
    cfg = write_config("lost", epochs=6, batches=3)
    rid = _cli(runs_dir, "run", str(cfg), "--detach").stdout.split()[-1]
    assert wait_for(lambda: contract.checkpoint_file(runs_dir / rid) is not None, timeout=LONG)
    # a reboot: the daemon and the trainer die at once, and nobody records anything
    daemon = (contract.read_json(runs_dir / ".scheduler.json") or {}).get("pid")
    trainer = _meta(runs_dir, rid).pid
    assert isinstance(daemon, int) and isinstance(trainer, int)
    os.kill(daemon, signal.SIGKILL)
    os.killpg(trainer, signal.SIGKILL)
    assert wait_for(lambda: not contract.pid_alive(daemon) and not contract.pid_alive(trainer), timeout=30)
    assert _meta(runs_dir, rid).status == "running"  # as the reboot left it
    if auto:
        monkeypatch.setenv("HW2_AUTO_RESUME", "1")

    _cli(runs_dir, "scheduler", "start")  # the next daemon finds the run gone
    if auto:  # failed for an instant, then queued again by the daemon itself
        assert wait_for(lambda: _meta(runs_dir, rid).status == "done", timeout=LONG), _meta(runs_dir, rid)
    meta = _final(runs_dir, rid)
    if not auto:
        assert meta.status == "failed" and meta.error == "process died without finishing (exit code unknown)"
        assert "failed · resumable" in _cli(runs_dir, "ls").stdout
        _cli(runs_dir, "resume", rid)
        meta = _final(runs_dir, rid)
    assert meta.status == "done" and meta.extra["resumed"] == 1, meta
    assert [e["epoch"] for e in _lines(runs_dir, rid, "epoch")] == [1, 2, 3, 4, 5, 6]
    log = (runs_dir / rid / contract.LOG_FILE).read_text(encoding="utf-8")
    assert ("by the scheduler ($HW2_AUTO_RESUME=1)" in log) == auto


# ----------------------------------------------------------------------------- the real trainers

EPOCHS = 4
KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr")

CNN_BASE: dict[str, Any] = {
    "trainer": "cnn",
    "model": {"name": "base"},
    "optimizer": {"name": "momentum", "lr": 0.01, "momentum": 0.9, "schedule": {"name": "cosine"}},
}
CNN_REGULARIZED: dict[str, Any] = {"trainer": "cnn", **recipes.CNN_REGULARIZED}
MLP: dict[str, Any] = {
    "trainer": "mlp",
    "model": {"name": "mlp", "hidden": [64, 32], "dropout": 0.3},
    "augment": {"enabled": True},
    "optimizer": {"name": "adam", "lr": 0.003, "schedule": {"name": "cosine", "warmup_epochs": 1}},
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CIFAR-10 (400 training images) and MNIST (2 000) laid out like the real data folder."""
    root = tmp_path_factory.mktemp("data")
    write_cifar_imagefolder(root / "cifar10", as_tar=True, ext="jpg", n_per_class=40, n_test_per_class=5)
    write_mnist_idx(root / "mnist", n_train=2000, n_test=200)
    return root


@pytest.mark.parametrize(
    "sections", [CNN_BASE, CNN_REGULARIZED, MLP], ids=["cnn-base", "cnn-regularized", "mlp"]
)
def test_a_sigkilled_run_resumed_ends_as_the_uninterrupted_run(
    runs_dir: Path,
    tmp_path: Path,
    data_dir: Path,
    sections: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HW2_OFFLINE", "1")
    monkeypatch.setenv("HW2_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    cfg: dict[str, Any] = {
        "name": f"resume-{sections['model']['name']}",
        "seed": 3,
        "data": {"val_split": 0.2},
        "train": {"epochs": EPOCHS, "batch_size": 16, "progress_every": 1},
        "perf": {"threads": 1},
        **sections,
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    run = ("run", str(path), "--data-dir", str(data_dir), "--detach")

    straight = _cli(runs_dir, *run).stdout.split()[-1]
    assert _final(runs_dir, straight).status == "done", _meta(runs_dir, straight).error
    want = _lines(runs_dir, straight, "epoch")
    assert [e["epoch"] for e in want] == list(range(1, EPOCHS + 1))

    broken = _cli(runs_dir, *run).stdout.split()[-1]

    def in_epoch_3() -> bool:
        return any(p["epoch"] == 3 for p in _lines(runs_dir, broken, "progress"))

    assert wait_for(in_epoch_3, timeout=LONG, interval=0.01), _meta(runs_dir, broken)
    pid = _meta(runs_dir, broken).pid
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    meta = _final(runs_dir, broken)
    assert meta.status == "killed" and "SIGKILL" in (meta.error or ""), meta
    assert contract.checkpoint_file(runs_dir / broken) is not None

    _cli(runs_dir, "resume", broken)
    meta = _final(runs_dir, broken)
    assert meta.status == "done" and meta.attempt == 2, meta.error
    got = _lines(runs_dir, broken, "epoch")
    assert [e["epoch"] for e in got] == list(range(1, EPOCHS + 1))  # each epoch once
    log = (runs_dir / broken / contract.LOG_FILE).read_text(encoding="utf-8")
    assert "resume: from checkpoint" in log  # it went on from the checkpoint, not from epoch 1
    for w, g in zip(want, got, strict=True):
        for key in KEYS:
            assert math.isclose(g[key], w[key], rel_tol=1e-6, abs_tol=1e-12), (
                w["epoch"],
                key,
                g[key],
                w[key],
            )
    a, b = contract.read_result(runs_dir / straight), contract.read_result(runs_dir / broken)
    assert a is not None and b is not None
    for key in ("test_loss", "test_acc", "best_epoch", "best_val_acc"):
        assert math.isclose(b[key], a[key], rel_tol=1e-6), (key, b[key], a[key])
    assert len({round(e["train_loss"], 9) for e in want}) == EPOCHS  # the figures moved
