"""NVML and GPU pinning on a real NVIDIA GPU (skipped without one)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hw2 import contract, gpu, queue
from hw2.config import expand_study
from tests.runtime.conftest import WriteConfig, statuses, wait_for


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


def _torch_cuda() -> bool:
    import subprocess
    import sys

    code = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.gpu
@needs_gpu
def test_memory_aware_packing_on_a_real_gpu(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measured configs share a GPU; an unmeasured config gets the GPU to itself."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    if gpu.gpu_count() != 1 or not _torch_cuda():
        pytest.skip("needs exactly one GPU and torch with CUDA")
    monkeypatch.setenv("HW2_SLOTS_PER_GPU", "3")
    monkeypatch.setenv("HW2_FAKE_GPU_MB", "1024")
    monkeypatch.setenv("HW2_FAKE_SLEEP", "0.05")
    x = expand_study(write_config("pack-x", epochs=3, batches=20))[0]
    y = expand_study(write_config("pack-y", epochs=3, batches=20, seed=1))[0]

    def drain() -> list[dict[str, str]]:
        queue.ensure_scheduler(runs_dir)
        samples = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            st = statuses(runs_dir)
            samples.append(st)
            if all(s in contract.FINAL_STATUSES for s in st.values()):
                # the daemon exits once it has reaped everything (and recorded GPU peaks)
                assert wait_for(lambda: not queue.scheduler_lock_held(runs_dir), timeout=30)
                return samples
            time.sleep(0.05)
        raise AssertionError(f"runs did not finish: {statuses(runs_dir)}")

    [first] = [queue.enqueue(runs_dir, x)]
    drain()
    meta = contract.read_meta(runs_dir / first)
    assert meta.status == "done" and meta.extra["gpu_mem_peak_mb"] >= 1024  # NVML saw the buffer

    xs = [queue.enqueue(runs_dir, x) for _ in range(3)]
    ys = [queue.enqueue(runs_dir, y) for _ in range(2)]
    samples = drain()
    assert all(statuses(runs_dir)[r] == "done" for r in xs + ys)
    running = [{r for r, s in st.items() if s == "running"} for st in samples]
    assert max(len(r & set(xs)) for r in running) == 3, "measured runs were not packed"
    # the first y (config never measured) waited for an empty GPU instead of joining the x runs
    for r in running:
        assert not (r & set(ys) and r & set(xs)), f"an unmeasured run shared the GPU: {r}"
