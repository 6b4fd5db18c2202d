"""Typed experiment configuration (the schema of one YAML file in ``configs/``).

This module only *describes* a config; reading YAML, line numbers, "did you mean"
hints, studies/sweeps and ``--set`` overrides live in :mod:`hw2.config`.

Every model forbids unknown keys so a typo is an error, never silently ignored.
UI-free and framework-free: importing this never imports textual, torch or tensorflow.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TRAINERS = ("mlp", "cnn")
MLP_MODELS = ("mlp",)
CNN_MODELS = ("base", "no_relu", "pool_conv", "deeper", "regularized")
OPTIMIZERS = ("sgd", "momentum", "adam")
DATASET_OF_TRAINER = {"mlp": "mnist", "cnn": "cifar10"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Strict):
    """Where the data comes from and how the training set is split."""

    dataset: Literal["mnist", "cifar10"] | None = Field(
        None, description="Defaults to the trainer's dataset (mlp: mnist, cnn: cifar10)."
    )
    val_split: float = Field(
        0.1, ge=0.0, lt=1.0, description="Fraction of the training set held out for validation (fixed by seed)."
    )
    subset: int | None = Field(
        None, ge=1, description="Use only this many training examples (quick experiments and tests)."
    )
    test_subset: int | None = Field(None, ge=1, description="Use only this many test examples.")
    data_dir: str | None = Field(None, description="Local data folder; overrides HW2_DATA_DIR.")
    normalize: Literal["standard", "unit"] = Field(
        "standard",
        description="standard: per-channel mean/std (the tutorial uses 0.5/0.5 for CIFAR); unit: x/255.",
    )


class ModelConfig(_Strict):
    """Network architecture. ``name`` picks the model; other fields tune it."""

    name: str = Field(..., description="mlp (trainer mlp) or base|no_relu|pool_conv|deeper|regularized (trainer cnn).")
    hidden: list[int] = Field(default_factory=lambda: [256, 128], description="MLP hidden layer widths.")
    activation: Literal["relu", "tanh", "sigmoid", "linear"] = "relu"
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout rate after each hidden layer.")
    l1: float = Field(0.0, ge=0.0, description="L1 kernel regulariser (MLP Dense layers).")
    l2: float = Field(0.0, ge=0.0, description="L2 kernel regulariser (MLP Dense layers).")
    batch_norm: bool = Field(False, description="BatchNorm after convolutions (CNN regularized model).")

    @model_validator(mode="after")
    def _hidden_positive(self) -> ModelConfig:
        if any(h < 1 for h in self.hidden):
            raise ValueError("hidden widths must be >= 1")
        return self


class AugmentConfig(_Strict):
    """Data augmentation applied to training batches only."""

    enabled: bool = False
    # MLP (Keras preprocessing layers on 28x28 images before flattening)
    rotation: float = Field(0.05, ge=0.0, le=0.5, description="RandomRotation factor (fraction of 2*pi).")
    translation: float = Field(0.1, ge=0.0, le=0.5, description="RandomTranslation factor (fraction of size).")
    zoom: float = Field(0.1, ge=0.0, le=0.5, description="RandomZoom factor.")
    # CNN
    flip: bool = Field(True, description="Random horizontal flip (CNN).")
    crop_padding: int = Field(4, ge=0, le=16, description="Random crop after zero padding by this many pixels (CNN).")


class OptimizerConfig(_Strict):
    name: Literal["sgd", "momentum", "adam"] = "sgd"
    lr: float = Field(0.01, gt=0.0, le=10.0, description="Learning rate (> 0).")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="Momentum, used when name is 'momentum'.")
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0.0, description="Decoupled weight decay / L2 penalty (CNN).")


class EarlyStoppingConfig(_Strict):
    enabled: bool = False
    monitor: Literal["val_loss", "val_acc"] = "val_loss"
    patience: int = Field(3, ge=1)
    min_delta: float = Field(0.0, ge=0.0)


class TrainConfig(_Strict):
    epochs: int = Field(10, ge=1, le=10_000, description="Number of epochs (>= 1).")
    batch_size: int = Field(128, ge=1, le=65_536)
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    progress_every: int = Field(
        0, ge=0, description="Write a progress line every N batches (0: about 20 per epoch)."
    )


class PerfConfig(_Strict):
    """Speed knobs. Defaults are safe everywhere; see bench/ for what they buy."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    data_on_device: bool = Field(True, description="CNN: keep the decoded dataset as tensors on the GPU.")
    amp: bool = Field(False, description="CNN: bf16 autocast on CUDA.")
    channels_last: bool = False
    compile: bool = Field(False, description="CNN: torch.compile the model.")
    num_workers: int = Field(0, ge=0, le=64, description="DataLoader workers (0: in-process batched indexing).")
    keras_backend: Literal["tensorflow", "torch", "jax"] = "tensorflow"
    jit_compile: bool | Literal["auto"] = Field("auto", description="MLP: Keras jit_compile (XLA).")
    threads: int | None = Field(None, ge=1, description="CPU threads for the framework (default: all cores).")


class ExperimentConfig(_Strict):
    """One experiment = one run when launched."""

    name: str | None = Field(None, description="Display name; defaults to the file name.")
    description: str = ""
    trainer: str = Field(..., description="mlp (Keras, MNIST) or cnn (PyTorch, CIFAR-10).")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    perf: PerfConfig = Field(default_factory=PerfConfig)

    @property
    def dataset(self) -> str:
        return self.data.dataset or DATASET_OF_TRAINER.get(self.trainer, "mnist")
