"""A fast fake trainer for runtime and TUI tests: the real harness, fake numbers.

It runs under :func:`trainers.common.main`, so status, pid, SIGTERM → ``killed``, exception →
``failed`` and ``result.json`` are all the real code paths; only the "training" is simulated.
Launch it as trainer ``fake`` with ``HW2_EXTRA_TRAINERS=fake=tests.fake_trainer`` (the project
root must be importable: run from the repo root or put it on ``PYTHONPATH``).

Knobs (all optional):

* ``train.epochs`` — epochs; ``train.batch_size`` — *batches per epoch* (one progress line each).
* ``HW2_FAKE_SLEEP`` — seconds to sleep per batch (default 0.01).
* ``HW2_FAKE_FAIL_AT_EPOCH`` — raise ``RuntimeError`` at the start of that epoch (1-based).
* ``HW2_FAKE_CHECKPOINT=1`` — write ``checkpoint.npz`` (epoch, best epoch) atomically after each
  epoch line, and on resume (``ctx.resume``) cut ``metrics.jsonl`` back to it and go on after it.
  A resumed run never fails on purpose (its failure mode was the first attempt's).
* ``HW2_FAKE_PEAK_MEM_MB`` — reported as ``peak_mem_mb`` in result.json (default 100, or
  ``HW2_FAKE_GPU_MB`` when set, as torch's own allocator counter would report it).
* ``HW2_FAKE_GPU_MB`` — hold a CUDA buffer of that many MiB for the whole run (imports torch;
  for the GPU packing test on a real GPU only).
* ``model.name`` — ``fail`` raises at epoch ``HW2_FAKE_FAIL_AT_EPOCH`` (default 1);
  ``sigkill`` SIGKILLs itself at that epoch (a hard crash the harness cannot record);
  ``oom`` runs out of memory at that epoch for real: it caps its own address space
  (``RLIMIT_AS``, current size + ``HW2_FAKE_OOM_HEADROOM_MB``, default 64) and allocates 1 GiB, so
  the allocator raises a genuine :class:`MemoryError`;
  ``slow`` sleeps 10x longer per batch; ``convert`` turns any exception raised while it trains
  (the harness's ``RunKilled`` on SIGTERM included) into a ``TypeError``, as TensorFlow does when a
  signal lands while it traces a function; anything else trains normally.
  Per-config failure modes let one sweep mix good and bad runs without touching the env.

Numbers are deterministic in ``seed`` and plausible: loss decreases, accuracy increases, all
accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import math
import os
import resource
import signal
import time
from typing import Any

from trainers import checkpoint as ckpt
from trainers.common import RunContext, epoch_boundary, main


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


def _curve(epoch: int, epochs: int, seed: int) -> tuple[float, float, float, float]:
    """(train_loss, train_acc, val_loss, val_acc) at ``epoch``: smooth and seed-dependent."""
    frac = epoch / max(epochs, 1)
    jitter = ((seed * 7919 + epoch * 104729) % 1000) / 1000.0 * 0.01
    train_loss = 2.3 * math.exp(-2.5 * frac) + 0.05 + jitter
    val_loss = train_loss * 1.1 + 0.02
    train_acc = min(0.99, 0.1 + 0.85 * (1 - math.exp(-3.0 * frac)) + jitter)
    val_acc = min(0.99, train_acc - 0.02)
    return train_loss, train_acc, val_loss, val_acc


def _run_out_of_memory() -> None:
    """Cap the address space just above what is in use and allocate past it: a real MemoryError."""
    import psutil

    headroom = int(_env_float("HW2_FAKE_OOM_HEADROOM_MB", 64.0) * 2**20)
    limit = psutil.Process().memory_info().vms + headroom
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    hog = bytearray(1 << 30)  # raises MemoryError: 1 GiB does not fit under the cap
    del hog


def train(ctx: RunContext) -> dict[str, Any]:
    if ctx.cfg.model.name != "convert":
        return _train(ctx)
    try:
        return _train(ctx)
    except BaseException as exc:  # as TensorFlow does with an exception raised while it traces
        raise TypeError(f"Failed to convert elements: {exc!r}") from None


def _train(ctx: RunContext) -> dict[str, Any]:
    cfg = ctx.cfg
    epochs = cfg.train.epochs
    batches = cfg.train.batch_size
    sleep = _env_float("HW2_FAKE_SLEEP", 0.01)
    mode = cfg.model.name
    if mode == "slow":
        sleep *= 10
    fail_env = os.environ.get("HW2_FAKE_FAIL_AT_EPOCH")
    fail_at: int | None = int(fail_env) if fail_env else None
    if mode in {"fail", "sigkill", "oom"} and fail_at is None:
        fail_at = 1
    gpu_mb = _env_float("HW2_FAKE_GPU_MB", 0.0)
    hold = None
    if gpu_mb > 0:
        import torch

        hold = torch.empty(int(gpu_mb * 2**20), dtype=torch.uint8, device="cuda")
        hold.fill_(1)
    ctx.set_meta(device="cuda" if hold is not None else "cpu")
    ctx.log.info(
        "fake trainer: %d epochs x %d batches, %.3fs per batch, mode %s", epochs, batches, sleep, mode
    )

    best_epoch, best_val_acc = 0, -1.0
    checkpoints = os.environ.get("HW2_FAKE_CHECKPOINT") == "1"
    start = 0
    if ctx.resume:
        fail_at = None
        saved = ckpt.npz_load(ctx.run_dir / ckpt.KERAS_CHECKPOINT) if checkpoints else None
        if saved is not None:
            start = int(saved["epoch"])
            best_epoch, best_val_acc = int(saved["best_epoch"]), float(saved["best_val_acc"])
        ctx.rewind_metrics(start)
    for epoch in range(start + 1, epochs + 1):
        epoch_boundary(epoch - 1)
        if fail_at is not None and epoch == fail_at:
            if mode == "sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
            if mode == "oom":
                _run_out_of_memory()
            raise RuntimeError(f"fake failure at epoch {epoch}")
        t0 = time.time()
        tl, ta, vl, va = _curve(epoch, epochs, cfg.seed)
        for batch in range(1, batches + 1):
            if sleep > 0:
                time.sleep(sleep)
            part = batch / batches
            ctx.progress(
                epoch, batch, batches, loss=tl * (1.1 - 0.1 * part), acc=ta * (0.95 + 0.05 * part), force=True
            )
        lr = cfg.optimizer.lr
        ctx.epoch(
            epoch=epoch,
            train_loss=tl,
            train_acc=ta,
            val_loss=vl,
            val_acc=va,
            lr=lr,
            seconds=time.time() - t0,
        )
        if va > best_val_acc:
            best_epoch, best_val_acc = epoch, va
        if checkpoints:
            data = ckpt.npz_bytes({"epoch": epoch, "best_epoch": best_epoch, "best_val_acc": best_val_acc})
            ckpt.atomic_write(ctx.run_dir / ckpt.KERAS_CHECKPOINT, lambda f, data=data: f.write(data))
    _, test_acc, test_loss, _ = _curve(epochs, epochs, cfg.seed + 1)
    return {
        "test_loss": test_loss * 1.05,
        "test_acc": max(0.0, test_acc - 0.03),
        "best_epoch": best_epoch,
        "best_val_acc": best_val_acc,
        "total_seconds": time.time() - ctx.started,
        "params": 1000 + 10 * batches,
        "peak_mem_mb": _env_float("HW2_FAKE_PEAK_MEM_MB", gpu_mb or 100.0),
        "device": "cuda" if hold is not None else "cpu",
    }


if __name__ == "__main__":
    raise SystemExit(main(train))
