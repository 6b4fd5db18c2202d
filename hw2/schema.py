"""Typed experiment configuration (the schema of one YAML file in ``configs/``).

This module only *describes* a config; reading YAML, line numbers, "did you mean"
hints, studies/sweeps and ``--set`` overrides live in :mod:`hw2.config`.

Every model forbids unknown keys so a typo is an error, never silently ignored, and refuses
NaN/infinity so a bad number cannot slip through a range check. Every field carries a
``description``: :func:`hw2.config.schema_reference` turns them into ``docs/configs.md``.

Trainers: the names come from the one registry, :mod:`hw2.registry` (``mlp`` and ``cnn`` built in,
more through ``HW2_EXTRA_TRAINERS="name=python.module,..."``); its names are re-exported here for
older imports. A registered trainer accepts any model name.

UI-free and framework-free: importing this never imports textual, torch or tensorflow.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

# The registry's names, re-exported for older imports (its data and logic live in hw2.registry only).
from hw2.registry import BUILTIN_TRAINER_MODULES as BUILTIN_TRAINER_MODULES
from hw2.registry import EXTRA_TRAINERS_ENV as EXTRA_TRAINERS_ENV
from hw2.registry import extra_trainers as extra_trainers
from hw2.registry import trainer_modules

MLP_MODELS = ("mlp",)
CNN_MODELS = ("base", "no_relu", "pool_conv", "deeper", "regularized")
OPTIMIZERS = ("sgd", "momentum", "adam")
DATASET_OF_TRAINER = {"mlp": "mnist", "cnn": "cifar10"}
MODELS_OF_TRAINER: dict[str, tuple[str, ...]] = {"mlp": MLP_MODELS, "cnn": CNN_MODELS}
NAME_MAX_LEN = 80


def _bad_chars(text: str, allow_newlines: bool) -> str | None:
    """The first control / unencodable character in ``text`` (as a repr), or None."""
    for ch in text:
        if allow_newlines and ch in "\n\t\r":
            continue
        if unicodedata.category(ch) in {"Cc", "Cs"}:
            return repr(ch)
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _clean_text(cls, value: Any, info: ValidationInfo) -> Any:
        """Text ends up in file names, logs, YAML and the TUI: no control or lone-surrogate characters."""
        if isinstance(value, str):
            bad = _bad_chars(value, allow_newlines=info.field_name == "description")
            if bad is not None:
                raise PydanticCustomError("bad_text", "contains the control character {char}", {"char": bad})
        return value


class DataConfig(_Strict):
    """Where the data comes from and how the training set is split."""

    dataset: Literal["mnist", "cifar10"] | None = Field(
        None, description="Defaults to the trainer's dataset (mlp: mnist, cnn: cifar10)."
    )
    val_split: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="Fraction of the training set held out for validation (fixed by seed).",
    )
    subset: int | None = Field(
        None, ge=1, description="Use only this many training examples (quick experiments and tests)."
    )
    test_subset: int | None = Field(None, ge=1, description="Use only this many test examples.")
    data_dir: str | None = Field(None, description="Local data folder; overrides HW2_DATA_DIR.")
    normalize: Literal["standard", "unit"] = Field(
        "standard",
        description="standard: CNN (x/255 - 0.5) / 0.5 per channel as in the PyTorch tutorial, MLP the "
        "training set's mean/std; unit: x/255.",
    )


class ModelConfig(_Strict):
    """Network architecture. ``name`` picks the model; other fields tune it."""

    name: str = Field(
        ...,
        description="mlp (trainer mlp) or base|no_relu|pool_conv|deeper|regularized (trainer cnn); "
        "any name for a trainer registered with HW2_EXTRA_TRAINERS.",
    )
    hidden: list[Annotated[int, Field(ge=1, le=65_536)]] = Field(
        default_factory=lambda: [256, 128], max_length=32, description="MLP hidden layer widths."
    )
    activation: Literal["relu", "tanh", "sigmoid", "linear"] = Field(
        "relu", description="MLP hidden-layer activation."
    )
    dropout: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Dropout rate after each hidden layer (MLP); in the regularized CNN, before the "
        "classifier's last layer and, unless block_dropout is set, after every conv block.",
    )
    block_dropout: float | None = Field(
        None,
        ge=0.0,
        lt=1.0,
        description="Regularized CNN only: dropout after every conv block; unset: the same as "
        "dropout. 0 keeps dropout in the classifier alone (the convolutions have BatchNorm).",
    )
    l1: float = Field(0.0, ge=0.0, description="L1 kernel regulariser (MLP Dense layers).")
    l2: float = Field(0.0, ge=0.0, description="L2 kernel regulariser (MLP Dense layers).")
    batch_norm: bool = Field(False, description="BatchNorm after convolutions (CNN regularized model).")
    channels: list[Annotated[int, Field(ge=1, le=4096)]] | None = Field(
        None,
        min_length=1,
        max_length=8,
        description="Conv block widths of the deeper/regularized CNNs, one VGG block (two 3x3 "
        "convolutions + 2x2 max-pool) per entry; unset: [32, 64, 128]. Each block halves the 32x32 "
        "image, so more than 5 blocks leave nothing to pool and the run fails at its first forward "
        "pass (a smoke run, 'hw2-tui sweep --smoke', finds that in seconds).",
    )


class AugmentConfig(_Strict):
    """Data augmentation applied to training batches only."""

    enabled: bool = Field(False, description="Turn augmentation on (the other keys only tune it).")
    # MLP (Keras preprocessing layers on 28x28 images before flattening)
    rotation: float = Field(0.05, ge=0.0, le=0.5, description="RandomRotation factor (fraction of 2*pi).")
    translation: float = Field(
        0.1, ge=0.0, le=0.5, description="RandomTranslation factor (fraction of size)."
    )
    zoom: float = Field(0.1, ge=0.0, le=0.5, description="RandomZoom factor.")
    # CNN
    flip: bool = Field(True, description="Random horizontal flip (CNN).")
    crop_padding: int = Field(
        4, ge=0, le=16, description="Random crop after zero padding by this many pixels (CNN)."
    )


_SCHEDULE_KEYS: dict[str, tuple[str, ...]] = {
    "constant": (),
    "step": ("milestones", "gamma"),
    "cosine": ("min_lr",),
    "onecycle": ("max_lr", "pct_start", "min_lr"),
}


def schedule_error(path: tuple[str, ...], message: str, fix: str) -> PydanticCustomError:
    """A schedule problem at ``path`` (below the model that raises it), with its fix."""
    return PydanticCustomError("bad_schedule", message, {"subpath": path, "fix": fix})


class ScheduleConfig(_Strict):
    """The learning rate of each epoch, set by the frameworks' own schedulers (torch.optim.lr_scheduler,
    Keras LearningRateSchedule). Epoch k counts from 1; E = train.epochs, W = warmup_epochs,
    lr = optimizer.lr. Epoch k <= W trains at lr * k / (W + 1); then, with t = k - W - 1 and
    N = E - W: constant: lr; step: lr * gamma^(number of milestones m with k > m); cosine:
    min_lr + (lr - min_lr) * (1 + cos(pi t / N)) / 2; onecycle: U = round(pct_start * N) epochs
    rising linearly, lr + (max_lr - lr) * t / U, then min_lr + (max_lr - min_lr) *
    (1 + cos(pi (t - U) / (N - U))) / 2. The lr of each epoch is in metrics.jsonl.
    """

    name: Literal["constant", "step", "cosine", "onecycle"] = Field(
        "constant",
        description="constant: optimizer.lr throughout; step: lr times gamma after each milestone epoch; "
        "cosine: cosine decay from lr to min_lr; onecycle: linear rise from lr to max_lr over pct_start "
        "of the epochs, then cosine decay to min_lr.",
    )
    warmup_epochs: int = Field(
        0,
        ge=0,
        le=10_000,
        description="Linear warm-up: epoch k <= warmup_epochs trains at lr * k / (warmup_epochs + 1).",
    )
    milestones: list[Annotated[int, Field(ge=1, le=10_000)]] = Field(
        default_factory=list,
        max_length=32,
        description="step: epoch numbers after which the lr is multiplied by gamma (increasing).",
    )
    gamma: float = Field(0.1, gt=0.0, le=1.0, description="step: the factor applied at each milestone.")
    min_lr: float = Field(0.0, ge=0.0, description="cosine and onecycle: the floor the lr decays towards.")
    max_lr: float | None = Field(None, gt=0.0, le=10.0, description="onecycle: the peak lr (> optimizer.lr).")
    pct_start: float = Field(
        0.3, gt=0.0, lt=1.0, description="onecycle: the fraction of the (post-warm-up) epochs spent rising."
    )

    @model_validator(mode="after")
    def _keys_fit_name(self) -> ScheduleConfig:
        used = _SCHEDULE_KEYS[self.name]
        for key in ("milestones", "gamma", "min_lr", "max_lr", "pct_start"):
            # a key at its default is fine: a resolved config (a run's config.yaml) writes them all
            default = type(self).model_fields[key].get_default(call_default_factory=True)
            if key in self.model_fields_set and key not in used and getattr(self, key) != default:
                users = [n for n, keys in _SCHEDULE_KEYS.items() if key in keys]
                raise schedule_error(
                    (key,),
                    f"is not used by schedule '{self.name}' (only by {' and '.join(users)})",
                    f"remove it, or set optimizer.schedule.name to {users[0]}",
                )
        if self.name == "step":
            if not self.milestones:
                raise schedule_error(
                    ("milestones",), "schedule 'step' needs milestones", "add e.g. 'milestones: [15, 25]'"
                )
            if any(b <= a for a, b in zip(self.milestones, self.milestones[1:], strict=False)):
                raise schedule_error(
                    ("milestones",),
                    f"must be strictly increasing (got {self.milestones})",
                    "list each epoch once, in order, e.g. [15, 25]",
                )
            if any(m <= self.warmup_epochs for m in self.milestones):
                raise schedule_error(
                    ("milestones",),
                    f"milestone {self.milestones[0]} falls inside the {self.warmup_epochs} warm-up epochs",
                    "use milestones after the warm-up",
                )
        if self.name == "onecycle" and self.max_lr is None:
            raise schedule_error(("max_lr",), "schedule 'onecycle' needs max_lr", "add e.g. 'max_lr: 0.1'")
        if self.max_lr is not None and self.min_lr >= self.max_lr:
            raise schedule_error(
                ("min_lr",), f"must be below max_lr {self.max_lr:g} (got {self.min_lr:g})", "lower min_lr"
            )
        return self


class OptimizerConfig(_Strict):
    """The optimizer and its hyper-parameters."""

    name: Literal["sgd", "momentum", "adam"] = Field(
        "sgd", description="sgd (plain), momentum (SGD with momentum) or adam."
    )
    lr: float = Field(0.01, gt=0.0, le=10.0, description="Learning rate (> 0).")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="Momentum, used when name is 'momentum'.")
    nesterov: bool = Field(False, description="Nesterov momentum (name 'momentum' only).")
    weight_decay: float = Field(0.0, ge=0.0, description="Decoupled weight decay / L2 penalty (CNN).")
    schedule: ScheduleConfig = Field(
        default_factory=ScheduleConfig, description="See optimizer.schedule below."
    )

    @model_validator(mode="after")
    def _schedule_fits_lr(self) -> OptimizerConfig:
        sched = self.schedule
        if sched.name == "onecycle" and sched.max_lr is not None and sched.max_lr <= self.lr:
            raise schedule_error(
                ("schedule", "max_lr"),
                f"must be above optimizer.lr {self.lr:g}, where the cycle starts (got {sched.max_lr:g})",
                "raise max_lr or lower optimizer.lr",
            )
        if sched.name == "cosine" and sched.min_lr >= self.lr:
            raise schedule_error(
                ("schedule", "min_lr"),
                f"must be below optimizer.lr {self.lr:g} (got {sched.min_lr:g})",
                "lower min_lr",
            )
        return self


class EarlyStoppingConfig(_Strict):
    """Stop when the monitored metric stops improving; the best epoch's weights are restored."""

    enabled: bool = Field(False, description="Turn early stopping on.")
    monitor: Literal["val_loss", "val_acc"] = Field("val_loss", description="Metric watched for improvement.")
    patience: int = Field(3, ge=1, le=10_000, description="Epochs without improvement before stopping.")
    min_delta: float = Field(0.0, ge=0.0, description="Smallest change that counts as an improvement.")


