"""Smoke mode on the real CNN trainer and the real CIFAR-10 (issue 10 §5): a config whose model
fails at its first forward pass is reported, with its file, variant and error line, in seconds,
and no real run is queued."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hw2 import contract, daemon, planning, queue
from hw2.config import expand_study
from hw2.executors import local
from tests.conftest import PROJECT_ROOT


@pytest.fixture
def smoke_env(monkeypatch: pytest.MonkeyPatch, shared_cache_dir: Path, runs_dir: Path) -> Iterator[None]:
    """Trainers on the CPU, one at a time, offline, the session's decode cache; no scheduler left."""
    monkeypatch.setenv("HW2_OFFLINE", "1")
    monkeypatch.setenv("HW2_CACHE_DIR", str(shared_cache_dir))
    monkeypatch.setenv("HW2_CPU_SLOTS", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("HW2_SCHEDULER_IDLE", "0.5")
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.delenv("HW2_DATA_DIR", raising=False)
    monkeypatch.delenv("HW2_LOG_REDIRECTED", raising=False)
    monkeypatch.chdir(PROJECT_ROOT)
    yield
    daemon.stop_scheduler(runs_dir)
    for d in contract.list_run_dirs(runs_dir):
        meta = contract.read_meta(d)
        if meta is not None and meta.status in {"queued", "running"}:
            with contextlib.suppress(queue.QueueError):
                local.kill_run(runs_dir, d.name, grace=0)


def test_smoke_catches_a_model_failing_at_its_first_forward_pass(
    smoke_env: None, runs_dir: Path, shared_data_dir: Path, tmp_path: Path
) -> None:
    if not (shared_data_dir / "cifar10").is_dir():
        pytest.skip(f"real CIFAR-10 not found under {shared_data_dir}")
    study = tmp_path / "smoke-study.yaml"
    study.write_text(
        yaml.safe_dump(
            {
                "study": "smoke check",
                "base": str(PROJECT_ROOT / "configs" / "cnn" / "base.yaml"),
                "set": {"perf.device": "cpu", "perf.threads": 1, "train.batch_size": 16, "train.epochs": 30},
                "variants": [
                    {"name": "fine", "set": {"model.name": "base"}},
                    # six halvings of a 32x32 image: the sixth max-pool has a 1x1 input
                    {"name": "too-deep", "set": {"model.name": "deeper", "model.channels": [8] * 6}},
                ],
            },
            sort_keys=False,
        )
    )
    planned = expand_study(study)

    failures = planning.smoke_test(runs_dir, planned, timeout=600, data_dir=str(shared_data_dir)).failures

    assert [(f.file, f.variant) for f in failures] == [(str(study), "too-deep")]
    [failure] = failures
    assert failure.error.startswith("RuntimeError") and "Output size is too small" in failure.error
    assert failure.line() == f"{study}: variant too-deep: {failure.error}" and "\n" not in failure.line()

    metas = {d.name: contract.read_meta(d) for d in contract.list_run_dirs(runs_dir)}
    assert len(metas) == 2, "smoke runs only: no real run was queued"
    for rid, meta in metas.items():
        assert meta is not None and meta.extra["smoke"] is True
        assert meta.name.startswith("smoke-") and "-smoke-" in rid
        assert meta.epochs == 1
    broken = metas[failure.run_id]
    assert broken is not None and broken.status == "failed"
    assert broken.started is not None and broken.ended is not None
    assert broken.ended - broken.started < 120, "fails at the first forward pass, not after training"
    lines = list(contract.iter_metrics(runs_dir / failure.run_id / contract.METRICS_FILE))
    assert not [ln for ln in lines if ln.get("type") == "epoch"], "no epoch ever finished"
    [fine_id] = [rid for rid in metas if rid != failure.run_id]
    result = contract.read_result(runs_dir / fine_id)
    assert result is not None and metas[fine_id].status == "done"  # type: ignore[union-attr]
    assert result["epochs_run"] == 1 and result["n_train"] + result["n_val"] <= 64 and result["n_test"] <= 32
