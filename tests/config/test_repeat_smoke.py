"""``repeat`` given at launch (``--repeat N``) and smoke configs (issue 10 §1, §5)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hw2.config import ConfigError, expand_study, load_experiment, smoke_config, smoke_planned
from tests.conftest import PROJECT_ROOT

MLP = PROJECT_ROOT / "configs" / "mlp" / "baseline.yaml"
OPTIMIZERS = PROJECT_ROOT / "configs" / "studies" / "2.1.4-optimizers.yaml"


def test_repeat_at_launch_replaces_the_studys_repeat() -> None:
    runs = expand_study(OPTIMIZERS, repeat=3)
    assert [(r.variant, r.seed) for r in runs] == [
        (v, s) for v in ("sgd", "momentum", "adam") for s in (0, 1, 2)
    ]
    assert [r.name for r in runs[:3]] == ["sgd-s0", "sgd-s1", "sgd-s2"]
    assert [r.cfg.seed for r in runs[:3]] == [0, 1, 2] and runs[1].overrides["seed"] == 1
    assert len(expand_study(OPTIMIZERS, repeat=1)) == 3


def test_repeat_on_an_experiment_gives_seeds_that_group(write_yaml: Callable[..., Path]) -> None:
    runs = expand_study(MLP, ["seed=5"], repeat=3)
    assert [(r.name, r.seed, r.cfg.seed, r.variant) for r in runs] == [
        (f"mlp-baseline-s{s}", s, s, "mlp-baseline") for s in (5, 6, 7)
    ]
    assert all(r.study is None and r.config_path == str(MLP) for r in runs)
    [one] = expand_study(MLP, repeat=1)
    assert one.name == "mlp-baseline" and one.variant is None  # as without --repeat


@pytest.mark.parametrize("bad", [0, 101, -1, True, 2.5, "3"])
def test_a_bad_repeat_is_one_line_naming_the_field(bad: object) -> None:
    with pytest.raises(ConfigError) as err:
        expand_study(OPTIMIZERS, repeat=bad)  # type: ignore[arg-type]
    assert err.value.field == "repeat"
    assert str(err.value).startswith("repeat: must be 1..100") and "\n" not in str(err.value)


def test_repeat_past_the_largest_seed_names_the_seed(write_yaml: Callable[..., Path]) -> None:
    path = write_yaml("big.yaml", "trainer: mlp\nseed: 2147483647\nmodel: {name: mlp}\n")
    with pytest.raises(ConfigError) as err:
        expand_study(path, repeat=2)
    assert err.value.field == "seed" and err.value.file == str(path)


def test_smoke_config_shrinks_only_size_and_length() -> None:
    cfg = load_experiment(MLP)
    smoke = smoke_config(cfg)
    assert (smoke.data.subset, smoke.data.test_subset, smoke.train.epochs) == (128, 32, 1)  # 2 x batch 64
    assert smoke.name == "smoke-mlp-baseline"
    rest = {k: v for k, v in smoke.model_dump().items() if k not in {"name", "data", "train"}}
    assert rest == {k: v for k, v in cfg.model_dump().items() if k not in {"name", "data", "train"}}
    assert smoke.train.batch_size == cfg.train.batch_size and smoke.data.val_split == cfg.data.val_split
    assert cfg.train.epochs == 10 and cfg.data.subset is None, "the original is left alone"
    assert smoke_config(smoke).name == smoke.name  # the prefix once


@pytest.mark.parametrize(
    ("batch", "subset", "expected"), [(4, None, 64), (64, None, 128), (4096, None, 1024), (64, 50, 50)]
)
def test_smoke_subset_is_two_batches_within_bounds(batch: int, subset: int | None, expected: int) -> None:
    cfg = load_experiment(MLP, [f"train.batch_size={batch}", f"data.subset={subset or 'null'}"])
    assert smoke_config(cfg).data.subset == expected


def test_smoke_planned_keeps_file_and_variant() -> None:
    [run] = expand_study(OPTIMIZERS)[:1]
    smoke = smoke_planned(run)
    assert (smoke.name, smoke.variant, smoke.study_file, smoke.seed) == (
        "smoke-sgd-s0",
        "sgd",
        run.study_file,
        run.seed,
    )
    assert smoke.cfg.train.epochs == 1 and run.cfg.train.epochs == 20
