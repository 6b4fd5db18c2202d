"""PyTorch CNN trainer for CIFAR-10 (homework 2.2), under the run contract.

Run as ``python -m trainers.cnn --config FILE --run-dir DIR [--data-dir D]``; the harness in
:mod:`trainers.common` owns argv, meta.json, signals and failure handling, this module only trains.

Why it is fast even at the tutorial's batch size of 4 (12 500 steps per epoch):

* The dataset is decoded once (``trainers.data``, cached) to uint8 arrays and converted **once** to
  a normalised float32 NCHW tensor that stays on the training device (the GPU when there is one and
  ``perf.data_on_device``). There is no per-image Python work: a real ``DataLoader`` is used, but
  its sampler yields whole index tensors (one per batch) and the dataset answers each with one
  tensor indexing operation.
* Augmentation (random flip, random crop after padding) is batched tensor work on the device.
* No host<->device sync per step: loss and correct counts are summed as device tensors and read
  (``.item()``) only when a progress line will actually be written (rate-limited) and at epoch end.
* On CUDA (``perf.capture``, default ``auto``) each full batch's forward, backward and optimizer
  step is replayed as one CUDA graph (:class:`CapturedStep`): one copy into static buffers and one
  launch per step instead of hundreds of kernel launches and Python calls.

Normalisation ``standard`` is the tutorial's ``Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))``
applied after ``ToTensor`` (x/255), i.e. x/127.5 - 1 in [-1, 1]; it is *not* the per-channel
statistics of CIFAR-10, it is what the tutorial uses and what its reference accuracy was measured
with. ``unit`` is x/255 in [0, 1].

The "best" epoch is the one with the highest validation accuracy; its weights are kept (on the CPU)
and restored before the final test evaluation. Early stopping, when enabled, watches
``train.early_stopping.monitor`` with ``patience`` and ``min_delta``. With ``data.val_split: 0``
there is no validation set: validation metrics are computed on the test set and the log says so.

At the end of every epoch the run folder gets ``checkpoint.pt`` (and ``best.pt`` when the epoch is
the best so far), written atomically (:func:`save_checkpoint`, :mod:`trainers.checkpoint`); with
``ctx.resume`` training continues after the checkpoint's epoch exactly as it would have gone on.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from hw2 import contract
from hw2.schedule import phases, schedule_text
from trainers import checkpoint as ckpt
from trainers.cnn_models import build_model, count_params, ignored_model_options
from trainers.common import RunContext, epoch_boundary, main
from trainers.torch_shortcuts import eager_step, skip_lazy_dynamo_import

PROGRESS_INTERVAL_S = 0.25  # same spacing as RunContext.progress's rate limit
PROGRESS_LINES_PER_EPOCH = 20  # when train.progress_every is 0


# ----------------------------------------------------------------------------------------- data


@dataclass
class Splits:
    """uint8 HWC images and int64 labels of the three splits, after subset/val selection."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    val_on_test: bool


def select_splits(arrays: Any, cfg: Any) -> Splits:
    """Apply ``data.subset``, ``data.val_split`` and ``data.test_subset`` (all fixed by ``cfg.seed``).

    Subsets are *random* (seeded) rather than the first N: image-folder CIFAR is sorted by class,
    so the first N would hold one class only.
    """
    from trainers.data import split_validation

    x_train, y_train = arrays.x_train, np.asarray(arrays.y_train, dtype=np.int64)
    x_test, y_test = arrays.x_test, np.asarray(arrays.y_test, dtype=np.int64)
    if cfg.data.subset is not None and cfg.data.subset < len(x_train):
        idx = np.sort(np.random.default_rng(cfg.seed).permutation(len(x_train))[: cfg.data.subset])
        x_train, y_train = x_train[idx], y_train[idx]
    if cfg.data.test_subset is not None and cfg.data.test_subset < len(x_test):
        idx = np.sort(np.random.default_rng(cfg.seed + 1).permutation(len(x_test))[: cfg.data.test_subset])
        x_test, y_test = x_test[idx], y_test[idx]
    if cfg.data.val_split > 0:
        train_idx, val_idx = split_validation(len(x_train), cfg.data.val_split, cfg.seed)
        train_idx, val_idx = np.asarray(train_idx), np.asarray(val_idx)
        return Splits(
            x_train[train_idx], y_train[train_idx], x_train[val_idx], y_train[val_idx], x_test, y_test, False
        )
    return Splits(x_train, y_train, x_test, y_test, x_test, y_test, True)