class TrainConfig(_Strict):
    """The training loop."""

    epochs: int = Field(10, ge=1, le=10_000, description="Number of epochs (>= 1).")
    batch_size: int = Field(128, ge=1, le=65_536, description="Examples per training batch.")
    early_stopping: EarlyStoppingConfig = Field(
        default_factory=EarlyStoppingConfig, description="See train.early_stopping below."
    )
    progress_every: int = Field(
        0, ge=0, description="Write a progress line every N batches (0: about 20 per epoch)."
    )


class PerfConfig(_Strict):
    """Speed knobs. Defaults are safe everywhere; see bench/ for what they buy."""

    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when available, else CPU.")
    data_on_device: bool = Field(True, description="CNN: keep the decoded dataset as tensors on the GPU.")
    amp: bool = Field(False, description="CNN: bf16 autocast on CUDA.")
    channels_last: bool = Field(False, description="CNN: channels_last memory format.")
    compile: bool = Field(False, description="CNN: torch.compile the model.")
    capture: bool | Literal["auto"] = Field(
        "auto",
        description=(
            "CNN: replay each full training batch's forward, backward and optimizer step as one CUDA "
            "graph (the last, partial batch of an epoch runs uncaptured). auto: on CUDA without "
            "perf.compile; true on the CPU runs the same static-buffer path without a graph."
        ),
    )
    num_workers: int = Field(
        0, ge=0, le=64, description="DataLoader workers (0: in-process batched indexing)."
    )
    keras_backend: Literal["tensorflow", "torch", "jax"] = Field(
        "tensorflow", description="MLP: Keras 3 backend."
    )
    jit_compile: bool | Literal["auto"] = Field("auto", description="MLP: Keras jit_compile (XLA).")
    threads: int | None = Field(
        None,
        ge=1,
        description=(
            "CPU threads for the framework. Unset: the CNN takes its share of the cores on the CPU "
            "(all of them / $HW2_CPU_SLOTS) and one thread on a GPU; the MLP leaves the framework's "
            "default (all cores)."
        ),
    )


