"""The headless CLI, run as a real process (``python -m hw2.cli``) against the fake trainer."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hw2 import contract, daemon, queue
from tests.conftest import PROJECT_ROOT
from tests.runtime.conftest import WriteConfig, all_final, statuses, wait_for


def cli(*args: str, timeout: float = 90, runs_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--runs-dir", str(runs_dir)] if runs_dir is not None else []
    return subprocess.run(
        [sys.executable, "-m", "hw2.cli", *extra, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "250"},
    )


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("hw2-tui: error: "), proc.stderr
    return last


def _study(tmp_path: Path, base: Path, variants: list[dict[str, object]]) -> Path:
    path = tmp_path / "configs" / "study.yaml"
    path.write_text(
        yaml.safe_dump({"study": "Fake study", "base": base.name, "variants": variants}, sort_keys=False)
    )
    return path


def test_version_and_help() -> None:
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("hw2-tui ")
    for cmd in ("run", "sweep", "ls", "export", "kill", "requeue", "validate", "data", "scheduler"):
        h = cli(cmd, "--help")
        assert h.returncode == 0 and h.stdout.startswith("usage: hw2-tui " + cmd), h.stdout


def test_run_foreground_done_exits_zero(runs_dir: Path, write_config: WriteConfig) -> None:
    proc = cli("run", str(write_config("fg", epochs=2, batches=4)), runs_dir=runs_dir)
    assert proc.returncode == 0, proc.stderr
    [rid] = statuses(runs_dir)
    assert statuses(runs_dir)[rid] == "done"
    result = contract.read_result(runs_dir / rid)
    assert f"test_acc {result['test_acc']:.4f}" in proc.stdout
    assert "epoch 2/2" in proc.stdout
    meta = contract.read_meta(runs_dir / rid)
    assert meta.extra["launched_by"] == "cli" and meta.exit_code == 0


def test_run_foreground_with_set_override(runs_dir: Path, write_config: WriteConfig) -> None:
    proc = cli("run", str(write_config("fg-set")), "--set", "train.epochs=1", runs_dir=runs_dir)
    assert proc.returncode == 0, proc.stderr
    [rid] = statuses(runs_dir)
    assert contract.read_meta(runs_dir / rid).epochs == 1
    assert yaml.safe_load((runs_dir / rid / contract.CONFIG_FILE).read_text())["train"]["epochs"] == 1


def test_run_foreground_failure_exits_nonzero_with_error(runs_dir: Path, write_config: WriteConfig) -> None:
    proc = cli("run", str(write_config("fg-fail", model="fail")), runs_dir=runs_dir)
    assert proc.returncode == 1
    assert "failed: RuntimeError: fake failure at epoch 1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_run_foreground_ctrl_c_kills_the_run(runs_dir: Path, write_config: WriteConfig) -> None:
    cfg = write_config("fg-int", epochs=100, batches=50)
    p = subprocess.Popen(
        [sys.executable, "-m", "hw2.cli", "--runs-dir", str(runs_dir), "run", str(cfg)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(
            lambda: any((d / contract.METRICS_FILE).exists() for d in contract.list_run_dirs(runs_dir)), 30
        )
        p.send_signal(signal.SIGINT)
        _out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    [rid] = statuses(runs_dir)
    assert statuses(runs_dir)[rid] == "killed"
    assert "killed" in err


def test_run_detach_survives_the_cli(runs_dir: Path, write_config: WriteConfig) -> None:
    cfg = write_config("detached", epochs=2, batches=20, model="slow")  # about 2 s of batches
    t0 = time.monotonic()
    proc = cli("run", str(cfg), "--detach", runs_dir=runs_dir)
    assert proc.returncode == 0, proc.stderr
    rid = proc.stdout.strip()
    assert (runs_dir / rid / contract.META_FILE).is_file()
    # the CLI has exited; the run was not finished yet ...
    assert statuses(runs_dir)[rid] in ("queued", "running")
    assert time.monotonic() - t0 < 30
    # ... and the detached scheduler, in its own session, carries it to the end
    assert wait_for(lambda: all_final(runs_dir), timeout=60)
    assert statuses(runs_dir)[rid] == "done"
    log = runs_dir / daemon.SCHEDULER_LOG
    assert wait_for(lambda: f"{rid}: exited with 0 -> done" in log.read_text(), timeout=10)
    assert f"{rid}: started pid" in log.read_text()


def test_sweep_detach_queues_all_runs(runs_dir: Path, write_config: WriteConfig, tmp_path: Path) -> None:
    base = write_config("base", epochs=1, batches=3)
    study = _study(tmp_path, base, [{"name": "a"}, {"name": "b", "set": {"optimizer.lr": 0.1}}])
    proc = cli("sweep", str(study), "--detach", "--yes", runs_dir=runs_dir)
    assert proc.returncode == 0, proc.stderr
    ids = proc.stdout.split()
    assert len(ids) == 2 and set(ids) == set(statuses(runs_dir))
    assert wait_for(lambda: all_final(runs_dir), timeout=60)
    assert set(statuses(runs_dir).values()) == {"done"}
    metas = [contract.read_meta(runs_dir / r) for r in ids]
    assert {m.study for m in metas} == {"Fake study"}
    lrs = sorted(
        yaml.safe_load((runs_dir / r / contract.CONFIG_FILE).read_text())["optimizer"]["lr"] for r in ids
    )
    assert lrs == [0.01, 0.1]


def test_sweep_follow_exit_code_reflects_failures(
    runs_dir: Path, write_config: WriteConfig, tmp_path: Path
) -> None:
    base = write_config("base2", epochs=2, batches=3)
    study = _study(tmp_path, base, [{"name": "ok"}, {"name": "bad", "set": {"model.name": "fail"}}])
    proc = cli("sweep", str(study), "--yes", runs_dir=runs_dir)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("Fake study: all 2 runs ended · 1 done, 1 failed · in ")
    assert sorted(statuses(runs_dir).values()) == ["done", "failed"]


def test_sweep_without_yes_when_not_interactive(runs_dir: Path, write_config: WriteConfig) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hw2.cli", "--runs-dir", str(runs_dir), "sweep", str(write_config("x"))],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert "--yes" in _one_line_error(proc)
    assert statuses(runs_dir) == {}


def _finish_two_runs(runs_dir: Path, write_config: WriteConfig) -> list[str]:
    ok = cli("run", str(write_config("good", epochs=3, batches=2)), runs_dir=runs_dir)
    bad = cli(
        "run", str(write_config("broken", epochs=3, model="fail")), "--set", "seed=5", runs_dir=runs_dir
    )
    assert (ok.returncode, bad.returncode) == (0, 1)
    # Tell the two apart by name, not by sorting ids: both may be created in the same second.
    by_name = {contract.read_meta(runs_dir / rid).name: rid for rid in statuses(runs_dir)}
    return [by_name["good"], by_name["broken"]]


def test_ls_and_export(runs_dir: Path, write_config: WriteConfig, tmp_path: Path) -> None:
    """One pair of finished runs (done + failed) feeds both ``ls`` and ``export`` checks."""
    good, bad = _finish_two_runs(runs_dir, write_config)
    _check_ls(runs_dir, good, bad)
    _check_export(runs_dir, good, bad, tmp_path / "out")


def _check_ls(runs_dir: Path, good: str, bad: str) -> None:
    proc = cli("ls", "--json", runs_dir=runs_dir)
    assert proc.returncode == 0
    rows = {r["run_id"]: r for r in json.loads(proc.stdout)}
    assert rows[good]["status"] == "done" and rows[good]["epoch"] == 3 and rows[good]["epochs"] == 3
    assert rows[good]["test_acc"] == contract.read_result(runs_dir / good)["test_acc"]
    assert rows[bad]["status"] == "failed" and "fake failure" in rows[bad]["error"]
    table = cli("ls", runs_dir=runs_dir)
    assert table.returncode == 0 and good in table.stdout and bad in table.stdout and "3/3" in table.stdout
    only = json.loads(cli("ls", "--json", "--status", "failed", runs_dir=runs_dir).stdout)
    assert [r["run_id"] for r in only] == [bad]


def _check_export(runs_dir: Path, good: str, bad: str, out: Path) -> None:
    proc = cli("export", "--out", str(out), runs_dir=runs_dir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(out / "results.csv"), str(out / "metrics.csv")]
    with open(out / "results.csv", newline="") as fh:
        rows = {r["run_id"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {good, bad}
    res = contract.read_result(runs_dir / good)
    g = rows[good]
    for key in ("test_acc", "test_loss", "best_val_acc", "total_seconds"):
        assert float(g[key]) == res[key]
    assert int(g["best_epoch"]) == res["best_epoch"] and int(g["params"]) == res["params"]
    assert g["status"] == "done" and g["epochs"] == "3/3" and g["trainer"] == "fake" and g["device"] == "cpu"
    assert g["cfg.train.epochs"] == "3" and g["cfg.model.name"] == "fake" and g["cfg.optimizer.lr"] == "0.01"
    assert rows[bad]["status"] == "failed" and rows[bad]["test_acc"] == "" and rows[bad]["cfg.seed"] == "5"
    assert rows[bad]["epochs"] == "0/3"
    with open(out / "metrics.csv", newline="") as fh:
        mrows = list(csv.DictReader(fh))
    epochs = [
        x for x in contract.iter_metrics(runs_dir / good / contract.METRICS_FILE) if x["type"] == "epoch"
    ]
    assert len(mrows) == len(epochs) == 3  # the failed run has no epoch line
    for row, line in zip(mrows, epochs, strict=True):
        assert row["run_id"] == good and int(row["epoch"]) == line["epoch"]
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"):
            assert float(row[key]) == line[key]


def test_kill_and_requeue_commands(runs_dir: Path, write_config: WriteConfig) -> None:
    rid = queue.create_run(runs_dir, __import__("hw2.config").config.expand_study(write_config("k"))[0])
    proc = cli("kill", rid[-4:], runs_dir=runs_dir)  # a unique part of the id is enough
    assert proc.returncode == 0 and "killed (was queued)" in proc.stdout
    assert statuses(runs_dir)[rid] == "killed"
    again = cli("kill", rid, runs_dir=runs_dir)
    assert "not running" in _one_line_error(again)
    rq = cli("requeue", rid, runs_dir=runs_dir)
    assert rq.returncode == 0, rq.stderr
    new = rq.stdout.strip()
    assert contract.read_meta(runs_dir / new).extra["requeued_from"] == rid
    assert wait_for(lambda: statuses(runs_dir)[new] == "done", timeout=60)


def test_scheduler_status_and_stop_leave_runs_running(runs_dir: Path, write_config: WriteConfig) -> None:
    assert "not running" in cli("scheduler", "status", runs_dir=runs_dir).stdout
    proc = cli(
        "run", str(write_config("bg", epochs=3, batches=20, model="slow")), "--detach", runs_dir=runs_dir
    )
    rid = proc.stdout.strip()
    assert wait_for(lambda: statuses(runs_dir)[rid] == "running", timeout=30)
    st = cli("scheduler", "status", runs_dir=runs_dir)
    assert st.returncode == 0 and "scheduler: running" in st.stdout and "1 running" in st.stdout
    stop = cli("scheduler", "stop", runs_dir=runs_dir)
    assert "scheduler stopped" in stop.stdout
    assert "not running" in cli("scheduler", "status", runs_dir=runs_dir).stdout
    # the trainer was not a casualty: it finishes and records done on its own
    assert wait_for(lambda: statuses(runs_dir)[rid] != "running", timeout=60)
    assert statuses(runs_dir)[rid] == "done"


def test_validate_reports_errors_one_per_line(write_config: WriteConfig, tmp_path: Path) -> None:
    good = write_config("valid")
    bad = tmp_path / "configs" / "bad.yaml"
    bad.write_text("trainer: fake\nmodel: {name: x}\noptimizer:\n  lr: -1\n")
    ok = cli("validate", str(good))
    assert ok.returncode == 0 and "ok:" in ok.stdout
    proc = cli("validate", str(tmp_path / "configs"))
    assert proc.returncode == 1
    errors = [line for line in proc.stdout.splitlines() if not line.startswith("ok:")]
    assert len(errors) == 1 and errors[0].startswith(f"{bad}:4: optimizer.lr:"), proc.stdout
    missing = cli("validate", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1 and "no such file" in missing.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["frobnicate"], "invalid choice"),
        (["run"], "required"),
        (["run", "does/not/exist.yaml"], "no such config file"),
        (["kill", "nope-nope"], "no run matching"),
        (["ls", "--status", "weird"], "invalid choice"),
    ],
)
def test_misuse_is_one_line_and_nonzero(runs_dir: Path, args: list[str], needle: str) -> None:
    proc = cli(*args, runs_dir=runs_dir)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert needle in proc.stderr.strip().splitlines()[-1]


def test_bad_set_and_study_to_run_are_config_errors(
    runs_dir: Path, write_config: WriteConfig, tmp_path: Path
) -> None:
    cfg = write_config("s")
    assert "optimizer.lr" in _one_line_error(
        cli("run", str(cfg), "--set", "optimizer.lr=-3", runs_dir=runs_dir)
    )
    assert "--set" in _one_line_error(cli("run", str(cfg), "--set", "nonsense", runs_dir=runs_dir))
    study = _study(tmp_path, cfg, [{"name": "a"}, {"name": "b"}])
    assert "sweep" in _one_line_error(cli("run", str(study), runs_dir=runs_dir))
    assert statuses(runs_dir) == {}


def test_unwritable_runs_dir_is_one_line(tmp_path: Path, write_config: WriteConfig) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    for args in (["run", str(write_config("w"))], ["run", str(write_config("w")), "--detach"]):
        msg = _one_line_error(cli(*args, runs_dir=blocker / "runs"))
        assert "runs dir" in msg


def test_configs_dir_name_lookup(runs_dir: Path, write_config: WriteConfig, tmp_path: Path) -> None:
    write_config("by-name", epochs=1)
    proc = cli("--configs-dir", str(tmp_path / "configs"), "run", "by-name", "--detach", runs_dir=runs_dir)
    assert proc.returncode == 0, proc.stderr
    assert wait_for(lambda: all_final(runs_dir), timeout=60)


def _fabricated_run(runs_dir: Path, run_id: str, status: str, epochs: int, **meta: object) -> Path:
    d = runs_dir / run_id
    d.mkdir(parents=True)
    (d / contract.CONFIG_FILE).write_text("trainer: fake\nseed: 3\noptimizer: {name: sgd, lr: 0.05}\n")
    contract.write_meta(
        d,
        contract.RunMeta(
            run_id=run_id, name=run_id, status=status, trainer="fake", epochs=4, started=1000.0, **meta
        ),
    )
    with open(d / contract.METRICS_FILE, "w") as fh:
        for i in range(1, epochs + 1):
            fh.write(
                json.dumps({"type": "progress", "epoch": i, "epochs": 4, "batch": 1, "batches": 2}) + "\n"
            )
            fh.write(
                json.dumps(
                    {
                        "type": "epoch",
                        "epoch": i,
                        "epochs": 4,
                        "train_loss": 1 / i,
                        "train_acc": 0.5,
                        "val_loss": 0.9,
                        "val_acc": [0.5, 0.8, 0.7, 0.75][i - 1],
                        "lr": 0.05,
                        "seconds": 2.0,
                    }
                )
                + "\n"
            )
    return d


def test_ls_export_and_the_summary_agree(runs_dir: Path, tmp_path: Path) -> None:
    """One run with a result, one still running, one failed: `ls --json`, the export's
    results.csv and the run's summary show the same figures."""
    from hw2.runs.readers import load_run

    done = _fabricated_run(runs_dir, "20260101-000000-done-0001", "done", 4, ended=1009.6)
    contract.write_result(
        done,
        {
            "test_acc": 0.77,
            "test_loss": 0.6,
            "best_val_acc": 0.8,
            "best_epoch": 2,
            "total_seconds": 9.6,
            "params": 42,
        },
    )
    me = os.getpid()
    _fabricated_run(
        runs_dir,
        "20260101-000001-live-0002",
        "running",
        2,
        pid=me,
        pid_create_time=contract.process_create_time(me),
    )
    _fabricated_run(runs_dir, "20260101-000002-bad-0003", "failed", 1, ended=1003.0, error="boom")

    for attempt in ("cold", "warm"):  # the second pass reads the finished runs from the cache
        ls = cli("ls", "--json", runs_dir=runs_dir)
        assert ls.returncode == 0, ls.stderr
        rows = {r["run_id"]: r for r in json.loads(ls.stdout)}
        out = tmp_path / f"out-{attempt}"
        exp = cli("export", "--out", str(out), runs_dir=runs_dir)
        assert exp.returncode == 0, exp.stderr
        with open(out / "results.csv", newline="") as fh:
            csv_rows = {r["run_id"]: r for r in csv.DictReader(fh)}
        assert set(rows) == set(csv_rows) == {p.name for p in runs_dir.iterdir() if p.is_dir()}
        for run_id, row in rows.items():
            s = load_run(runs_dir / run_id).summary
            c = csv_rows[run_id]
            assert row["status"] == c["status"] == s.status
            assert row["epoch"] == s.epochs_done and c["epochs"] == f"{s.epochs_done}/{s.epochs_total}"
            for key, value in (
                ("best_val_acc", s.best_val_acc),
                ("best_epoch", s.best_epoch),
                ("test_acc", s.test_acc),
                ("val_acc", s.latest.val_acc),
                ("seconds_per_epoch", s.seconds_per_epoch),
            ):
                assert row[key] == value, (run_id, key)
                assert (c[key] == "") if value is None else (float(c[key]) == value), (run_id, key)
            assert c["cfg.optimizer.lr"] == "0.05" and c["cfg.seed"] == "3" and row["seed"] == s.seed == 3
            if s.status != "running":
                assert row["elapsed"] == pytest.approx(s.elapsed(time.time()))
    assert (
        rows["20260101-000000-done-0001"]["best_val_acc"],
        rows["20260101-000000-done-0001"]["test_acc"],
    ) == (
        0.8,
        0.77,
    )
    assert rows["20260101-000001-live-0002"]["status"] == "running"
    assert (
        rows["20260101-000002-bad-0003"]["error"] == "boom"
        and csv_rows["20260101-000002-bad-0003"]["error"] == "boom"
    )
    assert rows["20260101-000000-done-0001"]["elapsed"] == pytest.approx(9.6)


def _export_from(cwd: Path, runs_dir: Path, export_dir: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hw2.cli", "--runs-dir", str(runs_dir), "export"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "HW2_EXPORT_DIR": export_dir},
    )


def test_export_defaults_to_the_exports_folder(runs_dir: Path, tmp_path: Path) -> None:
    """Without --out: $HW2_EXPORT_DIR, else ./exports (the folder .gitignore and the TUI use)."""
    _fabricated_run(runs_dir, "20260101-000000-done-0001", "done", 1, ended=1001.0)
    proc = _export_from(tmp_path, runs_dir, "")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == str(Path("exports") / "results.csv")
    assert (tmp_path / "exports" / "results.csv").is_file()
    where = tmp_path / "somewhere"
    proc = _export_from(tmp_path, runs_dir, str(where))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(where / "results.csv"), str(where / "metrics.csv")]
