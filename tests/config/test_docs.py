"""docs/configs.md stays true: the generated reference matches the schema, the example study works."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from hw2.config import REFERENCE_BEGIN, REFERENCE_END, expand_study, schema_reference
from hw2.schema import ExperimentConfig, StudySpec
from tests.conftest import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "configs.md"


def test_reference_is_up_to_date() -> None:
    text = DOC.read_text(encoding="utf-8")
    block = text[text.index(REFERENCE_BEGIN) + len(REFERENCE_BEGIN) : text.index(REFERENCE_END)]
    assert block.strip() == schema_reference().strip(), (
        "docs/configs.md is stale: run python -m hw2.config --write-docs docs/configs.md"
    )


def test_reference_covers_every_field() -> None:
    ref = schema_reference()
    for name, info in ExperimentConfig.model_fields.items():
        assert f"| `{name}` |" in ref
        sub = info.annotation
        for sub_name in getattr(sub, "model_fields", {}):
            assert f"| `{name}.{sub_name}` |" in ref
    assert "| `train.early_stopping.patience` |" in ref
    for name in StudySpec.model_fields:
        assert f"| `{name}` |" in ref
    assert "| `optimizer.lr` | a number | `0.01` | 0 < lr <= 10 |" in ref


def test_the_documented_example_study_expands_as_described(write_yaml: Callable[[str, str], Path]) -> None:
    text = DOC.read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(study:.*?)```", text, re.S)
    assert example is not None
    write_yaml("mlp/baseline.yaml", (PROJECT_ROOT / "configs/mlp/baseline.yaml").read_text(encoding="utf-8"))
    study = write_yaml("studies/example.yaml", example.group(1))
    runs = expand_study(study)
    assert len(runs) == 12
    assert "sgd-batch_size-64-s1" in {r.name for r in runs}
    adam = [r for r in runs if r.name.startswith("adam-")]
    assert {(r.cfg.optimizer.name, r.cfg.optimizer.lr, r.cfg.train.epochs) for r in adam} == {
        ("adam", 0.001, 20)
    }
