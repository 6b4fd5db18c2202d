"""Extra trainers registered through HW2_EXTRA_TRAINERS, and the launcher's module lookup."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hw2.config import ConfigError, load_experiment, trainer_module

FAKE = "trainer: fake\nmodel:\n  name: anything-goes\n"


def test_builtin_modules() -> None:
    assert trainer_module("mlp") == "trainers.mlp"
    assert trainer_module("cnn") == "trainers.cnn"
    with pytest.raises(ConfigError, match="did you mean 'mlp'"):
        trainer_module("mpl")


def test_unregistered_trainer_is_an_error(write_yaml: Callable[[str, str], Path]) -> None:
    with pytest.raises(ConfigError) as info:
        load_experiment(write_yaml("f.yaml", FAKE))
    assert (info.value.line, info.value.field) == (1, "trainer")
    assert "HW2_EXTRA_TRAINERS" in str(info.value)


def test_registered_trainer_accepts_any_model(
    write_yaml: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW2_EXTRA_TRAINERS", "fake=tests.fake_trainer, other=pkg.mod.train")
    cfg = load_experiment(write_yaml("f.yaml", FAKE))
    assert (cfg.trainer, cfg.model.name) == ("fake", "anything-goes")
    assert trainer_module("fake") == "tests.fake_trainer"
    assert trainer_module("other") == "pkg.mod.train"
    # Built-in trainers keep their model check.
    with pytest.raises(ConfigError, match="unknown model 'anything-goes' for trainer cnn"):
        load_experiment(write_yaml("c.yaml", "trainer: cnn\nmodel: {name: anything-goes}\n"))


@pytest.mark.parametrize(
    "spec", ["fake", "fake=", "=tests.fake_trainer", "fake=tests/fake.py", "cnn=tests.fake_trainer"]
)
def test_malformed_registration_is_a_config_error(
    write_yaml: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch, spec: str
) -> None:
    monkeypatch.setenv("HW2_EXTRA_TRAINERS", spec)
    with pytest.raises(ConfigError, match="HW2_EXTRA_TRAINERS") as info:
        load_experiment(write_yaml("f.yaml", FAKE))
    assert (info.value.line, info.value.field) == (1, "trainer")
    with pytest.raises(ConfigError, match="HW2_EXTRA_TRAINERS"):
        trainer_module("fake")
