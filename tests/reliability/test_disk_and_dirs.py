"""A runs dir that cannot be written, and a disk that fills up: one clear line, nothing half-written.

Tests run as root, so ``chmod 0555`` proves nothing (root writes anyway). These use failures that
bind root too:

* ``$HW2_RUNS_DIR`` under a regular *file* (ENOTDIR) or inside ``/proc`` (ENOENT on mkdir);
* ``RLIMIT_FSIZE`` on the writing process — a real ``EFBIG`` from ``write(2)`` once a file would
  grow past the limit, which is exactly what a full disk looks like to the writer (Python ignores
  SIGXFSZ, so the write fails instead of killing the process).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hw2 import contract
from tests.conftest import PROJECT_ROOT
from tests.reliability.conftest import (
    Reaper,
    all_final,
    cli,
    enqueue_config,
    one_line_error,
    wait_until,
    write_fake_config,
)

pytestmark = pytest.mark.usefixtures("fake_env")


def fsize_limit(n: int) -> Callable[[], None]:
    """A ``preexec_fn`` that caps the size of any file the child writes at ``n`` bytes."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))

    return apply


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def _bad_runs_dirs(tmp_path: Path) -> list[Path]:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    return [blocker / "runs", Path(f"/proc/hw2-{time.time_ns()}/runs")]


@pytest.mark.parametrize("where", ["under-a-file", "in-proc"])
def test_unusable_runs_dir_is_one_clear_line(where: str, tmp_path: Path, fake_env: dict[str, str]) -> None:
    bad = _bad_runs_dirs(tmp_path)[0 if where == "under-a-file" else 1]
    cfg = write_fake_config(tmp_path / "configs", "nowhere", epochs=1)
    env = {**fake_env, "HW2_RUNS_DIR": str(bad)}
    for args in (
        ["run", str(cfg)],
        ["run", str(cfg), "--detach"],
        ["sweep", str(cfg), "--yes", "--detach"],
        ["scheduler", "start"],
        ["export", "--out", str(bad / "export")],
    ):
        msg = one_line_error(cli(*args, env=env))
        assert str(bad.parent) in msg or "runs dir" in msg, (args, msg)
        assert "fix:" in msg or "No such file" in msg or "Not a directory" in msg, (args, msg)
    assert not bad.exists()


def _atomic_write_under_limit(target: Path, payload: dict[str, object], limit: int, what: str) -> str:
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from hw2 import contract\n"
        "target, what = Path(sys.argv[1]), sys.argv[2]\n"
        "data = json.loads(sys.argv[3])\n"
        "try:\n"
        "    if what == 'result':\n"
        "        contract.write_result(target.parent, data)\n"
        "    else:\n"
        "        contract.atomic_write_json(target, data)\n"
        "except OSError as exc:\n"
        "    print(exc.errno)\n"
        "    raise SystemExit(3)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(target), what, json.dumps(payload)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=fsize_limit(limit),
    )
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    return proc.stdout.strip()


@pytest.mark.parametrize("what", ["meta", "result"])
def test_disk_full_leaves_the_old_file_whole_and_no_temp(what: str, runs_dir: Path) -> None:
    import errno

    d = runs_dir / "20260101-000000-x-0000"
    d.mkdir()
    target = d / (contract.META_FILE if what == "meta" else contract.RESULT_FILE)
    old = {
        "run_id": d.name,
        "name": "x",
        "status": "done",
        "test_loss": 0.1,
        "test_acc": 0.9,
        "best_epoch": 1,
        "best_val_acc": 0.9,
        "total_seconds": 1.0,
        "params": 10,
    }
    contract.atomic_write_json(target, old)
    before = target.read_bytes()
    big = {**old, "padding": "y" * 20_000}  # larger than the limit: the write fails part-way
    err = _atomic_write_under_limit(target, big, 4096, what)
    assert err == str(errno.EFBIG)
    assert target.read_bytes() == before, "the old file was damaged"
    assert json.loads(target.read_text()) == old
    assert _temp_files(d) == [], "a temp file was left behind"


def test_export_on_a_full_disk_keeps_the_previous_export(
    runs_dir: Path, tmp_path: Path, reaper: Reaper, fake_env: dict[str, str]
) -> None:
    cfg = write_fake_config(tmp_path / "configs", "exp", epochs=2, batches=2)
    enqueue_config(runs_dir, cfg)
    assert cli("scheduler", "start", "--runs-dir", str(runs_dir)).returncode == 0
    wait_until(lambda: all_final(runs_dir), 60, "the first run")
    out = tmp_path / "export"
    assert cli("export", "--out", str(out), "--runs-dir", str(runs_dir)).returncode == 0
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(old) == {"results.csv", "metrics.csv"}

    for i in range(3):  # more runs: the next export is larger than the limit below
        enqueue_config(runs_dir, write_fake_config(tmp_path / "configs", f"exp-{i}", epochs=6, batches=1))
    assert cli("scheduler", "start", "--runs-dir", str(runs_dir)).returncode == 0
    wait_until(lambda: all_final(runs_dir), 60, "the other runs")
    limit = max(len(b) for b in old.values()) + 64
    msg = one_line_error(
        cli("export", "--out", str(out), "--runs-dir", str(runs_dir), preexec_fn=fsize_limit(limit))
    )
    assert "File too large" in msg and str(out) in msg, msg
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old, "the previous export was damaged"


def test_disk_full_while_queueing_leaves_no_half_made_run(
    runs_dir: Path, tmp_path: Path, fake_env: dict[str, str]
) -> None:
    cfg = write_fake_config(tmp_path / "configs", "tiny-disk", epochs=1)
    msg = one_line_error(
        cli("run", str(cfg), "--detach", "--runs-dir", str(runs_dir), preexec_fn=fsize_limit(100))
    )
    assert "cannot write run folder" in msg and "File too large" in msg, msg
    assert [p.name for p in runs_dir.iterdir() if not p.name.startswith(".")] == [], "a half-made run is left"


def test_disk_full_during_training_fails_the_run_cleanly(
    runs_dir: Path, tmp_path: Path, reaper: Reaper, fake_env: dict[str, str]
) -> None:
    """The trainer hits EFBIG on metrics.jsonl: the run is ``failed`` with the reason, meta.json
    is whole, no result.json, no temp file; readers skip the torn last line; the CLI says one line."""
    cfg = write_fake_config(tmp_path / "configs", "full-disk", epochs=100, batches=50)
    proc = cli(
        "run",
        str(cfg),
        "--runs-dir",
        str(runs_dir),
        env={"HW2_FAKE_SLEEP": "0.001"},
        preexec_fn=fsize_limit(16 * 1024),
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "failed: OSError: [Errno 27] File too large" in last, proc.stderr
    (d,) = contract.list_run_dirs(runs_dir)
    meta = json.loads((d / contract.META_FILE).read_text())  # whole, valid JSON
    assert meta["status"] == "failed" and meta["exit_code"] == 1
    assert meta["error"] == "OSError: [Errno 27] File too large"
    assert not (d / contract.RESULT_FILE).exists()
    assert _temp_files(runs_dir) == []
    raw = (d / contract.METRICS_FILE).read_bytes()
    assert len(raw) == 16 * 1024 and not raw.endswith(b"\n")  # the torn line the disk cut
    ls = cli("ls", "--json", "--runs-dir", str(runs_dir))
    assert ls.returncode == 0, ls.stderr
    (row,) = json.loads(ls.stdout)
    assert row["status"] == "failed" and row["error"] == meta["error"]
    log = (d / contract.LOG_FILE).read_text()
    assert "Traceback" in log and "File too large" in log
