"""Start-up shortcuts through torch.optim's private wrappers, quarantined here (issue 16 §6).

torch.optim imports the whole compiler stack (``torch._dynamo``) the first time an optimizer's
``zero_grad``/``add_param_group``/``step`` runs, only to mark those methods as not to be compiled.
For a run that compiles nothing, :func:`skip_lazy_dynamo_import` and :func:`eager_step` avoid that
import by looking at the wrappers' private structure. Both check that structure first and fall
back to torch's own path when it looks different, so on another torch they cost nothing but the
gain.

Measured on 2026-12-07 (Intel Xeon, 2 cores, load 3.6; ``python bench/bench_startup.py --runs 5``,
raw in ``bench/results/cpu-bench_startup-20261207.log``): launch to first epoch 1.59 s with the
shortcuts, 2.52 s without (median of 5 alternating runs each; spread within a kind 0.10 s): a
gain of 0.93 s, well above noise, so they stay. ``VERIFIED_TORCH`` lists the torch versions on
which ``tests/trainers/test_cnn_torch_shortcuts.py`` requires them to engage; on others the tests only
require the fallback to give torch's own results.

Nothing else in the project touches torch's private state.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import torch

VERIFIED_TORCH = ("2.14",)
"""torch minor versions whose optimizer wrappers these shortcuts were checked against."""


def skip_lazy_dynamo_import() -> int:
    """Let torch.optim's eager-only methods run without importing ``torch._dynamo``.

    ``Optimizer.add_param_group`` and ``zero_grad`` are wrapped by ``torch._disable_dynamo``,
    which imports the whole compiler stack on their first call, only to mark them as not to be
    compiled: 2-3 s of a CPU run's start-up here (measured with py-spy), more than the data load.
    The wrapper looks for a ready "disabled" function on the wrapped one first; giving it the
    plain function skips the import. Only for runs that compile nothing (``perf.compile`` off) and
    only while dynamo is not loaded; returns how many methods it set (0 on a torch without them).
    """
    if "torch._dynamo" in sys.modules:
        return 0
    done = 0
    for name in ("add_param_group", "zero_grad", "state_dict", "load_state_dict"):
        wrapper = getattr(torch.optim.Optimizer, name, None)
        fn = getattr(wrapper, "__wrapped__", None)
        code = getattr(wrapper, "__code__", None)
        if fn is None or code is None or not code.co_qualname.startswith("_disable_dynamo."):
            continue
        if getattr(fn, "__dynamo_disable", None) is None:
            fn.__dynamo_disable = fn  # type: ignore[attr-defined]
        done += 1
    return done


def eager_step(optimizer: torch.optim.Optimizer) -> Callable[[], Any]:
    """``optimizer.step`` without the per-call ``import torch._dynamo`` of torch.optim's wrapper.

    ``Optimizer.step`` is wrapped twice: a profiler/hooks wrapper, then ``_use_grad``, which
    imports ``torch._dynamo`` on every call (its first call costs 2-3 s of CPU start-up here) to
    place compiler graph breaks around a ``no_grad`` step. For a run that compiles nothing this
    calls the optimizer's own step under ``no_grad`` directly. It falls back to the normal
    ``optimizer.step`` whenever that would change behaviour: hooks registered, a differentiable
    optimizer, or a torch whose wrappers look different.
    """
    from torch.optim import optimizer as optim_mod

    outer = type(optimizer).step
    inner = getattr(outer, "__wrapped__", None)
    raw = getattr(inner, "__wrapped__", None)
    code = getattr(inner, "__code__", None)
    if (
        raw is None
        or code is None
        or code.co_qualname != "_use_grad_for_differentiable.<locals>._use_grad"
        or optimizer.defaults.get("differentiable")
        or optimizer._optimizer_step_pre_hooks
        or optimizer._optimizer_step_post_hooks
        or getattr(optim_mod, "_global_optimizer_pre_hooks", None)
        or getattr(optim_mod, "_global_optimizer_post_hooks", None)
    ):
        return optimizer.step

    def step() -> Any:
        with torch.no_grad():
            return raw(optimizer)

    return step


def torch_minor() -> str:
    """``"2.14"`` for torch 2.14.1+cu130."""
    return ".".join(torch.__version__.split("+")[0].split(".")[:2])
