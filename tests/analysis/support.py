"""Helpers of the report tests: :func:`pdflatex_or_skip`, and :func:`fabricate_study`: real run
folders without training: a study file expanded through the config
layer, each planned run created by the queue (``config.yaml``, meta with identity, variant, seed),
then its epoch lines written with :class:`hw2.contract.MetricsWriter`, its ``result.json`` with
:func:`hw2.contract.write_result` and its meta marked done (or failed) with the versions a trainer
records. The accuracies are made up but deterministic: variant ``i`` of the study scores a little
higher than variant ``i - 1``, seeds spread it by 0.1 points."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from hw2 import contract
from hw2.config import expand_study
from hw2.queue import create_run

PROJECT_STUDIES = Path(__file__).resolve().parents[2] / "configs" / "studies"


def pdflatex_or_skip() -> str:
    """The pdflatex executable; the test skips without one, except in CI, where it fails."""
    exe = shutil.which("pdflatex")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail(
                "pdflatex missing in CI: .ci/run installs texlive-latex-base and texlive-latex-recommended"
            )
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-base texlive-latex-recommended)")
    return exe


def compile_tex(exe: str, folder: Path, name: str, passes: int = 1) -> str:
    """Run ``pdflatex`` on ``folder/name`` ``passes`` times (twice resolves references); each pass
    must succeed. Returns the log's text."""
    import subprocess

    for _ in range(passes):
        proc = subprocess.run(
            [exe, "-interaction=nonstopmode", "-halt-on-error", name],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout[-3000:]
    return (folder / name).with_suffix(".log").read_text(encoding="utf-8", errors="replace")


def write_study(
    folder: Path,
    title: str,
    variants: dict[str, dict[str, object]],
    *,
    trainer: str = "mlp",
    model: str = "mlp",
    epochs: int = 20,
    description: str = "",
    stem: str = "study",
    grid: dict[str, list[object]] | None = None,
) -> Path:
    """A study file (and its base experiment) in ``folder``, independent of the project's configs."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    base = folder / f"{stem}-base.yaml"
    base.write_text(
        yaml.safe_dump(
            {"name": f"{stem}-base", "trainer": trainer, "model": {"name": model}}, sort_keys=False
        )
    )
    data: dict[str, object] = {"study": title, "description": description, "base": base.name}
    data["set"] = {"train.epochs": epochs}
    if variants:
        data["variants"] = [{"name": name, "set": changes} for name, changes in variants.items()]
    if grid:
        data["grid"] = grid
    path = folder / f"{stem}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def fabricate_study(
    runs_dir: Path,
    study_file: Path,
    *,
    overrides: Sequence[str] = (),
    repeat: int | None = None,
    failed_seeds: Sequence[int] = (),
    data_dir: Path | None = None,
) -> list[Path]:
    """The runs of ``study_file`` (with ``--set`` ``overrides`` and ``--repeat``), each done except
    those whose seed is in ``failed_seeds``; returns their folders."""
    planned = expand_study(study_file, list(overrides) or None, repeat)
    variants = list(dict.fromkeys(p.variant or p.name for p in planned))
    out = []
    for p in planned:
        run_id = create_run(runs_dir, p, data_dir=str(data_dir) if data_dir else None)
        d = contract.run_path(runs_dir, run_id)
        i, seed = variants.index(p.variant or p.name), p.seed or 0
        level = 0.90 + 0.004 * i + 0.001 * seed
        epochs = p.cfg.train.epochs
        writer = contract.MetricsWriter(d / contract.METRICS_FILE)
        best = 0.0
        failed = seed in failed_seeds
        for e in range(1, (1 if failed else epochs) + 1):
            val = level - 0.02 / e
            best = max(best, val)
            writer.epoch(
                epoch=e,
                epochs=epochs,
                train_loss=0.5 / e,
                train_acc=val + 0.01 + 0.005 * i,
                val_loss=0.6 / e,
                val_acc=val,
                lr=0.001,
                seconds=2.0 + 0.1 * i,
            )
        writer.close()
        fields = {
            "device": "cpu",
            "versions": {"python": "3.11.2", "keras": "3.0.0"},
            "git_commit": "0123abc",
            "started": 1000.0,
            "ended": 1000.0 + 2.0 * epochs,
        }
        if failed:
            contract.update_meta(d, status="failed", exit_code=1, error="boom", **fields)
        else:
            contract.write_result(
                d,
                {
                    "test_loss": 0.3,
                    "test_acc": level - 0.002,
                    "best_val_acc": best,
                    "best_epoch": epochs,
                    "total_seconds": 2.0 * epochs,
                    "params": 1000 + 10 * i,
                },
            )
            contract.update_meta(d, status="done", exit_code=0, **fields)
        out.append(d)
    return out
