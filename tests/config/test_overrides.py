"""``--set key.path=value`` overrides: YAML scalar values, schema-checked keys, errors at ``--set``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hw2.config import ConfigError, load_experiment, overrides_to_args, parse_overrides

OK = "trainer: mlp\nmodel:\n  name: mlp\noptimizer:\n  name: adam\n  lr: 0.001\n"


def test_values_follow_yaml_scalar_semantics() -> None:
    assert parse_overrides(
        [
            "optimizer.lr=0.1",
            "train.epochs=3",
            "augment.enabled=true",
            "model.hidden=[512, 256]",
            "name=my run: v2",
            "data.subset=",
            "data.data_dir='/data/x'",
            "optimizer={name: sgd, lr: 0.5}",
        ]
    ) == {
        "optimizer.lr": 0.1,
        "train.epochs": 3,
        "augment.enabled": True,
        "model.hidden": [512, 256],
        "name": {"my run": "v2"},  # YAML reads 'a: b' as a mapping, as the file would
        "data.subset": None,
        "data.data_dir": "/data/x",
        "optimizer": {"name": "sgd", "lr": 0.5},
    }
    assert parse_overrides([]) == {} and parse_overrides(None) == {}


def test_overrides_apply_on_top_of_the_file(write_yaml: Callable[[str, str], Path]) -> None:
    path = write_yaml("e.yaml", OK)
    cfg = load_experiment(path, ["optimizer.lr=0.01", "train.early_stopping.enabled=yes", "seed=7"])
    assert cfg.optimizer.lr == 0.01 and cfg.optimizer.name == "adam"
    assert cfg.train.early_stopping.enabled and cfg.seed == 7
    # A mapping value merges into the section rather than replacing it.
    cfg = load_experiment(path, ["optimizer={lr: 0.5}"])
    assert (cfg.optimizer.name, cfg.optimizer.lr) == ("adam", 0.5)
    # Later overrides win.
    assert load_experiment(path, ["optimizer.lr=0.2", "optimizer.lr=0.3"]).optimizer.lr == 0.3


def test_overrides_round_trip() -> None:
    overrides = {"optimizer.lr": 1e-05, "model.hidden": [64, 32], "name": "a: b", "augment.enabled": False}
    assert parse_overrides(overrides_to_args(overrides)) == overrides


@pytest.mark.parametrize(
    ("args", "line", "field", "part"),
    [
        (["optimizer.lr"], 1, "optimizer.lr", "expected key.path=value"),
        (["seed=1", "optimzer.lr=1"], 2, "optimzer", "did you mean 'optimizer'?"),
        (["optimizer.lrr=1"], 1, "optimizer.lrr", "did you mean 'lr'?"),
        (["model.hidden.0=3"], 1, "model.hidden.0", "has no sub-keys"),
        (["=3"], 1, "<document>", "empty key"),
        (["optimizer.lr=[1"], 1, "optimizer.lr", "cannot read the value"),
        (["optimizer.lr=!!python/name:os.system"], 1, "optimizer.lr", "cannot read the value"),
    ],
)
def test_bad_override_syntax(args: list[str], line: int, field: str, part: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_overrides(args)
    err = info.value
    assert (err.file, err.line, err.field) == ("--set", line, field)
    assert part in str(err) and str(err).startswith(f"--set:{line}: ")


@pytest.mark.parametrize(
    ("args", "line", "field", "part"),
    [
        (["optimizer.lr=-1"], 1, "optimizer.lr", "must be > 0 (got -1)"),
        (["seed=3", "train.epochs=0"], 2, "train.epochs", "must be >= 1"),
        (["optimizer.name=adamw"], 1, "optimizer.name", "did you mean 'adam'?"),
        (["model.name=base"], 1, "model.name", "unknown model 'base' for trainer mlp"),
        (["train.epochs="], 1, "train.epochs", "whole number"),
        (["model={hidden: [1, 0]}"], 1, "model.hidden[1]", "must be >= 1"),
    ],
)
def test_bad_override_value_is_reported_at_its_position(
    write_yaml: Callable[[str, str], Path], args: list[str], line: int, field: str, part: str
) -> None:
    path = write_yaml("e.yaml", OK)
    with pytest.raises(ConfigError) as info:
        load_experiment(path, args)
    err = info.value
    assert (err.file, err.line, err.field) == ("--set", line, field), str(err)
    assert part in str(err)


def test_errors_in_the_file_still_point_at_the_file(write_yaml: Callable[[str, str], Path]) -> None:
    path = write_yaml("e.yaml", OK + "train:\n  epochs: 0\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(path, ["optimizer.lr=0.1"])
    assert (info.value.file, info.value.line, info.value.field) == (str(path), 8, "train.epochs")


def test_override_that_breaks_a_file_value_points_at_that_value(
    write_yaml: Callable[[str, str], Path],
) -> None:
    path = write_yaml("e.yaml", OK)
    with pytest.raises(ConfigError) as info:
        load_experiment(path, ["trainer=cnn"])  # the file's model 'mlp' no longer fits
    assert (info.value.file, info.value.line, info.value.field) == (str(path), 3, "model.name")
    assert "unknown model 'mlp' for trainer cnn" in str(info.value)


def test_setting_inside_a_scalar_names_the_file(write_yaml: Callable[[str, str], Path]) -> None:
    path = write_yaml("e.yaml", "trainer: mlp\nmodel: {name: mlp}\noptimizer: adam\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(path, ["optimizer.lr=0.1"])
    assert (info.value.file, info.value.line, info.value.field) == (str(path), 3, "optimizer")
    assert "must be a mapping" in str(info.value)


def test_non_text_override() -> None:
    with pytest.raises(ConfigError, match="must be text"):
        parse_overrides([3])  # type: ignore[list-item]
