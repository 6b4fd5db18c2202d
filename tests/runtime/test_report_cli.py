"""``hw2-tui report`` end to end on the fake trainer: sweep a two-variant study with two seeds each,
then write its report; every file is there, the tables hold the runs, regenerating is idempotent."""

from __future__ import annotations

import csv
from pathlib import Path

import yaml

from tests.runtime.conftest import WriteConfig
from tests.runtime.test_cli import cli


def _study(write_config: WriteConfig) -> Path:
    base = write_config("fake-base", epochs=3, batches=2)
    study = base.parent / "study.yaml"
    study.write_text(
        yaml.safe_dump(
            {
                "study": "9.9 Fake learning rates",
                "description": "Answers nothing: a test study.",
                "base": base.name,
                "variants": [
                    {"name": "fast", "set": {"optimizer.lr": 0.1}},
                    {"name": "slow", "set": {"optimizer.lr": 0.001}},
                ],
                "repeat": 2,
            },
            sort_keys=False,
        )
    )
    return study


def test_report_of_a_swept_study(runs_dir: Path, write_config: WriteConfig, tmp_path: Path) -> None:
    study = _study(write_config)
    swept = cli("sweep", str(study), "--yes", runs_dir=runs_dir, timeout=240)
    assert swept.returncode == 0, swept.stderr
    out = tmp_path / "report"
    proc = cli("report", str(study), "--out", str(out), runs_dir=runs_dir, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert f"{out / 'report.md'}  (2 variant(s), complete)" in proc.stdout
    names = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    assert names == {
        "figure.png",
        "figure.pdf",
        "report.md",
        "report.tex",
        "runs.csv",
        "metrics.csv",
        "environment.md",
    }
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# 9.9 Fake learning rates\n")
    rows = [ln for ln in md.splitlines() if ln.startswith("| fast |") or ln.startswith("| slow |")]
    assert len(rows) == 2 and all("| 2/2 |" in r for r in rows), rows
    assert "slow vs fast:" in md and "![" in md
    with open(out / "runs.csv", encoding="utf-8") as fh:
        runs = list(csv.DictReader(fh))
    assert len(runs) == 4 and {r["variant"] for r in runs} == {"fast", "slow"}
    with open(out / "metrics.csv", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 4 * 3  # one row per run and epoch
    before = {n: (out / n).read_bytes() for n in ("report.md", "report.tex", "figure.png", "figure.pdf")}
    again = cli("report", str(study), "--out", str(out), runs_dir=runs_dir, timeout=240)
    assert again.returncode == 0, again.stderr
    assert {n: (out / n).read_bytes() for n in before} == before, "regenerating changed the report"


def test_report_of_an_unlaunched_study_says_what_is_missing(
    runs_dir: Path, write_config: WriteConfig, tmp_path: Path
) -> None:
    study = _study(write_config)
    proc = cli("report", str(study), "--out", str(tmp_path / "r"), runs_dir=runs_dir)
    assert proc.returncode == 0, proc.stderr
    assert "partial: no runs of this study were found" in proc.stdout
    assert "no runs of this study were found" in (tmp_path / "r" / "report.md").read_text(encoding="utf-8")


def test_report_of_an_experiment_is_a_one_line_error(runs_dir: Path, write_config: WriteConfig) -> None:
    proc = cli("report", str(write_config("lonely")), runs_dir=runs_dir)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("hw2-tui: error:") and "not a study" in proc.stderr
