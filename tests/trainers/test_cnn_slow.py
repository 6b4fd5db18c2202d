"""Accuracy on the real CIFAR-10 (CPU): the tutorial's recipe and our base recipe, each held to a
band measured over five seeds (see each test), never to one CPU's number.

Marked slow; they run in CI (2 cores). Each is one real ``python -m trainers.cnn`` subprocess on a
shipped config, so they test exactly what a user launches. On the 2-core Intel Xeon box with a warm
decode cache and another run beside each: tutorial 55-91 s, base cut to 3 epochs ~60 s; up to ~2x
that when the box is busier. A cold cache adds one CIFAR-10 decode (7-40 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from hw2 import contract
from hw2.config import load_experiment
from tests.conftest import PROJECT_ROOT
from tests.trainers.conftest import trainer_argv

pytestmark = pytest.mark.slow


def _run(config: Path, overrides: list[str], tmp_path: Path, data_dir: Path, cache_dir: Path) -> dict:
    cfg = load_experiment(config, overrides)
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    run_dir = tmp_path / "run"
    env = {**os.environ, "HW2_CACHE_DIR": str(cache_dir), "HW2_OFFLINE": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    t = time.time()
    proc = subprocess.run(
        trainer_argv("trainers.cnn", cfg_path, run_dir, data_dir),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
        env=env,
    )
    wall = time.time() - t
    log = (
        (run_dir / contract.LOG_FILE).read_text(errors="replace")
        if (run_dir / contract.LOG_FILE).exists()
        else ""
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-3000:]}\n{log[-3000:]}"
    result = json.loads((run_dir / contract.RESULT_FILE).read_text())
    epochs = [x for x in contract.iter_metrics(run_dir / contract.METRICS_FILE) if x["type"] == "epoch"]
    print(
        f"\n{config.name} {overrides}: test_acc {result['test_acc']:.4f}, wall {wall:.0f}s, "
        f"epochs {[round(e['seconds'], 1) for e in epochs]} s, val_acc {[round(e['val_acc'], 4) for e in epochs]}"
    )
    return result


def test_tutorial_recipe_reproduces_the_tutorials_accuracy(
    tmp_path: Path, shared_data_dir: Path, shared_cache_dir: Path
) -> None:
    """configs/cnn/tutorial.yaml (batch 4, SGD 0.001/0.9, 2 epochs): the tutorial reports ~54 %.

    The band comes from a measured seed spread, not from one CPU's number. Seeds 0-4 of this
    recipe on an Intel Xeon (2 cores, 2026-12-07, ``hw2-tui run configs/cnn/tutorial.yaml --set
    seed=S``): 0.5199, 0.5480, 0.5452, 0.5383, 0.5471 (mean 0.540, spread 0.028); seed 0 gave
    0.533 on an AMD EPYC. Float results differ between CPUs by about as much as between seeds, so
    the band holds every measured seed with two points of margin on each side: [0.50, 0.57]. A
    recipe that stopped learning (10 % is chance) or one that trains far more (the base recipe
    passes 0.57 within 3 epochs) still falls outside it."""
    result = _run(PROJECT_ROOT / "configs/cnn/tutorial.yaml", [], tmp_path, shared_data_dir, shared_cache_dir)
    assert 0.50 <= result["test_acc"] <= 0.57, result
    assert result["params"] == 62_006 and result["epochs_run"] == 2 and result["n_test"] == 10_000


def test_base_recipe_reaches_50_percent_in_3_epochs(
    tmp_path: Path, shared_data_dir: Path, shared_cache_dir: Path
) -> None:
    """Our recipe (configs/cnn/base.yaml: batch 64, cosine lr from 0.05, flips) cut to 3 epochs (the
    cosine then decays over those 3) is far past the tutorial's 54 % in 3 epochs.

    Band from a measured seed spread: seeds 0-4 on an Intel Xeon (2 cores, 2026-12-07, ``hw2-tui
    run configs/cnn/base.yaml --set train.epochs=3 --set seed=S``): 0.5663, 0.5623, 0.5939,
    0.5860, 0.5800 (mean 0.578, spread 0.032). The band holds each with three points of margin:
    [0.53, 0.63]."""
    result = _run(
        PROJECT_ROOT / "configs/cnn/base.yaml",
        ["train.epochs=3"],
        tmp_path,
        shared_data_dir,
        shared_cache_dir,
    )
    assert 0.53 <= result["test_acc"] <= 0.63, result
    assert result["epochs_run"] == 3 and result["n_train"] == 45_000 and result["n_val"] == 5_000
