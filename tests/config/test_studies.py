"""Studies: variants x grid x repeat, seeds, names, provenance of errors, reproducibility."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hw2.config import ConfigError, expand_study, is_study, load_experiment, overrides_to_args

BASE = "trainer: mlp\nseed: 10\nmodel:\n  name: mlp\noptimizer:\n  name: adam\n  lr: 0.001\n"

FULL = """
study: Full sweep
base: ../exp/base.yaml
description: everything at once
set:
  train.epochs: 4
variants:
  - name: small
    set:
      model.hidden: [32]
  - name: big
    description: wider
    set:
      model: {hidden: [512, 256]}
grid:
  optimizer.name: [sgd, momentum, adam]
  optimizer.lr: [0.1, 0.01]
repeat: 3
"""


@pytest.fixture
def full(write_yaml: Callable[[str, str], Path]) -> Path:
    write_yaml("exp/base.yaml", BASE)
    return write_yaml("studies/full.yaml", FULL)


def test_counts_seeds_and_names(full: Path) -> None:
    runs = expand_study(full)
    assert len(runs) == 2 * 3 * 2 * 3
    assert len({r.name for r in runs}) == len(runs)
    assert {r.study for r in runs} == {"Full sweep"}
    assert runs[0].name == "small-optimizer-sgd-lr-0.1-s10"
    assert runs[-1].name == "big-optimizer-adam-lr-0.01-s12"
    assert sorted({r.cfg.seed for r in runs}) == [10, 11, 12]  # base seed .. base seed + repeat - 1
    assert {r.cfg.train.epochs for r in runs} == {4}
    small = [r for r in runs if r.name.startswith("small-")]
    big = [r for r in runs if r.name.startswith("big-")]
    assert {tuple(r.cfg.model.hidden) for r in small} == {(32,)}
    assert {tuple(r.cfg.model.hidden) for r in big} == {(512, 256)}
    combos = {(r.cfg.optimizer.name, r.cfg.optimizer.lr, r.cfg.seed) for r in big}
    assert len(combos) == 18
    for r in runs:
        assert r.cfg.name == r.name
        assert Path(r.config_path) == full.parent.parent / "exp" / "base.yaml"


def test_planned_runs_are_reproducible_from_base_and_overrides(full: Path) -> None:
    for run in expand_study(full, ["train.batch_size=64"]):
        again = load_experiment(run.config_path, overrides_to_args(run.overrides))
        # A study run's description is its variant's (see test_study_runs_describe_their_variant).
        assert again.model_copy(update={"name": run.name, "description": run.cfg.description}) == run.cfg
        assert run.overrides["train.batch_size"] == 64 and run.cfg.train.batch_size == 64


def test_cli_overrides_apply_to_every_run_last(full: Path) -> None:
    runs = expand_study(full, ["optimizer.lr=0.5", "seed=100"])
    assert {r.cfg.optimizer.lr for r in runs} == {0.5}
    assert sorted({r.cfg.seed for r in runs}) == [100, 101, 102]


def test_study_without_variants_or_grid(write_yaml: Callable[[str, str], Path]) -> None:
    write_yaml("base.yaml", "name: My base\n" + BASE)
    path = write_yaml("s.yaml", "study: Seeds\nbase: base.yaml\nrepeat: 2\n")
    runs = expand_study(path)
    assert [r.name for r in runs] == ["My_base-s10", "My_base-s11"]
    assert [r.overrides for r in runs] == [{"seed": 10}, {"seed": 11}]
    single = expand_study(write_yaml("one.yaml", "study: One\nbase: base.yaml\n"))
    assert [r.name for r in single] == ["My_base-s10"] and single[0].overrides == {}


def test_plain_experiment_expands_to_one_run(write_yaml: Callable[[str, str], Path]) -> None:
    path = write_yaml("exp.yaml", BASE)
    (run,) = expand_study(path, ["optimizer.lr=0.01"])
    assert (run.name, run.study, run.config_path, run.overrides) == (
        "exp",
        None,
        str(path),
        {"optimizer.lr": 0.01},
    )
    assert run.cfg.optimizer.lr == 0.01 and not is_study(path)


def test_study_runs_carry_variant_seed_and_study_file(full: Path) -> None:
    runs = expand_study(full)
    assert (runs[0].variant, runs[0].seed, runs[0].study_file) == (
        "small-optimizer-sgd-lr-0.1",
        10,
        str(full),
    )
    for r in runs:
        assert r.seed == r.cfg.seed and r.study_file == str(full)
        assert r.name == f"{r.variant}-s{r.seed}"  # the variant is the run name without its seed
    by_variant: dict[str | None, list[int | None]] = {}
    for r in runs:
        by_variant.setdefault(r.variant, []).append(r.seed)
    assert len(by_variant) == 2 * 3 * 2 and all(seeds == [10, 11, 12] for seeds in by_variant.values())


def test_study_without_variants_names_the_base_as_its_variant(write_yaml: Callable[[str, str], Path]) -> None:
    write_yaml("base.yaml", "name: My base\n" + BASE)
    path = write_yaml("s.yaml", "study: Seeds\nbase: base.yaml\nrepeat: 2\n")
    runs = expand_study(path)
    assert [(r.variant, r.seed, r.study_file) for r in runs] == [
        ("My_base", 10, str(path)),
        ("My_base", 11, str(path)),
    ]
    assert [r.cfg.description for r in runs] == ["Seeds: seed 10", "Seeds: seed 11"]


def test_plain_experiment_has_no_variant(write_yaml: Callable[[str, str], Path]) -> None:
    (run,) = expand_study(write_yaml("exp.yaml", BASE + "description: the base\n"), ["seed=3"])
    assert (run.variant, run.seed, run.study_file, run.cfg.description) == (None, 3, None, "the base")


def test_study_runs_describe_their_variant(full: Path) -> None:
    """Not the base experiment's description: the variant's own, or one composed from the study."""
    base = full.parent.parent / "exp" / "base.yaml"
    base.write_text(BASE + "description: Adam lr 1e-3, 10 epochs\n", encoding="utf-8")
    runs = {r.name: r for r in expand_study(full)}
    small = runs["small-optimizer-sgd-lr-0.1-s10"].cfg.description
    assert small == "Full sweep: variant small, optimizer.name=sgd, optimizer.lr=0.1, seed 10"
    assert runs["small-optimizer-adam-lr-0.01-s12"].cfg.description.endswith("optimizer.lr=0.01, seed 12")
    # A variant with a description of its own keeps it (plus its grid cell).
    assert runs["big-optimizer-momentum-lr-0.1-s11"].cfg.description == (
        "wider (optimizer.name=momentum, optimizer.lr=0.1)"
    )
    assert not any("Adam lr 1e-3" in r.cfg.description for r in runs.values())


def test_a_description_set_on_purpose_is_kept(full: Path) -> None:
    runs = expand_study(full, ["description=set on the command line"])
    assert {r.cfg.description for r in runs} == {"set on the command line"}


def test_shipped_optimizer_study_runs_describe_their_optimizer() -> None:
    """The defect in issue 9: an sgd-s0 run's config.yaml said "Adam lr 1e-3, 10 epochs"."""
    study = Path(__file__).resolve().parents[2] / "configs" / "studies" / "2.1.4-optimizers.yaml"
    runs = {r.name: r for r in expand_study(study)}
    base = load_experiment(runs["sgd-s0"].config_path)
    sgd = runs["sgd-s0"]
    assert (sgd.variant, sgd.seed, sgd.study_file) == ("sgd", 0, str(study))
    assert sgd.cfg.description.startswith("2.1.4 Optimizers") and "variant sgd, seed 0" in sgd.cfg.description
    assert base.description and sgd.cfg.description != base.description