def to_tensor(
    x: np.ndarray, device: torch.device, normalize: str, channels_last: bool = False
) -> torch.Tensor:
    """uint8 (N, H, W, C) -> normalised float32 (N, C, H, W) on ``device``, in one conversion.

    The uint8 array travels to the device first (4x fewer bytes than float), then is converted
    there. HWC memory *is* the channels_last layout, so that option costs no copy at all.
    """
    # np.require copies read-only (memory-mapped cache) arrays, which torch.from_numpy cannot share.
    t = torch.from_numpy(np.require(x, np.uint8, ["C", "W"])).to(device).permute(0, 3, 1, 2)
    f = t.float()  # keeps the NHWC strides of t
    if normalize == "standard":
        f.div_(127.5).sub_(1.0)  # ToTensor (x/255) then Normalize(mean=0.5, std=0.5)
    elif normalize == "unit":
        f.div_(255.0)
    else:
        raise ValueError(f"data.normalize: unknown value {normalize!r}; fix: use standard or unit")
    return f.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def labels_tensor(y: np.ndarray, device: torch.device) -> torch.Tensor:
    """int64 labels on ``device`` (copied when the array is read-only)."""
    return torch.from_numpy(np.require(y, np.int64, ["C", "W"])).to(device)


class TensorBatches(Dataset):
    """A dataset over whole tensors whose items are *batches*: ``ds[index_tensor] -> (x, y)``.

    Used with :class:`BatchIndexSampler` and ``DataLoader(batch_size=None)``, each step is one
    tensor indexing operation instead of N ``__getitem__`` calls and a collate.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[idx], self.y[idx]


class BatchIndexSampler(Sampler[torch.Tensor]):
    """Yields one index tensor per batch: a seeded shuffle of ``range(n)`` cut into batches.

    The permutation is drawn on the CPU from ``generator`` (so the order is the same on every
    device) and moved to ``device`` once per epoch; each batch index is then a view of it.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        shuffle: bool,
        generator: torch.Generator | None,
        device: torch.device,
    ) -> None:
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.generator, self.device = generator, device

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        order = torch.randperm(self.n, generator=self.generator) if self.shuffle else torch.arange(self.n)
        order = order.to(self.device)
        for start in range(0, self.n, self.batch_size):
            yield order[start : start + self.batch_size]


def _identity(batch: Any) -> Any:
    """collate_fn for already-batched items (module level so DataLoader workers can pickle it)."""
    return batch


def make_loader(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int, *, num_workers: int = 0, pin: bool = False
) -> DataLoader:
    gen = torch.Generator()
    gen.manual_seed(seed)
    sampler = BatchIndexSampler(len(y), batch_size, shuffle=True, generator=gen, device=x.device)
    return DataLoader(
        TensorBatches(x, y),
        sampler=sampler,
        batch_size=None,
        collate_fn=_identity,
        num_workers=num_workers,
        pin_memory=pin,
        persistent_workers=num_workers > 0,
    )