class ExperimentConfig(_Strict):
    """One experiment = one run when launched."""

    name: str | None = Field(
        None,
        min_length=1,
        max_length=NAME_MAX_LEN,
        description="Display name (any text up to 80 characters; run ids are made safe from it); "
        "defaults to the file name.",
    )
    description: str = Field("", description="Free text: what the experiment shows.")
    trainer: str = Field(
        ...,
        description="mlp (Keras, MNIST) or cnn (PyTorch, CIFAR-10), or a trainer registered with HW2_EXTRA_TRAINERS.",
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds weights, the validation split and shuffling.")
    data: DataConfig = Field(default_factory=DataConfig, description="See data below.")
    model: ModelConfig = Field(..., description="See model below.")
    augment: AugmentConfig = Field(default_factory=AugmentConfig, description="See augment below.")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig, description="See optimizer below.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="See train below.")
    perf: PerfConfig = Field(default_factory=PerfConfig, description="See perf below.")

    @field_validator("trainer")
    @classmethod
    def _known_trainer(cls, value: str) -> str:
        try:
            known = trainer_modules()
        except ValueError as exc:
            raise PydanticCustomError("trainer_env", "{error}", {"error": str(exc)}) from None
        if value not in known:
            raise PydanticCustomError(
                "unknown_trainer",
                "unknown trainer '{got}'",
                {"got": value, "choices": tuple(known)},
            )
        return value

    @field_validator("model")
    @classmethod
    def _model_fits_trainer(cls, value: ModelConfig, info: ValidationInfo) -> ModelConfig:
        """The model name must be one the trainer builds (registered trainers accept any)."""
        trainer = info.data.get("trainer")
        allowed = MODELS_OF_TRAINER.get(trainer) if isinstance(trainer, str) else None
        if allowed is not None and value.name not in allowed:
            raise PydanticCustomError(
                "unknown_model",
                "unknown model '{got}' for trainer {trainer}",
                {"got": value.name, "trainer": trainer, "choices": allowed, "subfield": "name"},
            )
        return value

    @model_validator(mode="after")
    def _schedule_fits_epochs(self) -> ExperimentConfig:
        sched, epochs = self.optimizer.schedule, self.train.epochs
        if sched.warmup_epochs and sched.warmup_epochs >= epochs:
            raise schedule_error(
                ("optimizer", "schedule", "warmup_epochs"),
                f"{sched.warmup_epochs} warm-up epochs leave none of train.epochs {epochs} for the schedule",
                "use fewer warm-up epochs",
            )
        if sched.name == "step" and sched.milestones and sched.milestones[-1] >= epochs:
            raise schedule_error(
                ("optimizer", "schedule", "milestones"),
                f"milestone {sched.milestones[-1]} is not before the last epoch ({epochs})",
                f"use milestones below train.epochs {epochs}",
            )
        if sched.name == "onecycle" and epochs - sched.warmup_epochs < 2:
            raise schedule_error(
                ("train", "epochs"),
                "schedule 'onecycle' needs at least 2 epochs after the warm-up to rise and fall",
                "train longer or use schedule 'cosine'",
            )
        return self

    @property
    def dataset(self) -> str:
        return self.data.dataset or DATASET_OF_TRAINER.get(self.trainer, "mnist")


# --------------------------------------------------------------------------- studies (sweeps)

_VARIANT_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"


class StudyVariant(_Strict):
    """One arm of a study: a name and the keys it changes."""

    name: str = Field(
        ...,
        pattern=_VARIANT_NAME,
        description="Short unique name used in run names: letters, digits, '.', '_', '-' (max 40).",
    )
    description: str = Field(
        "",
        description="What this variant changes and why; becomes its runs' description (default: the "
        "study title, the variant, the grid values and the seed).",
    )
    set: dict[str, Any] = Field(
        default_factory=dict,
        description="Dotted keys to change, e.g. {optimizer.lr: 0.1, model.dropout: 0.3}.",
    )


class StudySpec(_Strict):
    """A study (sweep): one base experiment expanded over variants x grid x repeat."""

    study: str = Field(..., min_length=1, max_length=120, description="Title shown in the TUI and run lists.")
    base: str = Field(..., min_length=1, description="Experiment YAML, relative to the study file.")
    description: str = Field("", description="Which homework question this answers and how.")
    set: dict[str, Any] = Field(default_factory=dict, description="Dotted keys changed in every run.")
    variants: list[StudyVariant] = Field(
        default_factory=list, max_length=200, description="Named arms; none means one arm, the base."
    )
    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="Dotted key → list of values; runs cover the cartesian product."
    )
    repeat: int = Field(
        1, ge=1, le=100, description="Seed axis: N runs per combination with seeds seed..seed+N-1."
    )

    @field_validator("grid")
    @classmethod
    def _grid_lists_not_empty(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            if not values:
                raise PydanticCustomError(
                    "empty_grid", "grid key '{key}' has no values", {"key": key, "subfield": key}
                )
        return value
