"""NVIDIA GPU facts through NVML (``pynvml`` from the nvidia-ml-py package); never raises.

Why NVML and not torch: the TUI and the scheduler must not import a framework (seconds of import,
and a CUDA context per process). NVML is a thin C library that answers in microseconds. Without
a driver (laptops, CI) every function returns the empty answer: ``[]``, ``0``, ``{}``.
Memory figures are MiB.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

_lock = threading.Lock()
_nvml: Any = None
_init_failed_at: float | None = None
_RETRY_S = 60.0


@dataclass(frozen=True)
class GpuStat:
    index: int
    name: str
    util: float  # percent busy over the driver's last sample period
    mem_used: float  # MiB
    mem_total: float  # MiB
    mem_free: float = 0.0  # MiB
    temperature: float | None = None  # Celsius


def _get() -> Any:
    """The initialised pynvml module, or None (no package / no driver); retried once a minute."""
    global _nvml, _init_failed_at
    with _lock:
        if _nvml is not None:
            return _nvml
        if _init_failed_at is not None and time.monotonic() - _init_failed_at < _RETRY_S:
            return None
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception:
            _init_failed_at = time.monotonic()
            return None
        _nvml = pynvml
        return _nvml


def gpu_count() -> int:
    nv = _get()
    if nv is None:
        return 0
    try:
        return int(nv.nvmlDeviceGetCount())
    except Exception:
        return 0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def gpu_stats() -> list[GpuStat]:
    """One :class:`GpuStat` per visible NVIDIA GPU; [] without a driver. A GPU that cannot be
    queried is left out rather than failing the rest."""
    nv = _get()
    if nv is None:
        return []
    out: list[GpuStat] = []
    for i in range(gpu_count()):
        try:
            h = nv.nvmlDeviceGetHandleByIndex(i)
            mem = nv.nvmlDeviceGetMemoryInfo(h)
            try:
                util = float(nv.nvmlDeviceGetUtilizationRates(h).gpu)
            except Exception:
                util = 0.0
            try:
                temp: float | None = float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
            except Exception:
                temp = None
            mib = 1024.0 * 1024.0
            out.append(
                GpuStat(
                    index=i,
                    name=_text(nv.nvmlDeviceGetName(h)),
                    util=util,
                    mem_used=mem.used / mib,
                    mem_total=mem.total / mib,
                    mem_free=mem.free / mib,
                    temperature=temp,
                )
            )
        except Exception:
            continue
    return out


def gpu_processes(index: int) -> dict[int, float]:
    """``{pid: MiB}`` of compute processes on GPU ``index`` ({} when unknown).

    Pids are as the driver sees them; inside a container they may not match ours, so callers must
    treat a missing pid as "unknown", not as "uses nothing".
    """
    nv = _get()
    if nv is None:
        return {}
    try:
        h = nv.nvmlDeviceGetHandleByIndex(index)
        procs = nv.nvmlDeviceGetComputeRunningProcesses(h)
    except Exception:
        return {}
    out: dict[int, float] = {}
    for p in procs:
        used = getattr(p, "usedGpuMemory", None)
        if isinstance(used, int) and used >= 0:
            out[int(p.pid)] = used / (1024.0 * 1024.0)
    return out