def augment_batch(x: torch.Tensor, flip: bool, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and random crop after zero padding, for a whole batch at once.

    Padding is 0 in normalised space (the data mean for ``standard``), cropping is a batched
    gather: no per-image Python work.
    """
    n, _c, h, w = x.shape
    if flip:
        mask = torch.rand(n, device=x.device, generator=gen) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    if pad > 0:
        xp = F.pad(x, (pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (n,), device=x.device, generator=gen)
        ox = torch.randint(0, 2 * pad + 1, (n,), device=x.device, generator=gen)
        rows = oy[:, None] + torch.arange(h, device=x.device)[None, :]  # (n, h)
        cols = ox[:, None] + torch.arange(w, device=x.device)[None, :]  # (n, w)
        batch = torch.arange(n, device=x.device)[:, None, None]
        # Advanced indices on dims 0, 2, 3 around a slice: result is (n, h, w, c).
        x = xp[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    return x


# ------------------------------------------------------------------------------------ training


def resolve_device(choice: str) -> torch.device:
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("perf.device: cuda asked for but no CUDA GPU is visible; fix: use auto or cpu")
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def auto_threads(device: torch.device) -> int:
    """Intra-op CPU threads when the config leaves ``perf.threads`` unset.

    On a GPU the host only feeds it: one thread per run, so runs packed onto one GPU do not fight
    over the CPU (the GPU figures in bench/RESULTS.md were taken so). On the CPU a run gets its
    share of the cores: all of them divided by ``$HW2_CPU_SLOTS``, the number of runs the
    scheduler runs at once (default 1). The base net at its default batch of 64 steps ~1.6x faster
    on 2 threads than on 1 on an idle 2-core box (at batch 32 the gain is within noise); on a CPU
    shared with other heavy work set ``perf.threads: 1``: spare OpenMP threads then spin.
    """
    if device.type != "cpu":
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores // contract.cpu_slots())


def make_optimizer(
    params: Any, opt_cfg: Any, *, capturable: bool = False, lr_device: torch.device | None = None
) -> torch.optim.Optimizer:
    """sgd (plain), momentum (SGD with momentum/nesterov) or adam (AdamW when weight_decay > 0).

    The fused implementations (one kernel for all parameters) are used where this torch has
    them: at the tutorial's batch of 4 the optimizer step is a visible share of each step.
    ``capturable`` (for a step captured in a CUDA graph) keeps Adam's step counter on the device;
    SGD's step has no host state and needs nothing.

    ``lr_device``: keep the learning rate in a 0-d tensor on that device instead of a Python float.
    A captured step must have it so when a schedule changes the lr: the CUDA graph reads the
    tensor at every replay, and torch's schedulers update a tensor lr in place (``fill_``), where a
    float would have been baked into the graph at capture time.
    """
    params = list(params)
    lr: float | torch.Tensor = opt_cfg.lr
    if lr_device is not None:
        lr = torch.tensor(float(opt_cfg.lr), dtype=torch.float32, device=lr_device)
    if opt_cfg.name == "sgd":
        cls, kwargs = torch.optim.SGD, {"lr": lr, "weight_decay": opt_cfg.weight_decay}
    elif opt_cfg.name == "momentum":
        cls, kwargs = (
            torch.optim.SGD,
            {
                "lr": lr,
                "momentum": opt_cfg.momentum,
                "nesterov": opt_cfg.nesterov and opt_cfg.momentum > 0,
                "weight_decay": opt_cfg.weight_decay,
            },
        )
    elif opt_cfg.name == "adam":
        if opt_cfg.weight_decay > 0:  # decoupled weight decay, as the schema documents
            cls, kwargs = torch.optim.AdamW, {"lr": lr, "weight_decay": opt_cfg.weight_decay}
        else:
            cls, kwargs = torch.optim.Adam, {"lr": lr}
        if capturable:
            kwargs["capturable"] = True
    else:
        raise ValueError(
            f"optimizer.name: unknown optimizer {opt_cfg.name!r}; fix: use sgd, momentum or adam"
        )
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):  # no fused kernel for this device/dtype/version
        return cls(params, **kwargs)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: Any) -> torch.optim.lr_scheduler.LRScheduler | None:
    """``optimizer.schedule`` as torch's own schedulers, stepped once per epoch (None: constant).

    The phases come from :func:`hw2.schedule.phases` (the definition lives there): a ``LinearLR``
    warm-up, then ``ConstantLR`` (constant), ``MultiStepLR`` (step), ``CosineAnnealingLR`` (cosine)
    or ``LinearLR`` + ``CosineAnnealingLR`` (onecycle, around ``max_lr``), chained by
    ``SequentialLR``. A tensor lr is updated in place, so a captured step follows it.
    """
    from torch.optim import lr_scheduler as sched

    ph = phases(cfg)
    if ph.constant:
        return None
    peak = ph.max_lr if ph.name == "onecycle" and ph.max_lr is not None else ph.lr
    scale = ph.lr / peak  # the schedule's start as a fraction of its peak (1 but for onecycle)
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(peak)
        else:
            group["lr"] = peak
    parts: list[sched.LRScheduler] = []
    starts: list[int] = []
    if ph.warmup:
        parts.append(
            sched.LinearLR(
                optimizer,
                start_factor=scale * ph.warmup_start_factor,
                end_factor=scale,
                total_iters=ph.warmup,
            )
        )
        starts.append(ph.warmup)
    if ph.name == "constant":
        parts.append(sched.ConstantLR(optimizer, factor=1.0, total_iters=0))
    elif ph.name == "step":
        parts.append(sched.MultiStepLR(optimizer, milestones=list(ph.milestones), gamma=ph.gamma))
    elif ph.name == "cosine":
        parts.append(sched.CosineAnnealingLR(optimizer, T_max=ph.main, eta_min=ph.min_lr))
    elif ph.name == "onecycle":
        parts.append(sched.LinearLR(optimizer, start_factor=scale, end_factor=1.0, total_iters=ph.rise))
        starts.append(ph.warmup + ph.rise)
        parts.append(sched.CosineAnnealingLR(optimizer, T_max=ph.fall, eta_min=ph.min_lr))
    else:  # the schema allows no other name
        raise ValueError(f"optimizer.schedule.name: unknown schedule {ph.name!r}")
    if len(parts) == 1:
        return parts[0]
    return sched.SequentialLR(optimizer, parts, milestones=starts)


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The lr the next step uses (a float, also when it is kept in a tensor)."""
    return float(optimizer.param_groups[0]["lr"])


def resolve_capture(choice: bool | str, device: torch.device, compiled: bool) -> bool:
    """Whether the training step runs through :class:`CapturedStep` (``perf.capture``).

    ``auto`` captures on CUDA only, where launch overhead is most of a small net's step; on the CPU
    the plain :class:`TrainStep` is as fast (no graphs there) and stays the default. A compiled model
    is never captured by hand: ``torch.compile`` has its own CUDA-graph mode (``reduce-overhead``).
    """
    if compiled:
        return False
    if choice == "auto":
        return device.type == "cuda"
    return bool(choice)


class TrainStep:
    """One training step (forward, backward, optimizer step) with metrics summed on the device.

    ``loss_sum`` (sum of per-batch mean loss x batch size) and ``correct`` live on the device for
    the whole run; :meth:`reset` zeroes them in place at each epoch start and :meth:`read` is the
    only host sync, called at the rate-limited progress lines and at epoch end.
    """

    def __init__(
        self,
        step_model: nn.Module,
        optimizer: torch.optim.Optimizer,
        optimizer_step: Callable[[], Any],
        autocast: Callable[[], contextlib.AbstractContextManager[Any]],
        device: torch.device,
    ) -> None:
        self.step_model, self.optimizer, self.optimizer_step = step_model, optimizer, optimizer_step
        self.autocast = autocast
        self.criterion = nn.CrossEntropyLoss()
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device, dtype=torch.int64)
        self.seen = 0
        self.set_to_none = True

    def reset(self) -> None:
        self.loss_sum.zero_()
        self.correct.zero_()
        self.seen = 0

    def read(self) -> tuple[float, float]:
        """Mean loss and accuracy over the batches since :meth:`reset` (one host sync)."""
        n = max(self.seen, 1)
        return self.loss_sum.item() / n, self.correct.item() / n

    def run(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        """The step itself, eagerly; the same operations are what :class:`CapturedStep` captures."""
        with self.autocast():
            out = self.step_model(xb)
            loss = self.criterion(out, yb)
        self.optimizer.zero_grad(set_to_none=self.set_to_none)
        loss.backward()
        self.optimizer_step()
        self.loss_sum.add_(loss.detach(), alpha=yb.shape[0])
        self.correct.add_((out.detach().argmax(1) == yb).sum())

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        self.run(xb, yb)
        self.seen += yb.shape[0]


class CapturedStep(TrainStep):
    """The training step replayed as one CUDA graph over static input buffers.

    The first ``WARMUP_STEPS`` full batches run eagerly (on a side stream on CUDA, as torch's
    whole-network capture recipe asks: cuDNN autotuning, the optimizer's lazily created state);
    they are real training steps, not extra ones. The next full batch is copied into static
    buffers, the step is captured once (the capture itself executes nothing) and replayed; every
    later full batch is one copy into the buffers and one ``replay()``: no Python per layer, no
    host sync. Gradients are zeroed in place (``set_to_none=False``) so the graph, the eager steps
    and the optimizer all see the same gradient tensors.

    The last, partial batch of an epoch (dataset size not a multiple of the batch) runs the same
    step eagerly on the same parameters, gradients and optimizer state. Not dropped, because that
    would change the homework's math (those examples would never be trained on); not padded with a
    mask, because padded rows would enter batch-norm statistics and consume dropout randomness, so
    the trajectory would differ from the eager one; not a second graph, which would cost a second
    capture and memory pool for one step per epoch out of hundreds.

    Without CUDA (``perf.capture: true`` on the CPU) the same buffers and routing run and "replay"
    is the eager step on the static buffers: no speed-up, but the code path is the one tested.

    A learning-rate schedule reaches the graph through the optimizer's lr *tensor* (see
    :func:`make_optimizer`): ``captured_lrs`` keeps the lr objects the capture saw, and
    :meth:`lr_follows` says whether the schedule still updates exactly those (in place).

    If the capture raises (a kernel that cannot be captured, a driver or torch version that
    refuses), the step says so once in the log ("capture failed: ...; continuing eagerly") and
    every later step runs eagerly on the same parameters and optimizer state: the batch whose
    capture failed is trained eagerly, so the trajectory is the eager one.
    """

    WARMUP_STEPS = 3

    def __init__(self, *args: Any, batch_size: int, log: logging.Logger | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_size = batch_size
        self.set_to_none = False
        self.warm = 0
        self.graph: Any = None
        self.static_x: torch.Tensor | None = None
        self.static_y: torch.Tensor | None = None
        self.cuda = self.loss_sum.device.type == "cuda"
        self.log = log or logging.getLogger("hw2.trainer")
        self.failed: str | None = None
        self.captured_lrs: list[Any] = []

    def lr_follows(self) -> bool:
        """Whether the captured step reads the optimizer's current lr: each group's lr is still the
        tensor object the capture saw (a scheduler's in-place update reaches the graph)."""
        groups = self.optimizer.param_groups
        return len(groups) == len(self.captured_lrs) and all(
            isinstance(g["lr"], torch.Tensor) and g["lr"] is lr
            for g, lr in zip(groups, self.captured_lrs, strict=True)
        )

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        n = yb.shape[0]
        self.seen += n
        if n != self.batch_size or self.failed:  # the partial last batch (see above), or no graph
            self.run(xb, yb)
            return
        if self.graph is None:
            if self.warm < self.WARMUP_STEPS:
                self.warm += 1
                self._warmup(xb, yb)
                return
            try:
                self._capture(xb, yb)
            except Exception as exc:  # noqa: BLE001 - any capture failure: the eager step still trains
                self._give_up(exc)
                self.run(xb, yb)
                return
        else:
            assert self.static_x is not None and self.static_y is not None
            self.static_x.copy_(xb)
            self.static_y.copy_(yb)
        self._replay()

    def _warmup(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        if not self.cuda:
            self.run(xb, yb)
            return
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self.run(xb, yb)
        torch.cuda.current_stream().wait_stream(side)

    def _give_up(self, exc: BaseException) -> None:
        """Capture failed: say it once, drop the graph and its buffers, train eagerly from now on."""
        self.failed = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        self.log.warning("capture failed: %s; continuing eagerly", self.failed)
        self.graph, self.static_x, self.static_y = None, None, None
        if self.cuda:
            with contextlib.suppress(Exception):  # a broken capture may leave the stream in error
                torch.cuda.synchronize()
                torch.cuda.empty_cache()

    def _capture(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        self.captured_lrs = [g["lr"] for g in self.optimizer.param_groups]
        self.static_x, self.static_y = xb.clone(), yb.clone()  # clone keeps xb's memory format
        if not self.cuda:
            self.graph = "eager"
            return
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.run(self.static_x, self.static_y)

    def _replay(self) -> None:
        if self.cuda:
            self.graph.replay()
        else:
            assert self.static_x is not None and self.static_y is not None
            self.run(self.static_x, self.static_y)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    device: torch.device,
    batch_size: int,
    autocast: Any,
) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy over (x, y), in eval mode, one sync at the end."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    for start in range(0, len(y), batch_size):
        xb = x[start : start + batch_size].to(device, non_blocking=True)
        yb = y[start : start + batch_size].to(device, non_blocking=True)
        with autocast():
            out = model(xb)
        loss_sum += F.cross_entropy(out.float(), yb, reduction="sum")
        correct += (out.argmax(1) == yb).sum()
    model.train(was_training)
    n = max(len(y), 1)
    return loss_sum.item() / n, correct.item() / n


def peak_memory_mb(device: torch.device) -> float:
    """Peak CUDA memory allocated by torch, or the process's peak RSS on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    except (ImportError, OSError):
        import psutil

        return psutil.Process().memory_info().rss / 2**20


class EarlyStopper:
    """Counts epochs without improvement of ``monitor`` by more than ``min_delta``."""

    def __init__(self, monitor: str, patience: int, min_delta: float) -> None:
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.best = math.inf if monitor == "val_loss" else -math.inf
        self.bad_epochs = 0

    def step(self, val_loss: float, val_acc: float) -> bool:
        """Record one epoch; True when training should stop."""
        if self.monitor == "val_loss":
            improved = val_loss < self.best - self.min_delta
            value = val_loss
        else:
            improved = val_acc > self.best + self.min_delta
            value = val_acc
        if improved:
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.bad_epochs = float(state["best"]), int(state["bad_epochs"])


# ---------------------------------------------------------------------------------- checkpoints

CHECKPOINT_FORMAT = 1
"""Bumped when the checkpoint's keys change; a checkpoint of another format is refused."""


@dataclass
class Trainables:
    """Everything a checkpoint saves and restores besides the loop's own counters."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    order_gen: torch.Generator
    """The data order's generator (:class:`BatchIndexSampler`'s)."""
    aug_gen: torch.Generator
    """The augmentation's generator (:func:`augment_batch`'s)."""
    stopper: EarlyStopper | None


@dataclass
class LoopState:
    """The epoch loop's counters: the last finished epoch and the best epoch so far."""

    epoch: int = 0
    best_acc: float = -1.0
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    stopped_early: bool = False


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def save_checkpoint(
    run_dir: Path,
    parts: Trainables,
    loop: LoopState,
    *,
    improved: bool,
    writer: ckpt.BackgroundWriter | None = None,
) -> None:
    """Write ``checkpoint.pt`` (and ``best.pt`` when this epoch is the best so far), atomically.

    ``checkpoint.pt`` holds, as state dicts of tensors and plain containers (it loads with
    ``torch.load(weights_only=True)``): the model, the optimizer, the lr scheduler, the RNG states
    (Python, NumPy, torch's CPU and CUDA generators, the data order's and the augmentation's
    generators), the early stopper, the best epoch with its weights, and the epoch just finished.
    It is self-contained (the best weights are in it too), so one atomic replace moves the run
    from one epoch to the next. ``best.pt`` is the best weights alone, for whoever wants them.

    The state is serialised here (a snapshot); with ``writer`` the files are then written on its
    background thread while training goes on, else here.
    """
    best = loop.best_state
    files: list[tuple[Path, bytes]] = []
    if improved and best is not None:
        files.append((run_dir / ckpt.TORCH_BEST, ckpt.torch_bytes({"epoch": loop.best_epoch, "model": best})))
    state: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "trainer": "cnn",
        "epoch": loop.epoch,
        "model": parts.model.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict() if parts.scheduler is not None else None,
        "stopper": parts.stopper.state_dict() if parts.stopper is not None else None,
        "best": {"epoch": loop.best_epoch, "val_acc": loop.best_acc, "model": best},
        "stopped_early": loop.stopped_early,
        "rng": {
            "python": ckpt.python_rng_state(),
            "numpy": ckpt.numpy_rng_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
            "order": parts.order_gen.get_state(),
            "augment": parts.aug_gen.get_state(),
        },
    }
    files.append((run_dir / ckpt.TORCH_CHECKPOINT, ckpt.torch_bytes(state)))
    if writer is not None:
        writer.submit(files)
        return
    for path, data in files:
        ckpt.atomic_write(path, lambda f, data=data: f.write(data))


