"""NVML and GPU pinning on a real NVIDIA GPU (skipped without one)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hw2 import contract, gpu, queue
from hw2.config import expand_study
from tests.runtime.conftest import WriteConfig, statuses


def test_gpu_functions_never_raise() -> None:
    stats = gpu.gpu_stats()
    assert gpu.gpu_count() == len(stats)
    assert isinstance(gpu.gpu_processes(0), dict)
    assert gpu.gpu_processes(999) == {}


needs_gpu = pytest.mark.skipif(gpu.gpu_count() == 0, reason="no NVIDIA GPU/driver")


@pytest.mark.gpu
@needs_gpu
def test_gpu_stats_are_sane() -> None:
    stats = gpu.gpu_stats()
    assert [s.index for s in stats] == list(range(len(stats)))
    for s in stats:
        assert s.name and s.mem_total > 1000
        assert 0 <= s.mem_used <= s.mem_total and 0 <= s.mem_free <= s.mem_total
        assert 0 <= s.util <= 100


@pytest.mark.gpu
@needs_gpu
def test_scheduler_pins_each_run_to_one_gpu(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")  # let the scheduler use every GPU
    monkeypatch.setenv("HW2_SLOTS_PER_GPU", "1")
    n = gpu.gpu_count()
    planned = expand_study(write_config("on-gpu", epochs=2, batches=20))[0]
    ids = [queue.enqueue(runs_dir, planned) for _ in range(n + 1)]
    queue.ensure_scheduler(runs_dir)
    max_running = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        st = statuses(runs_dir)
        max_running = max(max_running, sum(s == "running" for s in st.values()))
        if all(s in contract.FINAL_STATUSES for s in st.values()):
            break
        time.sleep(0.02)
    assert statuses(runs_dir) == {r: "done" for r in ids}
    assert 1 <= max_running <= n
    for rid in ids:
        meta = contract.read_meta(runs_dir / rid)
        # written by the trainer harness from the environment it actually got
        assert meta.cuda_visible_devices in {str(i) for i in range(n)}
        assert meta.extra["gpu"] == int(meta.cuda_visible_devices)
    info_log = (runs_dir / queue.SCHEDULER_LOG).read_text()
    assert f"{n} GPU x 1" in info_log
