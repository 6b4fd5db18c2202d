"""Homework 2.1: a Keras 3 ``Sequential`` MLP on full MNIST, run under the run contract.

Run as ``python -m trainers.mlp --config FILE --run-dir DIR [--data-dir D]``; :func:`trainers.common.main`
handles status, signals, failures and ``result.json``. This module only trains.

Order matters and is deliberate:

1. the data is loaded and prepared first (numpy only), so a missing or corrupt dataset fails the run
   in well under a second instead of after a ~10 s TensorFlow import;
2. ``KERAS_BACKEND`` (``perf.keras_backend``) is set *before* Keras is imported, because Keras fixes
   its backend at import time; with TensorFlow, GPU memory growth is switched on before anything
   allocates (so a second run or the CNN trainer can share the GPU) and the C++ logs are quietened;
3. everything is seeded with ``keras.utils.set_random_seed(cfg.seed)``.

The test metrics are always computed on the weights of the best validation epoch, which are
restored after training. Without early stopping the best epoch is the one with the highest
validation accuracy (as in the CNN trainer, so ``best_epoch``/``best_val_acc`` mean the same for
both); with early stopping it is the best by ``train.early_stopping.monitor`` (and ``min_delta``),
exactly the weights Keras' ``EarlyStopping(restore_best_weights=True)`` restores. The result's
``best_val_acc`` is the validation accuracy of that epoch, so it and ``test_acc`` describe one set of
weights; ``monitor`` in the result says which rule picked it.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np

from hw2 import contract
from hw2.schedule import phases, schedule_text
from hw2.schema import ExperimentConfig
from trainers import checkpoint as ckpt
from trainers.common import RunContext, epoch_boundary, main, raise_if_stopped

BACKEND_PACKAGES = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}
IMAGE_SHAPE = (28, 28)
N_PIXELS = 28 * 28
N_CLASSES = 10
EVAL_BATCH = 1024  # evaluation has no gradients: big batches only save Python overhead


# ------------------------------------------------------------------------------------------- data


@dataclass
class Prepared:
    """Flattened, normalised float32 splits ready for ``model.fit``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    background: float  # the value a blank (0) pixel has after normalisation: augmentation fills with it


def prepare_data(cfg: ExperimentConfig, data_dir: str | None) -> Prepared:
    """Load MNIST, apply ``data.subset``/``test_subset``, split off validation, flatten and normalise.

    Normalisation statistics come from the training split only, so nothing about the validation
    or test images leaks into training.
    """
    from trainers.data import load_mnist, split_validation

    arrays = load_mnist(data_dir)
    x_all, y_all = arrays.x_train, arrays.y_train
    x_test, y_test = arrays.x_test, arrays.y_test
    if cfg.data.subset is not None:
        x_all, y_all = x_all[: cfg.data.subset], y_all[: cfg.data.subset]
    if cfg.data.test_subset is not None:
        x_test, y_test = x_test[: cfg.data.test_subset], y_test[: cfg.data.test_subset]

    train_idx, val_idx = split_validation(len(x_all), cfg.data.val_split, cfg.seed)
    if len(val_idx) == 0 or len(train_idx) == 0:
        raise ValueError(
            f"data.val_split: {cfg.data.val_split} of {len(x_all)} training images leaves "
            f"{len(train_idx)} for training and {len(val_idx)} for validation; the MLP trainer needs both "
            "(it keeps the best-validation weights); fix: use a val_split such as 0.1 or a larger data.subset"
        )

    def flat(x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), N_PIXELS).astype(np.float32) / np.float32(255.0)

    x_tr, x_va, x_te = flat(x_all[train_idx]), flat(x_all[val_idx]), flat(x_test)
    background = 0.0
    if cfg.data.normalize == "standard":
        mean = np.float32(x_tr.mean(dtype=np.float64))
        std = np.float32(max(float(x_tr.std(dtype=np.float64)), 1e-6))
        x_tr, x_va, x_te = ((x - mean) / std for x in (x_tr, x_va, x_te))
        background = float(-mean / std)
    return Prepared(
        x_train=x_tr,
        y_train=y_all[train_idx].astype(np.int32),
        x_val=x_va,
        y_val=y_all[val_idx].astype(np.int32),
        x_test=x_te,
        y_test=y_test.astype(np.int32),
        background=background,
    )