def load_checkpoint(run_dir: Path, parts: Trainables) -> LoopState | None:
    """Restore ``run_dir``'s ``checkpoint.pt`` into freshly built ``parts``; None when there is none.

    Only the final file is read (never a temp file a killed writer left). After this, training
    epoch ``loop.epoch + 1`` gives what it gives in a run that was never interrupted.
    """
    state = ckpt.torch_load(run_dir / ckpt.TORCH_CHECKPOINT)
    if state is None:
        return None
    where = run_dir / ckpt.TORCH_CHECKPOINT
    if state.get("format") != CHECKPOINT_FORMAT or state.get("trainer") != "cnn":
        raise ValueError(
            f"{where}: not a cnn checkpoint of format {CHECKPOINT_FORMAT} "
            f"(trainer {state.get('trainer')!r}, format {state.get('format')!r}); fix: delete it to start over"
        )
    parts.model.load_state_dict(state["model"])
    # A tensor lr (a captured step reads it) must stay the same object on its device: copy into it.
    lrs = [g["lr"] for g in parts.optimizer.param_groups]
    parts.optimizer.load_state_dict(state["optimizer"])
    for group, lr in zip(parts.optimizer.param_groups, lrs, strict=True):
        if isinstance(lr, torch.Tensor):
            lr.fill_(float(group["lr"]))
            group["lr"] = lr
    if (state["scheduler"] is None) != (parts.scheduler is None):
        raise ValueError(f"{where}: the lr schedule differs from the config's; fix: delete it to start over")
    if parts.scheduler is not None:
        parts.scheduler.load_state_dict(state["scheduler"])
    if (state["stopper"] is None) != (parts.stopper is None):
        raise ValueError(f"{where}: early stopping differs from the config's; fix: delete it to start over")
    if parts.stopper is not None:
        parts.stopper.load_state_dict(state["stopper"])
    rng = state["rng"]
    ckpt.set_python_rng_state(rng["python"])
    ckpt.set_numpy_rng_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    parts.order_gen.set_state(rng["order"])
    parts.aug_gen.set_state(rng["augment"])
    best = state["best"]
    return LoopState(
        epoch=int(state["epoch"]),
        best_acc=float(best["val_acc"]),
        best_epoch=int(best["epoch"]),
        best_state=best["model"],
        stopped_early=bool(state["stopped_early"]),
    )


