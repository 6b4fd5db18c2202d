"""Run keys: what makes two runs the same computation (:func:`identity`: twins), a config's hash
(:func:`config_hash`: a resume checks it) and the memory key a launch's estimate is shared under
(:func:`memory_key`). Pure functions of a resolved config; nothing here touches a runs folder.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # pydantic costs a quarter second to import; `ls` and `kill` never need it
    from hw2.schema import ExperimentConfig


_ADDED_LATER: Final = ("optimizer.schedule", "model.block_dropout")
"""Config sections added to the schema after runs were recorded: at their defaults they are left
out of a run's identity and hash, so a run recorded without them stays the twin of the same config
written today. A section added to the schema later goes here, and nowhere else."""


def _dumped(cfg: ExperimentConfig | dict[str, Any]) -> dict[str, Any]:
    """The config as a dict, less the :data:`_ADDED_LATER` sections that sit at their defaults."""
    data = dict(cfg) if isinstance(cfg, dict) else cfg.model_dump(mode="json")
    for dotted, default in _later_defaults().items():
        *parents, key = dotted.split(".")
        holder: Any = data
        for part in parents:
            holder = holder.get(part) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and holder.get(key) == default:
            # copy the path down to the section, so the caller's dict is left as it was
            data = _without(data, [*parents, key])
    return data


def _without(data: dict[str, Any], path: list[str]) -> dict[str, Any]:
    head, *rest = path
    if not rest:
        return {k: v for k, v in data.items() if k != head}
    return {**data, head: _without(data[head], rest)}


@functools.cache
def _later_defaults() -> dict[str, Any]:
    """Each :data:`_ADDED_LATER` section's default, as the schema dumps it."""
    from hw2.schema import ExperimentConfig

    out = {}
    for dotted in _ADDED_LATER:
        # walk the schema's classes, not an instance: some parents (model) have no default
        owner: Any = ExperimentConfig
        *parents, key = dotted.split(".")
        for part in parents:
            owner = owner.model_fields[part].annotation
        field = owner.model_fields[key]
        default = field.get_default(call_default_factory=True)
        out[dotted] = default.model_dump(mode="json") if hasattr(default, "model_dump") else default
    return out


def config_hash(cfg: ExperimentConfig | dict[str, Any]) -> str:
    """Hash of what a run computes (name/description excluded): runs of "the same config" share it."""
    data = _dumped(cfg)
    data.pop("name", None)
    data.pop("description", None)
    return _hash(data)


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


# Config keys (dotted) left out of a run's identity: free text, and where the data lives on this
# machine (the same files anywhere give the same run).
NOT_IDENTITY: Final = frozenset({"name", "description", "data.data_dir"})


def identity(cfg: ExperimentConfig | dict[str, Any], *, smoke: bool = False) -> str:
    """A run's identity: the hash of its resolved config, seed included, name, description and
    ``data.data_dir`` left out. Two runs with one identity compute the same thing (twins); a sweep
    does not queue a run whose twin is done, queued or running (:func:`plan_sweep`).

    A smoke run (:func:`hw2.config.smoke_config`) has ``smoke=True`` folded in, so a smoke run
    and a real run are never twins, whatever their configs.
    """
    data = _dumped(cfg)
    kept = {k: v for k, v in _flat(data).items() if k not in NOT_IDENTITY}
    if smoke:
        kept["<smoke>"] = True
    return _hash(kept)


# Config keys (dotted) that do not change how much GPU memory a run takes, left out of its memory
# key. Everything else is in it: the trainer and the whole model (which network, its widths, batch
# norm), train.batch_size (activations scale with it), the optimizer's *name* (plain SGD keeps no
# state, momentum one tensor per weight, Adam two), data.dataset/subset/test_subset (with
# perf.data_on_device the decoded set lives on the GPU), augment.enabled/crop_padding (extra and
# padded batch tensors) and the perf settings (device, precision, memory format, compilation,
# Keras backend and XLA). A key not listed here counts, so a field added to the schema later can
# only keep runs apart, never make two runs of different sizes share a measured peak.
_NOT_MEMORY: Final = frozenset(
    {
        "name",  # free text
        "description",
        "seed",  # same tensors, other numbers
        "data.data_dir",  # where the files are, not their size
        "data.val_split",  # splits one set: the total on the device is the same
        "data.normalize",  # float32 either way
        "optimizer.schedule",  # the lr per epoch: one number either way
        "model.activation",  # same tensor shapes for relu/tanh/sigmoid/linear
        "model.l1",  # regularisation strengths: a scalar in the loss
        "model.l2",
        "augment.rotation",  # amounts, not sizes
        "augment.translation",
        "augment.zoom",
        "augment.flip",
        "optimizer.lr",  # hyper-parameter values: no tensor changes size
        "optimizer.momentum",
        "optimizer.nesterov",
        "optimizer.weight_decay",
        "train.epochs",  # how long, not how big
        "train.early_stopping",  # the best weights are kept in every run (test on best weights)
        "train.progress_every",
        "perf.num_workers",  # host processes, not GPU memory
        "perf.threads",
    }
)


def memory_key(cfg: ExperimentConfig | dict[str, Any]) -> str:
    """Hash of what determines a run's GPU memory: runs sharing it share a measured memory peak.

    Two runs of one study that differ only in seed, learning rate, epochs or regularisation share
    it; a different batch size, model, optimizer kind or precision does not (:data:`_NOT_MEMORY`).
    ``model.dropout`` and ``model.block_dropout`` count only as on/off: a dropout layer keeps a
    mask whatever its rate.
    """
    kept = {k: v for k, v in _flat(_dumped(cfg)).items() if not any(_within(k, x) for x in _NOT_MEMORY)}
    for key in ("model.dropout", "model.block_dropout"):
        if kept.get(key) is not None:
            kept[key] = bool(kept[key])
    return _hash(kept)


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, path + "."))
        else:
            out[path] = value
    return out


def _within(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(prefix + ".")