def train_dataset(data: Prepared, batch_size: int, seed: int, start_epoch: int, epochs: int) -> Any:
    """The training batches of epochs ``start_epoch`` .. ``epochs - 1`` (0-based) as one tf.data stream.

    Epoch e's order is ``stateless_shuffle(range(n), seed=(seed, e))``: a function of the seed and
    the epoch alone, so a run resumed at epoch e sees the batches the uninterrupted run saw (Keras'
    own ``shuffle=True`` draws each epoch's order from TensorFlow's stateful global RNG, which no
    checkpoint can restore). The gather is batched, as in Keras' own array adapter.
    """
    import tensorflow as tf

    n = len(data.y_train)
    whole = tf.data.Dataset.from_tensors((data.x_train, data.y_train)).repeat()

    def batches_of_epoch(epoch: Any) -> Any:
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    indices = tf.data.Dataset.range(start_epoch, epochs).flat_map(batches_of_epoch)
    return (
        tf.data.Dataset.zip((indices, whole))
        .map(
            lambda idx, xy: (tf.gather(xy[0], idx), tf.gather(xy[1], idx)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        .prefetch(tf.data.AUTOTUNE)
    )


# -------------------------------------------------------------------------------------- framework


def framework_versions(backend: str | None = None) -> dict[str, str]:
    """Keras plus the backend package, read from package metadata (no framework import needed)."""
    backend = backend or os.environ.get("KERAS_BACKEND", "tensorflow")
    out: dict[str, str] = {}
    for name in ("keras", BACKEND_PACKAGES.get(backend, backend)):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def setup_framework(cfg: ExperimentConfig) -> tuple[Any, str, str | None]:
    """Select the backend, configure devices/threads, import Keras; returns ``(keras, device, gpu_name)``.

    Safe to call again in the same process with the same backend (tests do): settings that
    TensorFlow only accepts before its runtime starts are then left as they are.
    """
    backend = cfg.perf.keras_backend
    package = BACKEND_PACKAGES.get(backend, backend)
    if importlib.util.find_spec(package) is None:
        raise RuntimeError(
            f"perf.keras_backend: {backend!r} needs the {package!r} package, which is not installed; "
            "fix: use tensorflow or torch, or install it"
        )
    loaded = sys.modules.get("keras")
    if loaded is not None and loaded.backend.backend() != backend:
        raise RuntimeError(
            f"perf.keras_backend: this process already runs Keras on {loaded.backend.backend()!r}, "
            f"cannot switch to {backend!r}; fix: run each backend in its own process (python -m trainers.mlp)"
        )
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    want = cfg.perf.device
    threads = cfg.perf.threads
    device, gpu_name = "cpu", None

    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        try:
            if want == "cpu" and gpus:
                tf.config.set_visible_devices([], "GPU")
                gpus = []
            for gpu in gpus:  # before any tensor exists, or TF grabs (almost) all GPU memory
                tf.config.experimental.set_memory_growth(gpu, True)
            if threads:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
        except RuntimeError:  # runtime already initialised in this process: keep its settings
            gpus = tf.config.get_visible_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            gpu_name = str(details.get("device_name") or gpus[0].name)
            device = f"cuda:0 ({gpu_name})"
    elif backend == "torch":
        if want == "cpu":
            os.environ["KERAS_TORCH_DEVICE"] = "cpu"
        import torch

        if threads:
            torch.set_num_threads(threads)
        if want != "cpu" and torch.cuda.is_available():
            gpu_name = torch.cuda.get_device_name(0)
            device = f"cuda:0 ({gpu_name})"
    if want == "cuda" and gpu_name is None:
        raise RuntimeError(
            f"perf.device: 'cuda' but the {backend} backend sees no GPU; fix: set perf.device to auto or cpu"
        )

    import keras

    if backend != "tensorflow":
        _keep_tensorflow_off_gpu()
    keras.utils.set_random_seed(cfg.seed)
    return keras, device, gpu_name


def _keep_tensorflow_off_gpu() -> None:
    """Hide the GPUs from TensorFlow when another backend trains.

    ``keras.utils.set_random_seed`` imports TensorFlow (for tf.data seeds) whenever it is
    installed; hidden GPUs mean that TensorFlow can never reserve memory the real backend needs.
    Must run *after* ``import keras``: with torch, TensorFlow loaded before Keras pulls in
    torch._dynamo/triton crashes the process (two LLVM copies; a segfault, seen with TF 2.21 and
    torch 2.14).
    """
    try:
        import tensorflow as tf

        tf.config.set_visible_devices([], "GPU")
    except (ImportError, RuntimeError):
        pass


# ------------------------------------------------------------------------------------------ model


def build_model(keras: Any, cfg: ExperimentConfig, background: float = 0.0) -> Any:
    """The ``keras.Sequential`` MLP described by ``cfg.model`` and ``cfg.augment``.

    Input is the flattened 784-pixel image. With augmentation on, it is reshaped to 28x28x1 for the
    Keras random-transform layers (active only when training) and flattened again; out-of-image
    pixels are filled with the normalised background value, not reflected digit strokes.
    """
    layers = keras.layers
    m = cfg.model
    reg = None
    if m.l1 > 0 and m.l2 > 0:
        reg = keras.regularizers.L1L2(l1=m.l1, l2=m.l2)
    elif m.l1 > 0:
        reg = keras.regularizers.L1(m.l1)
    elif m.l2 > 0:
        reg = keras.regularizers.L2(m.l2)

    seq: list[Any] = [keras.Input(shape=(N_PIXELS,), name="pixels")]
    if cfg.augment.enabled:
        a = cfg.augment
        fill = {"fill_mode": "constant", "fill_value": background}
        seq.append(layers.Reshape((*IMAGE_SHAPE, 1), name="to_image"))
        if a.rotation > 0:
            seq.append(layers.RandomRotation(a.rotation, seed=cfg.seed, name="rotate", **fill))
        if a.translation > 0:
            seq.append(
                layers.RandomTranslation(
                    a.translation, a.translation, seed=cfg.seed + 1, name="translate", **fill
                )
            )
        if a.zoom > 0:
            seq.append(layers.RandomZoom(a.zoom, seed=cfg.seed + 2, name="zoom", **fill))
    seq.append(layers.Flatten(name="flatten"))
    for i, width in enumerate(m.hidden, start=1):
        seq.append(layers.Dense(width, activation=m.activation, kernel_regularizer=reg, name=f"hidden{i}"))
        if m.dropout > 0:
            seq.append(layers.Dropout(m.dropout, seed=cfg.seed + 10 + i, name=f"dropout{i}"))
    seq.append(layers.Dense(N_CLASSES, activation="softmax", kernel_regularizer=reg, name="output"))
    return keras.Sequential(seq, name="mlp")


def model_summary(model: Any) -> list[str]:
    """The model definition, one line per layer (name, type, output shape, parameters): the
    report's "model" section. Plain text, unlike ``model.summary()``'s box-drawn table."""
    lines = [f"{model.name} (keras.Sequential)"]
    for layer in model.layers:
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):
            shape = None
        extra = ""
        config = layer.get_config()
        if "activation" in config and config["activation"] not in (None, "linear"):
            extra = f", activation={config['activation']}"
        if "rate" in config:
            extra += f", rate={config['rate']}"
        lines.append(
            f"  {layer.name}: {type(layer).__name__} -> {shape}{extra}, {layer.count_params():,} params"
        )
    return lines


def build_optimizer(keras: Any, cfg: ExperimentConfig) -> Any:
    o = cfg.optimizer
    extra = {"weight_decay": o.weight_decay} if o.weight_decay > 0 else {}
    if o.name == "sgd":
        return keras.optimizers.SGD(learning_rate=o.lr, **extra)
    if o.name == "momentum":
        return keras.optimizers.SGD(learning_rate=o.lr, momentum=o.momentum, nesterov=o.nesterov, **extra)
    return keras.optimizers.Adam(learning_rate=o.lr, **extra)


def schedule_function(keras: Any, cfg: ExperimentConfig) -> Any | None:
    """``optimizer.schedule`` as a function of the 0-based epoch (None: constant, no callback).

    Each phase (:func:`hw2.schedule.phases`, where the definition lives) is one of Keras' own
    ``LearningRateSchedule`` objects, evaluated at the epoch index within its phase:
    ``PolynomialDecay`` (power 1, rising) for the warm-up, ``PiecewiseConstantDecay`` for step,
    ``CosineDecay`` for cosine, and ``CosineDecay`` with its linear warm-up for onecycle (the rise
    to ``max_lr``, then the cosine fall). ``keras.callbacks.LearningRateScheduler`` sets the result
    at the start of each epoch.
    """
    ph = phases(cfg)
    if ph.constant:
        return None
    sched = keras.optimizers.schedules
    warm = (
        sched.PolynomialDecay(
            initial_learning_rate=ph.lr * ph.warmup_start_factor,
            decay_steps=ph.warmup,
            end_learning_rate=ph.lr,
            power=1.0,
        )
        if ph.warmup
        else None
    )
    if ph.name == "step":
        # PiecewiseConstantDecay keeps values[i] while step <= boundaries[i]: the lr drops from the
        # first post-warm-up epoch index past each milestone (index m), so the boundary is m - 1
        main = sched.PiecewiseConstantDecay(
            boundaries=[m - 1 for m in ph.milestones],
            values=[ph.lr * ph.gamma**i for i in range(len(ph.milestones) + 1)],
        )
    elif ph.name == "cosine":
        main = sched.CosineDecay(initial_learning_rate=ph.lr, decay_steps=ph.main, alpha=ph.min_lr / ph.lr)
    elif ph.name == "onecycle":
        assert ph.max_lr is not None  # the schema requires it for onecycle
        main = sched.CosineDecay(
            initial_learning_rate=ph.lr,
            decay_steps=ph.fall,
            alpha=ph.min_lr / ph.max_lr,
            warmup_target=ph.max_lr,
            warmup_steps=ph.rise,
        )
    else:  # constant after a warm-up
        main = None

    def lr_of_epoch(epoch: int, _current: float | None = None) -> float:
        if warm is not None and epoch < ph.warmup:
            return float(keras.ops.convert_to_numpy(warm(epoch)))
        if main is None:
            return ph.lr
        return float(keras.ops.convert_to_numpy(main(epoch - ph.warmup)))

    return lr_of_epoch


def compile_model(keras: Any, model: Any, cfg: ExperimentConfig) -> None:
    model.compile(
        optimizer=build_optimizer(keras, cfg),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
        jit_compile=cfg.perf.jit_compile,
    )


# -------------------------------------------------------------------------------------- callbacks


def _better(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``value`` improves on ``best`` (NaN never does; anything beats a NaN best)."""
    if math.isnan(value):
        return False
    if best is None or math.isnan(best):
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def make_callbacks(
    keras: Any,
    ctx: RunContext,
    batches: int,
    *,
    writer: ckpt.BackgroundWriter | None = None,
    restored: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The contract callback, the best-weights keeper, (if enabled) Keras ``EarlyStopping`` and,
    with ``writer``, the checkpointer (``restored``: a checkpoint's state to continue from).

    Returned by role; ``list(result.values())`` is the order for ``fit``: EarlyStopping first and
    the best-weights keeper last, so the keeper's restore in ``on_train_end`` is the final word.
    """
    cfg = ctx.cfg
    es_cfg = cfg.train.early_stopping
    monitor, min_delta = (es_cfg.monitor, es_cfg.min_delta) if es_cfg.enabled else ("val_acc", 0.0)
    mode = "min" if monitor.endswith("loss") else "max"
    every = cfg.train.progress_every or max(1, batches // 20)

    class ContractLines(keras.callbacks.Callback):
        """Epoch and progress lines of the run contract.

        ``async_safe``: Keras then calls ``on_train_batch_end`` from a worker thread with the raw
        (device) logs, so the training loop never waits for a loss value to be copied back;
        the lock keeps lines whole. Batch logs hold the epoch's running means, as Keras reports them.
        """

        async_safe = True

        def __init__(self) -> None:
            super().__init__()
            self._lock = threading.Lock()
            self._epoch = 0
            self._last_batch = 0
            self._t0 = time.perf_counter()

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            epoch_boundary(epoch)  # the last epoch's checkpoint is handed over: a stop may happen here
            self._epoch = epoch + 1
            self._last_batch = 0
            self._t0 = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            done = batch + 1
            if done % every and done != batches:
                return
            logs = logs or {}
            with self._lock:
                # Worker threads may finish out of order: never write an older batch after a newer one.
                if done <= self._last_batch:
                    return
                self._last_batch = done
                ctx.progress(self._epoch, done, batches, logs.get("loss"), logs.get("acc"))

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            raise_if_stopped()
            logs = logs or {}
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            with self._lock:
                ctx.epoch(
                    epoch=epoch + 1,
                    train_loss=logs["loss"],
                    train_acc=logs["acc"],
                    val_loss=logs["val_loss"],
                    val_acc=logs["val_acc"],
                    lr=lr,
                    seconds=time.perf_counter() - self._t0,
                )

    class BestWeights(keras.callbacks.Callback):
        """Keeps the weights of the best epoch by ``monitor`` and restores them when training ends.

        Uses EarlyStopping's improvement rule (``min_delta``, first of equals wins), so with early
        stopping on it agrees with Keras on the best epoch; without, it is what restores them.
        """

        monitor_name = monitor

        def __init__(self) -> None:
            super().__init__()
            self.best: float | None = None
            self.best_epoch = 0
            self.best_logs: dict[str, float] = {}
            self.weights: list[Any] | None = None
            self.epochs_run = 0

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            self.epochs_run = epoch + 1
            value = float(logs[monitor])
            if self.weights is None or _better(value, self.best, mode, min_delta):
                self.best, self.best_epoch = value, epoch + 1
                self.best_logs = {k: float(v) for k, v in logs.items()}
                self.weights = self.model.get_weights()

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            if self.weights is not None:
                self.model.set_weights(self.weights)

    out: dict[str, Any] = {}
    lr_of_epoch = schedule_function(keras, cfg)
    if lr_of_epoch is not None:  # first: the epoch's lr is set before anyone reads it
        out["schedule"] = keras.callbacks.LearningRateScheduler(lr_of_epoch)
    if es_cfg.enabled:
        out["early_stopping"] = keras.callbacks.EarlyStopping(
            monitor=monitor,
            mode=mode,
            patience=es_cfg.patience,
            min_delta=es_cfg.min_delta,
            restore_best_weights=True,
        )
    out["contract"] = ContractLines()
    out["best"] = BestWeights()

    class Checkpointer(keras.callbacks.Callback):
        """Last: writes the checkpoint once every other callback has seen the epoch; on a resumed
        run, puts the checkpoint's counters back after the others' ``on_train_begin``."""

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            if restored is not None:
                apply_callback_state(out, restored)

        seconds = 0.0
        """Time on the training thread in :func:`save_checkpoint` (serialising, handing over)."""

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            t0 = time.perf_counter()
            save_checkpoint(keras, ctx.run_dir, self.model, out, epoch + 1, writer=writer)
            self.seconds += time.perf_counter() - t0

    if writer is not None:
        out["checkpoint"] = Checkpointer()
    return out


# ------------------------------------------------------------------------------------ checkpoints

CHECKPOINT_FORMAT = 1
"""Bumped when the checkpoint's keys change; a checkpoint of another format is refused."""


def _arrays(keras: Any, variables: list[Any], prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}/{i:04d}": np.asarray(keras.ops.convert_to_numpy(v)) for i, v in enumerate(variables)}


def save_checkpoint(
    keras: Any,
    run_dir: Any,
    model: Any,
    callbacks: dict[str, Any],
    epoch: int,
    *,
    writer: ckpt.BackgroundWriter | None = None,
) -> None:
    """Write ``checkpoint.npz`` (and ``best.npz`` when ``epoch`` is the best so far), atomically.

    ``checkpoint.npz`` (loads with ``allow_pickle=False``) holds the model's variables
    (``model.variables``: the weights and the dropout and augmentation layers' ``SeedGenerator``
    states), the optimizer's variables (iterations, lr, momentum / moments), the best epoch's
    weights, and ``meta``, a JSON string: the epoch just finished (1-based), whether training
    stopped early, the best-weights keeper's and EarlyStopping's counters, and Python's and NumPy's
    RNG states. The data order needs no state (:func:`train_dataset`).
    """
    best, es = callbacks["best"], callbacks.get("early_stopping")
    meta = {
        "format": CHECKPOINT_FORMAT,
        "trainer": "mlp",
        "epoch": epoch,
        "stopped_early": bool(model.stop_training),
        "best": {
            "best": best.best,
            "best_epoch": best.best_epoch,
            "best_logs": best.best_logs,
            "epochs_run": best.epochs_run,
        },
        "early_stopping": (
            None
            if es is None
            else {
                "wait": es.wait,
                "best": es.best,
                "best_epoch": es.best_epoch,
                "stopped_epoch": es.stopped_epoch,
            }
        ),
        "python_rng": ckpt.python_rng_state(),
        "numpy_rng": ckpt.numpy_rng_state(),
    }
    arrays = {
        "meta": np.array(json.dumps(meta)),
        **_arrays(keras, model.variables, "model"),
        **_arrays(keras, model.optimizer.variables, "optimizer"),
        **{f"best/{i:04d}": np.asarray(w) for i, w in enumerate(best.weights or [])},
    }
    files = []
    if best.best_epoch == epoch and best.weights is not None:
        best_arrays = {
            "epoch": np.array(epoch),
            **{f"best/{i:04d}": np.asarray(w) for i, w in enumerate(best.weights)},
        }
        files.append((run_dir / ckpt.KERAS_BEST, ckpt.npz_bytes(best_arrays)))
    files.append((run_dir / ckpt.KERAS_CHECKPOINT, ckpt.npz_bytes(arrays)))
    if writer is not None:
        writer.submit(files)
        return
    for path, data in files:
        ckpt.atomic_write(path, lambda f, data=data: f.write(data))


def _assign(where: Any, variables: list[Any], saved: dict[str, np.ndarray], prefix: str) -> None:
    keys = sorted(k for k in saved if k.startswith(prefix + "/"))
    if len(keys) != len(variables) or any(
        tuple(saved[k].shape) != tuple(v.shape) for k, v in zip(keys, variables, strict=True)
    ):
        raise ValueError(
            f"{where}: its {prefix} variables do not match this config's model; fix: delete it to start over"
        )
    for k, v in zip(keys, variables, strict=True):
        v.assign(saved[k])


def load_checkpoint(run_dir: Any, model: Any) -> dict[str, Any] | None:
    """Restore ``checkpoint.npz`` into a freshly built and compiled ``model`` (its variables, the
    optimizer's, the RNG states); returns the checkpoint's meta with ``best_weights`` added (for
    :func:`apply_callback_state`), or None when there is none. Temp files are never read."""
    where = run_dir / ckpt.KERAS_CHECKPOINT
    saved = ckpt.npz_load(where)
    if saved is None:
        return None
    meta = json.loads(str(saved["meta"]))
    if meta.get("format") != CHECKPOINT_FORMAT or meta.get("trainer") != "mlp":
        raise ValueError(
            f"{where}: not an mlp checkpoint of format {CHECKPOINT_FORMAT} "
            f"(trainer {meta.get('trainer')!r}, format {meta.get('format')!r}); fix: delete it to start over"
        )
    _assign(where, model.variables, saved, "model")
    model.optimizer.build(model.trainable_variables)
    _assign(where, model.optimizer.variables, saved, "optimizer")
    ckpt.set_python_rng_state(meta["python_rng"])
    ckpt.set_numpy_rng_state(meta["numpy_rng"])
    meta["best_weights"] = [saved[k] for k in sorted(k for k in saved if k.startswith("best/"))] or None
    return meta


def apply_callback_state(callbacks: dict[str, Any], meta: dict[str, Any]) -> None:
    """Put a checkpoint's counters back into the best-weights keeper and EarlyStopping (after their
    ``on_train_begin``, which resets them)."""
    best, es = callbacks["best"], callbacks.get("early_stopping")
    b = meta["best"]
    best.best, best.best_epoch, best.epochs_run = b["best"], b["best_epoch"], b["epochs_run"]
    best.best_logs = dict(b["best_logs"])
    best.weights = meta["best_weights"]
    e = meta["early_stopping"]
    if (e is None) != (es is None):
        raise ValueError("checkpoint: early stopping differs from the config's; fix: delete it to start over")
    if es is not None:
        es.wait, es.best, es.best_epoch, es.stopped_epoch = (
            e["wait"],
            e["best"],
            e["best_epoch"],
            e["stopped_epoch"],
        )
        es.best_weights = list(meta["best_weights"]) if meta["best_weights"] is not None else None


# ------------------------------------------------------------------------------------------ train


def _sync_versions(ctx: RunContext, backend: str) -> None:
    """Record the versions of the backend actually used (main() guessed from the environment)."""
    meta = contract.read_meta(ctx.run_dir)
    versions = dict(meta.versions) if meta else {}
    for pkg in BACKEND_PACKAGES.values():
        versions.pop(pkg, None)
    versions.update(framework_versions(backend))
    ctx.set_meta(versions=versions)


def fit_and_evaluate(ctx: RunContext) -> tuple[Any, dict[str, Any]]:
    """Train per ``ctx.cfg``; returns the model (best-validation weights restored) and the result."""
    cfg = ctx.cfg
    if cfg.trainer != "mlp" or cfg.model.name != "mlp":
        raise ValueError(
            f"trainer/model: trainers.mlp trains model 'mlp' (got trainer {cfg.trainer!r}, model {cfg.model.name!r}); "
            "fix: set trainer: mlp and model.name: mlp"
        )
    data_dir = ctx.data_dir or cfg.data.data_dir
    t_load = time.perf_counter()
    data = prepare_data(cfg, data_dir)
    ctx.log.info(
        "data: %d train / %d val / %d test images (%.1fs)",
        len(data.x_train),
        len(data.x_val),
        len(data.x_test),
        time.perf_counter() - t_load,
    )

    keras, device, gpu_name = setup_framework(cfg)
    backend = keras.backend.backend()
    ctx.set_meta(device=device, gpu_name=gpu_name, keras_backend=backend)
    _sync_versions(ctx, backend)

    model = build_model(keras, cfg, data.background)
    compile_model(keras, model, cfg)
    batches = math.ceil(len(data.x_train) / cfg.train.batch_size)
    restored = None
    if ctx.resume:
        ckpt.remove_stale_temps(ctx.run_dir)
        restored = load_checkpoint(ctx.run_dir, model)
        if restored is None:
            ctx.log.info("resume: no %s in the run folder, training from epoch 1", ckpt.KERAS_CHECKPOINT)
        else:
            ctx.log.info(
                "resume: from %s after epoch %d (best epoch %d)",
                ckpt.KERAS_CHECKPOINT,
                restored["epoch"],
                restored["best"]["best_epoch"],
            )
    start = restored["epoch"] if restored else 0
    if ctx.resume:
        ctx.rewind_metrics(start)  # metrics.jsonl holds each epoch once
    writer = ckpt.BackgroundWriter()  # checkpoints reach the disk while the next epoch trains
    callbacks = make_callbacks(keras, ctx, batches, writer=writer, restored=restored)
    ctx.log.info(
        "keras %s on %s, device %s, %d parameters, %d batches/epoch of %d",
        keras.__version__,
        backend,
        device,
        model.count_params(),
        batches,
        cfg.train.batch_size,
    )

    if not phases(cfg).constant:
        ctx.log.info("lr schedule: %s", schedule_text(cfg))

    best = callbacks["best"]
    if restored is not None and (restored["stopped_early"] or start >= cfg.train.epochs):
        apply_callback_state(callbacks, restored)  # training had ended: only the test is left
        if best.weights is not None:
            model.set_weights(best.weights)
    else:
        try:
            model.fit(
                train_dataset(data, cfg.train.batch_size, cfg.seed, start, cfg.train.epochs),
                steps_per_epoch=batches,
                initial_epoch=start,
                epochs=cfg.train.epochs,
                validation_data=(data.x_val, data.y_val),
                validation_batch_size=max(EVAL_BATCH, cfg.train.batch_size),
                verbose=0,
                callbacks=list(callbacks.values()),
            )
        except BaseException:
            writer.wait(raise_error=False)  # the last whole checkpoint is on disk before the run ends
            raise
    writer.wait()
    test = model.evaluate(
        data.x_test,
        data.y_test,
        batch_size=max(EVAL_BATCH, cfg.train.batch_size),
        verbose=0,
        return_dict=True,
    )
    epochs_run = best.epochs_run
    result: dict[str, Any] = {
        "test_loss": float(test["loss"]),
        "test_acc": float(test["acc"]),
        "best_epoch": best.best_epoch,
        "best_val_acc": best.best_logs["val_acc"],
        "best_val_loss": best.best_logs["val_loss"],
        "monitor": best.monitor_name,
        "total_seconds": time.time() - ctx.started,
        "params": int(model.count_params()),
        "model_summary": model_summary(model),
        "epochs_run": epochs_run,
        "stopped_early": epochs_run < cfg.train.epochs,
        "backend": backend,
        "device": device,
        "jit_compile": bool(getattr(model, "jit_compile", False)),
        "n_train": len(data.x_train),
        "n_val": len(data.x_val),
        "n_test": len(data.x_test),
        "checkpoint_seconds": round(callbacks["checkpoint"].seconds, 4),
        "checkpoint_write_seconds": round(writer.write_seconds, 4),
    }
    ctx.log.info(
        "best epoch %d (%s %.4f): test_loss %.4f  test_acc %.4f",
        best.best_epoch,
        result["monitor"],
        best.best,
        result["test_loss"],
        result["test_acc"],
    )
    return model, result


def train(ctx: RunContext) -> dict[str, Any]:
    """The trainer entry point for :func:`trainers.common.main`."""
    return fit_and_evaluate(ctx)[1]


if __name__ == "__main__":
    raise SystemExit(main(train, framework_versions=framework_versions))