def framework_versions() -> dict[str, str]:
    versions = {"torch": torch.__version__, "numpy": np.__version__}
    if torch.version.cuda:
        versions["cuda"] = str(torch.version.cuda)
    if torch.backends.cudnn.is_available():
        versions["cudnn"] = str(torch.backends.cudnn.version())
    return versions


def train(ctx: RunContext) -> dict[str, Any]:
    cfg, log = ctx.cfg, ctx.log
    t_start = time.time()
    perf = cfg.perf
    seed_everything(cfg.seed)

    device = resolve_device(perf.device)
    torch.set_num_threads(perf.threads or auto_threads(device))
    gpu_name = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    ctx.set_meta(device=str(device), gpu_name=gpu_name)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        # peak_mem_mb is this run's own, also when train() runs twice in one process (bench/)
        torch.cuda.reset_peak_memory_stats(device)
    use_amp = perf.amp and device.type == "cuda"
    if perf.amp and not use_amp:
        log.warning("perf.amp: bf16 autocast is used on CUDA only; training in float32 on %s", device)

    capture = resolve_capture(perf.capture, device, perf.compile)
    if perf.capture is True and perf.compile:
        log.warning("perf.capture: ignored with perf.compile (torch.compile has its own CUDA-graph mode)")

    def autocast() -> contextlib.AbstractContextManager[Any]:
        if use_amp:
            # autocast's weight cache would hold tensors made during a capture: off when capturing
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16, cache_enabled=not capture)
        return contextlib.nullcontext()

    log.info(
        "device %s%s, torch %s, %d CPU threads",
        device,
        f" ({gpu_name})" if gpu_name else "",
        torch.__version__,
        torch.get_num_threads(),
    )

    # ---- data: decode (cached) -> select -> one conversion to normalised tensors
    if cfg.dataset != "cifar10":
        raise ValueError(
            f"data.dataset: the cnn trainer trains on cifar10 (got {cfg.dataset!r}); fix: remove data.dataset"
        )
    from trainers.data import load_cifar10

    data_dir = ctx.data_dir or cfg.data.data_dir
    arrays = load_cifar10(data_dir)
    splits = select_splits(arrays, cfg)
    del arrays
    data_device = device if (perf.data_on_device or device.type == "cpu") else torch.device("cpu")
    x_train = to_tensor(splits.x_train, data_device, cfg.data.normalize, perf.channels_last)
    y_train = labels_tensor(splits.y_train, data_device)
    x_test = to_tensor(splits.x_test, data_device, cfg.data.normalize, perf.channels_last)
    y_test = labels_tensor(splits.y_test, data_device)
    if splits.val_on_test:
        x_val, y_val = x_test, y_test
        log.warning("data.val_split is 0: validation metrics below are computed on the TEST set")
    else:
        x_val = to_tensor(splits.x_val, data_device, cfg.data.normalize, perf.channels_last)
        y_val = labels_tensor(splits.y_val, data_device)
    if len(y_train) == 0:
        raise ValueError("no training examples left after data.subset/val_split; fix: lower data.val_split")
    host_data = data_device.type == "cpu" and device.type == "cuda"
    data_seconds = time.time() - t_start
    log.info(
        "CIFAR-10: %d train, %d %s, %d test examples, normalize=%s, data on %s (%.1fs)",
        len(y_train),
        len(y_val),
        "val (= test)" if splits.val_on_test else "val",
        len(y_test),
        cfg.data.normalize,
        data_device,
        data_seconds,
    )

    num_workers = perf.num_workers if data_device.type == "cpu" else 0
    if perf.num_workers and not num_workers:
        log.warning("perf.num_workers: ignored, the data lives on %s (workers cannot share it)", data_device)
    loader = make_loader(
        x_train, y_train, cfg.train.batch_size, cfg.seed, num_workers=num_workers, pin=host_data
    )
    aug_gen = torch.Generator(device=device)
    aug_gen.manual_seed(cfg.seed + 2)

    # ---- model
    model = build_model(cfg).to(device)
    if perf.channels_last:
        model = model.to(memory_format=torch.channels_last)
    params = count_params(model)
    for option in ignored_model_options(cfg):
        users = (
            "'deeper' and 'regularized' use it"
            if option == "model.channels"
            else "only 'regularized' uses it"
        )
        log.warning("%s: ignored by model %s (%s)", option, cfg.model.name, users)
    log.info("model %s: %s parameters", cfg.model.name, f"{params:,}")
    step_model: nn.Module = model
    if not perf.compile:
        skip_lazy_dynamo_import()
    if perf.compile:
        step_model = torch.compile(model)  # type: ignore[assignment]
        log.info("torch.compile: on (the first steps compile)")
    scheduled = not phases(cfg).constant
    optimizer = make_optimizer(
        model.parameters(),
        cfg.optimizer,
        capturable=capture and device.type == "cuda",
        lr_device=device if capture and scheduled else None,
    )
    scheduler = make_scheduler(optimizer, cfg)
    if scheduler is not None:
        log.info("lr schedule: %s", schedule_text(cfg))
    optimizer_step = optimizer.step if perf.compile else eager_step(optimizer)
    if capture:
        stepper: TrainStep = CapturedStep(
            step_model, optimizer, optimizer_step, autocast, device, batch_size=cfg.train.batch_size, log=log
        )
        log.info(
            "training step: %s (full batches of %d; the partial last batch runs eagerly)",
            "captured as one CUDA graph" if device.type == "cuda" else "static buffers, no graph on the CPU",
            cfg.train.batch_size,
        )
    else:
        stepper = TrainStep(step_model, optimizer, optimizer_step, autocast, device)
    eval_batch = max(cfg.train.batch_size, 4096 if device.type == "cuda" else 1000)

    epochs = cfg.train.epochs
    batches = len(loader)
    check_every = cfg.train.progress_every or max(1, batches // PROGRESS_LINES_PER_EPOCH)
    stopper = (
        EarlyStopper(
            cfg.train.early_stopping.monitor,
            cfg.train.early_stopping.patience,
            cfg.train.early_stopping.min_delta,
        )
        if cfg.train.early_stopping.enabled
        else None
    )
    last_progress = 0.0
    aug = cfg.augment
    mem_format = torch.channels_last if perf.channels_last else torch.contiguous_format
    parts = Trainables(model, optimizer, scheduler, loader.sampler.generator, aug_gen, stopper)
    loop = LoopState()
    if ctx.resume:
        ckpt.remove_stale_temps(ctx.run_dir)
        restored = load_checkpoint(ctx.run_dir, parts)
        if restored is None:
            log.info("resume: no %s in the run folder, training from epoch 1", ckpt.TORCH_CHECKPOINT)
        else:
            loop = restored
            log.info(
                "resume: from %s after epoch %d (best epoch %d, val_acc %.4f)",
                ckpt.TORCH_CHECKPOINT,
                loop.epoch,
                loop.best_epoch,
                loop.best_acc,
            )
        ctx.rewind_metrics(loop.epoch)  # metrics.jsonl holds each epoch once
    checkpoint_seconds = 0.0

    writer = ckpt.BackgroundWriter()  # checkpoints reach the disk while the next epoch trains
    try:
        for epoch in range(loop.epoch + 1, epochs + 1):
            if loop.stopped_early:
                break
            epoch_boundary(loop.epoch)  # a stop asked for (a Slurm time limit near) happens here
            t_epoch = time.time()
            model.train()
            stepper.reset()
            for i, (xb, yb) in enumerate(loader, start=1):
                if host_data:
                    xb = xb.to(device, non_blocking=True)
                    yb = yb.to(device, non_blocking=True)
                if aug.enabled:
                    xb = augment_batch(xb, aug.flip, aug.crop_padding, aug_gen).contiguous(
                        memory_format=mem_format
                    )
                stepper(xb, yb)
                if i % check_every == 0 and i < batches:
                    now = time.monotonic()
                    if now - last_progress >= PROGRESS_INTERVAL_S:  # only then pay for a sync
                        last_progress = now
                        ctx.progress(epoch, i, batches, *stepper.read(), force=True)
            train_loss, train_acc = stepper.read()
            ctx.progress(epoch, batches, batches, train_loss, train_acc, force=True)
            val_loss, val_acc = evaluate(step_model, x_val, y_val, device, eval_batch, autocast)
            loop.epoch = epoch
            improved = val_acc > loop.best_acc
            if improved:
                loop.best_acc, loop.best_epoch = val_acc, epoch
                loop.best_state = _cpu_state(model)
            ctx.epoch(
                epoch=epoch,
                train_loss=train_loss,
                train_acc=train_acc,
                val_loss=val_loss,
                val_acc=val_acc,
                lr=current_lr(optimizer),
                seconds=time.time() - t_epoch,
            )
            if scheduler is not None:
                with warnings.catch_warnings():
                    # eager_step calls the optimizer's own step, past the wrapper that tells the
                    # scheduler a step happened: its "scheduler before optimizer" warning is false here
                    warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
                    scheduler.step()  # outside any graph: the next epoch's lr, in place
                if (
                    isinstance(stepper, CapturedStep)
                    and stepper.graph is not None
                    and not stepper.lr_follows()
                ):
                    # never train silently at the lr a graph baked in
                    raise RuntimeError("perf.capture: the captured step does not read the scheduled lr")
            if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
                log.warning("loss is not finite (train %s, val %s): stopping early", train_loss, val_loss)
                loop.stopped_early = True
            elif stopper is not None and stopper.step(val_loss, val_acc):
                log.info(
                    "early stopping after epoch %d: %s did not improve for %d epochs",
                    epoch,
                    stopper.monitor,
                    stopper.patience,
                )
                loop.stopped_early = True
            t_ckpt = time.perf_counter()
            save_checkpoint(ctx.run_dir, parts, loop, improved=improved, writer=writer)
            checkpoint_seconds += time.perf_counter() - t_ckpt
    except BaseException:
        writer.wait(raise_error=False)  # the last whole checkpoint is on disk before the run ends
        raise
    writer.wait()  # the last checkpoint is on disk before the run is done

    best_acc, best_epoch, best_state = loop.best_acc, loop.best_epoch, loop.best_state
    epochs_run, stopped_early = loop.epoch, loop.stopped_early
    if best_state is not None:
        model.load_state_dict(best_state)
    test_loss, test_acc = evaluate(step_model, x_test, y_test, device, eval_batch, autocast)
    log.info("test (best epoch %d weights): loss %.4f, acc %.4f", best_epoch, test_loss, test_acc)
    return {
        "test_loss": test_loss,
        "test_acc": test_acc,
        "best_epoch": best_epoch,
        "best_val_acc": best_acc,
        "total_seconds": time.time() - ctx.started,
        "params": params,
        # the model definition as PyTorch prints it: the report's "model" section (the homework asks for it)
        "model_summary": str(model).splitlines(),
        "epochs_run": epochs_run,
        "stopped_early": stopped_early,
        "device": str(device),
        "gpu_name": gpu_name,
        "peak_mem_mb": round(peak_memory_mb(device), 1),
        "val_on_test": splits.val_on_test,
        "n_train": len(y_train),
        "n_val": len(y_val),
        "n_test": len(y_test),
        "data_seconds": round(data_seconds, 3),
        # the epoch loop's time in checkpoints (serialising, handing over), and the writer thread's
        "checkpoint_seconds": round(checkpoint_seconds, 4),
        "checkpoint_write_seconds": round(writer.write_seconds, 4),
    }


if __name__ == "__main__":
    raise SystemExit(main(train, framework_versions=framework_versions))