def test_is_study(write_yaml: Callable[[str, str], Path], tmp_path: Path) -> None:
    assert is_study(write_yaml("a.yaml", "study: x\nbase: y.yaml\n"))
    assert is_study(write_yaml("b.yaml", "studdy: x\nbase: y.yaml\n"))  # a typo'd study is still a study
    assert not is_study(write_yaml("c.yaml", BASE))
    assert not is_study(write_yaml("d.yaml", "study: [\n"))
    assert not is_study(tmp_path / "missing.yaml")


S = "study: T\nbase: base.yaml\n"

# (id, study text, line, field, substrings)
STUDY_ERRORS = [
    (
        "variant-bad-value",
        S + "variants:\n  - name: ok\n  - name: bad\n    set:\n      optimizer.lr: -1\n",
        7,
        "optimizer.lr",
        ("variant 'bad'", "must be > 0"),
    ),
    (
        "variant-unknown-key",
        S + "variants:\n  - name: v\n    set:\n      optimizer.lrr: 1\n",
        6,
        "optimizer.lrr",
        ("variant 'v'", "did you mean 'lr'?"),
    ),
    (
        "variant-nested-value",
        S + "variants:\n  - name: v\n    set:\n      optimizer:\n        name: adamw\n",
        7,
        "optimizer.name",
        ("variant 'v'", "did you mean 'adam'?"),
    ),
    (
        "duplicate-variant",
        S + "variants:\n  - name: a\n  - name: a\n",
        5,
        "variants[1].name",
        ("duplicate variant name 'a'",),
    ),
    ("variant-name-chars", S + "variants:\n  - name: 'a b/c'\n", 4, "variants[0].name", ("not allowed",)),
    (
        "variant-without-name",
        S + "variants:\n  - set: {seed: 1}\n",
        4,
        "variants[0].name",
        ("missing required key 'name'",),
    ),
    ("set-unknown-key", S + "set:\n  train.epoch: 3\n", 4, "train.epoch", ("did you mean 'epochs'?",)),
    ("set-bad-value", S + "set:\n  train.epochs: 0\n", 4, "train.epochs", ("must be >= 1",)),
    (
        "grid-bad-value",
        S + "grid:\n  optimizer.name:\n    - sgd\n    - adamw\n",
        6,
        "optimizer.name",
        ("grid optimizer.name='adamw'", "did you mean 'adam'?"),
    ),
    ("grid-empty", S + "grid:\n  optimizer.name: []\n", 4, "grid.optimizer.name", ("has no values",)),
    ("grid-not-list", S + "grid:\n  optimizer.name: adam\n", 4, "grid.optimizer.name", ("a list",)),
    (
        "grid-unknown-key",
        S + "grid:\n  optimiser.name: [sgd]\n",
        4,
        "optimiser",
        ("did you mean 'optimizer'?",),
    ),
    ("repeat-zero", S + "repeat: 0\n", 3, "repeat", ("must be >= 1",)),
    (
        "too-many-runs",
        S + "grid:\n  seed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]\nrepeat: 100\n",
        3,
        "grid",
        ("1100 runs",),
    ),
    ("seed-overflow", S + "set:\n  seed: 2147483647\nrepeat: 2\n", 5, "seed", ("repeat 2", "must be <=")),
    ("missing-base-file", "study: T\nbase: nope.yaml\n", 2, "base", ("file not found",)),
    ("base-is-a-study", "study: T\nbase: s.yaml\n", 2, "base", ("itself a study",)),
    ("missing-base-key", "study: T\n", 1, "base", ("missing required key 'base'",)),
    ("typo-in-study-key", "studdy: T\nbase: base.yaml\n", 1, "studdy", ("did you mean 'study'?",)),
    ("unknown-study-key", S + "variantz: []\n", 3, "variantz", ("did you mean 'variants'?",)),
    (
        "set-inside-scalar",
        S + "set:\n  optimizer: adam\n  optimizer.lr: 0.1\n",
        4,
        "optimizer",
        ("must be a mapping",),
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "parts"), [c[1:] for c in STUDY_ERRORS], ids=[c[0] for c in STUDY_ERRORS]
)
def test_study_errors_name_the_study_file_and_line(
    write_yaml: Callable[[str, str], Path], text: str, line: int, field: str, parts: tuple[str, ...]
) -> None:
    write_yaml("base.yaml", BASE)
    path = write_yaml("s.yaml", text)
    with pytest.raises(ConfigError) as info:
        expand_study(path)
    err = info.value
    assert (err.file, err.line, err.field) == (str(path), line, field), str(err)
    for part in parts:
        assert part in str(err), str(err)


def test_error_in_the_base_names_the_base_and_the_study(write_yaml: Callable[[str, str], Path]) -> None:
    base = write_yaml("base.yaml", BASE + "train:\n  epochs: 0\n")
    path = write_yaml("s.yaml", S)
    with pytest.raises(ConfigError) as info:
        expand_study(path)
    assert (info.value.file, info.value.line, info.value.field) == (str(base), 9, "train.epochs")
    assert f"base of study {path}" in str(info.value)


def test_cli_error_in_a_study_names_set(write_yaml: Callable[[str, str], Path]) -> None:
    write_yaml("base.yaml", BASE)
    path = write_yaml("s.yaml", S + "variants:\n  - name: a\n")
    with pytest.raises(ConfigError) as info:
        expand_study(path, ["seed=1", "optimizer.momentum=1.5"])
    assert (info.value.file, info.value.line, info.value.field) == ("--set", 2, "optimizer.momentum")
