"""Bad input end to end through ``hw2-tui``: one clear line and a non-zero exit, never a traceback.

The detailed tables live with their owners (tests/config for YAML, tests/data for datasets,
tests/runtime/test_cli.py for CLI misuse); this file drives the same classes of mistakes through
the real command line a user types, including the ``data check`` command.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tests.reliability.conftest import cli, one_line_error, write_fake_config

pytestmark = pytest.mark.usefixtures("fake_env")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["frobnicate"], "invalid choice"),
        (["run"], "required"),
        (["run", "missing/config.yaml"], "no such config file"),
        (["sweep", "missing/study.yaml", "--yes"], "no such config file"),
        (["kill", "no-such-run"], "no run matching"),
        (["requeue", "no-such-run"], "no run matching"),
        (["ls", "--status", "sleeping"], "invalid choice"),
        (["scheduler", "reboot"], "invalid choice"),
        (["data", "fetch"], "invalid choice"),
    ],
)
def test_cli_misuse(args: list[str], needle: str, runs_dir: Path) -> None:
    proc = cli(*args, "--runs-dir", str(runs_dir)) if args[0] not in ("frobnicate",) else cli(*args)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    assert needle in proc.stderr.strip().splitlines()[-1], proc.stderr


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (["nonsense"], "--set"),
        (["=1"], "--set"),
        (["optimizer.lr=-3"], "optimizer.lr"),
        (["optimizer.lr=fast"], "optimizer.lr"),
        (["train.epochs=0"], "train.epochs"),
        (["no_such_section.x=1"], "no_such_section"),
        (["optimizer.lr.deeper=1"], "optimizer.lr"),
    ],
)
def test_bad_set_is_one_line_and_queues_nothing(
    sets: list[str], needle: str, runs_dir: Path, tmp_path: Path
) -> None:
    cfg = write_fake_config(tmp_path / "configs", "setme")
    args = ["run", str(cfg), "--detach", "--runs-dir", str(runs_dir)]
    for s in sets:
        args += ["--set", s]
    msg = one_line_error(cli(*args))
    assert needle in msg, msg
    assert [p for p in runs_dir.iterdir() if not p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02binary\xff", ""),
        (b"name: [unclosed\n", "YAML"),
        (b"- just\n- a list\n", ""),
        (b"trainer: fake\nmodel: {name: x}\noptimizer: {lr: -1}\n", "optimizer.lr"),
    ],
    ids=["empty", "binary", "broken-yaml", "not-a-mapping", "bad-value"],
)
def test_bad_config_file_is_one_line_naming_the_file(
    content: bytes, needle: str, runs_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    for args in (
        ["run", str(path), "--detach"],
        ["sweep", str(path), "--yes", "--detach"],
        ["validate", str(path)],
    ):
        proc = cli(*args, "--runs-dir", str(runs_dir))
        assert proc.returncode != 0 and "Traceback" not in proc.stderr + proc.stdout, (args, proc.stderr)
        out = (proc.stderr if args[0] != "validate" else proc.stdout).strip().splitlines()
        line = out[0] if args[0] == "validate" else out[-1]
        assert str(path) in line and needle in line, (args, line)
    assert [p for p in runs_dir.iterdir() if not p.name.startswith(".")] == []


def _data_layouts(root: Path) -> dict[str, Path]:
    """Bad data dirs, one per class of mistake (no real data involved)."""
    missing = root / "does-not-exist"
    empty = root / "empty"
    empty.mkdir()
    wrong = root / "wrong-format"
    (wrong / "mnist").mkdir(parents=True)
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (wrong / "mnist" / f"{name}.gz").write_bytes(gzip.compress(b"<html>not an IDX file</html>"))
    (wrong / "cifar10").mkdir()
    (wrong / "cifar10" / "cifar10-jpeg.tar.gz").write_text("this is text, not a tar")
    corrupt = root / "corrupt"
    (corrupt / "cifar10").mkdir(parents=True)
    good_start = gzip.compress(b"\x00" * 100_000)
    (corrupt / "cifar10" / "cifar10-jpeg.tar.gz").write_bytes(good_start[: len(good_start) // 2])
    (corrupt / "mnist").mkdir()
    (corrupt / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(good_start[:50])
    return {"missing": missing, "empty": empty, "wrong-format": wrong, "corrupt-archive": corrupt}


@pytest.mark.parametrize("kind", ["missing", "empty", "wrong-format", "corrupt-archive"])
def test_data_check_reports_each_dataset_in_one_line(kind: str, tmp_path: Path, runs_dir: Path) -> None:
    d = _data_layouts(tmp_path)[kind]
    proc = cli("data", "check", "--runs-dir", str(runs_dir), env={"HW2_DATA_DIR": str(d), "HW2_OFFLINE": "1"})
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert [ln.split(":", 1)[0] for ln in lines] == ["MNIST", "CIFAR-10"], proc.stdout
    for ln in lines:
        assert ": error: " in ln and str(d) in ln, ln  # names the path it looked at
        if kind in ("missing", "empty"):
            assert "HW2_DATA_DIR" in ln, ln  # and says how to point at the data
