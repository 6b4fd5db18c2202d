"""NVML and GPU pinning on a real NVIDIA GPU (skipped without one)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hw2 import contract, daemon, gpu, queue
from hw2.config import expand_study
from tests.runtime.conftest import WriteConfig, all_final, statuses, wait_for


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


def _assert_each_run_had_one_gpu(runs_dir: Path, ids: list[str], gpu_ids: list[int]) -> dict[int, list[str]]:
    """Every run done on exactly one GPU of ``gpu_ids`` (as the trainer's own environment said), and
    the runs of one GPU one after the other (one slot per GPU), every GPU used. GPU → its runs."""
    per_gpu: dict[int, list[tuple[float, float, str]]] = {}
    for rid in ids:
        meta = contract.read_meta(runs_dir / rid)
        assert meta is not None and meta.status == "done", (rid, meta)
        # written by the trainer harness from the environment it actually got: one GPU index
        assert meta.cuda_visible_devices in {str(i) for i in gpu_ids}, meta.cuda_visible_devices
        assert meta.extra["gpu"] == int(meta.cuda_visible_devices)
        assert meta.started is not None and meta.ended is not None
        per_gpu.setdefault(meta.extra["gpu"], []).append((meta.started, meta.ended, rid))
    assert sorted(per_gpu) == sorted(gpu_ids), "the scheduler left a GPU unused while runs waited"
    for g, spans in per_gpu.items():
        spans.sort()
        for (_, end, before), (start, _, after) in zip(spans, spans[1:], strict=False):
            assert start >= end, f"{after} started on GPU {g} before {before} ended"
    return {g: [rid for _, _, rid in spans] for g, spans in per_gpu.items()}


def test_scheduler_pins_each_run_to_one_gpu_with_nvml_faked(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler's pinning on a 2-GPU box, anywhere: NVML's answers are fixed (2 GPUs, no
    processes), the scheduler, its children, their environment and the harness are real."""
    from hw2.scheduler import Scheduler

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setenv("HW2_SLOTS_PER_GPU", "1")
    monkeypatch.setattr(gpu, "gpu_count", lambda: 2)
    monkeypatch.setattr(gpu, "gpu_stats", lambda: [])
    monkeypatch.setattr(gpu, "gpu_processes", lambda i: {})
    planned = expand_study(write_config("two-gpus", epochs=2, batches=10))[0]
    ids = [queue.create_run(runs_dir, planned) for _ in range(3)]
    sched = Scheduler(runs_dir)
    assert (sched.gpu_ids, sched.total_slots) == ([0, 1], 2)
    most = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (all_final(runs_dir) and not sched.children):
        sched.reap()
        sched.launch_ready()
        most = max(most, len(sched.children))
        assert len({c.gpu for c in sched.children.values()}) == len(sched.children) <= 2
        time.sleep(0.02)
    assert all_final(runs_dir) and not sched.children, statuses(runs_dir)
    assert most == 2, "two GPUs were never both used"
    per_gpu = _assert_each_run_had_one_gpu(runs_dir, ids, [0, 1])
    assert sorted(len(r) for r in per_gpu.values()) == [1, 2]  # the third run waited for a free GPU


@pytest.mark.gpu
@needs_gpu
def test_scheduler_pins_each_run_to_one_gpu(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")  # let the scheduler use every GPU
    monkeypatch.setenv("HW2_SLOTS_PER_GPU", "1")
    holds_memory = _torch_cuda()
    if holds_memory:  # each trainer holds a CUDA buffer, so NVML can say on which GPU it ran
        monkeypatch.setenv("HW2_FAKE_GPU_MB", "256")
    n = gpu.gpu_count()
    planned = expand_study(write_config("on-gpu", epochs=2, batches=20))[0]
    ids = [queue.create_run(runs_dir, planned) for _ in range(n + 1)]
    daemon.ensure_scheduler(runs_dir)
    assert wait_for(lambda: all_final(runs_dir), timeout=240), statuses(runs_dir)
    # the daemon exits once it has reaped everything (and recorded the GPU peaks)
    assert wait_for(lambda: not daemon.scheduler_lock_held(runs_dir), timeout=30)
    per_gpu = _assert_each_run_had_one_gpu(runs_dir, ids, list(range(n)))
    assert sum(len(r) for r in per_gpu.values()) == n + 1 and max(len(r) for r in per_gpu.values()) == 2
    if holds_memory:
        for rid in ids:  # NVML saw the trainer's buffer on the GPU it was given
            meta = contract.read_meta(runs_dir / rid)
            assert meta is not None and meta.extra.get("gpu_mem_peak_mb", 0) >= 256, meta.to_dict()
    info_log = (runs_dir / daemon.SCHEDULER_LOG).read_text()
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
    # y differs from x in its model, which takes memory (a mere seed or lr change would share x's
    # memory key, and so its measured peak)
    y = expand_study(write_config("pack-y", epochs=3, batches=20, model="fake-y"))[0]

    def drain() -> list[dict[str, str]]:
        daemon.ensure_scheduler(runs_dir)
        samples = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            st = statuses(runs_dir)
            samples.append(st)
            if all(s in contract.FINAL_STATUSES for s in st.values()):
                # the daemon exits once it has reaped everything (and recorded GPU peaks)
                assert wait_for(lambda: not daemon.scheduler_lock_held(runs_dir), timeout=30)
                return samples
            time.sleep(0.05)
        raise AssertionError(f"runs did not finish: {statuses(runs_dir)}")

    [first] = [queue.create_run(runs_dir, x)]
    drain()
    meta = contract.read_meta(runs_dir / first)
    assert meta.status == "done" and meta.extra["gpu_mem_peak_mb"] >= 1024  # NVML saw the buffer

    xs = [queue.create_run(runs_dir, x) for _ in range(3)]
    ys = [queue.create_run(runs_dir, y) for _ in range(2)]
    samples = drain()
    assert all(statuses(runs_dir)[r] == "done" for r in xs + ys)
    running = [{r for r, s in st.items() if s == "running"} for st in samples]
    assert max(len(r & set(xs)) for r in running) == 3, "measured runs were not packed"
    # the first y (config never measured) waited for an empty GPU instead of joining the x runs
    for r in running:
        assert not (r & set(ys) and r & set(xs)), f"an unmeasured run shared the GPU: {r}"
