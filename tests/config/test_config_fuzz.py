"""Property test: whatever YAML and overrides come in, the loader answers a config or a ConfigError.

The issue's bad-input rule: >= 1000 generated documents and overrides; each one either validates
or raises :class:`hw2.config.ConfigError` carrying a file, a line and a field, with a one-line
message — never any other exception. Documents are generated three ways: near-valid experiments
whose keys and values are perturbed (typos, wrong types, out-of-range numbers, NaN, nesting),
studies over a real base file, and raw text edits of those (which break the YAML itself).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw2.config import ConfigError, expand_study, is_study, load_experiment, parse_overrides
from hw2.schema import ExperimentConfig

SECTIONS = {
    name: list(info.annotation.model_fields)  # type: ignore[union-attr]
    for name, info in ExperimentConfig.model_fields.items()
    if isinstance(info.annotation, type) and hasattr(info.annotation, "model_fields")
}
TOP_KEYS = list(ExperimentConfig.model_fields)
DOTTED = (
    TOP_KEYS + [f"{s}.{k}" for s, keys in SECTIONS.items() for k in keys] + ["train.early_stopping.patience"]
)
WORDS = [
    "mlp",
    "cnn",
    "fake",
    "adam",
    "sgd",
    "momentum",
    "base",
    "deeper",
    "no_relu",
    "standard",
    "auto",
    "relu",
]
TYPOS = ["optimzer", "epoch", "lrr", "traner", "modle", "", " ", "a.b", "1", "<<", "on", "null"]

keys = st.sampled_from(TOP_KEYS + [k for ks in SECTIONS.values() for k in ks] + TYPOS) | st.text(max_size=8)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.5, 1.0, 1e-3, 2**31, 10.0, 11.0]),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=5,
)


# Plausible values, mostly in range, sometimes just outside it: the validators' edges.
plausible = st.one_of(
    st.sampled_from([0, 1, 2, 3, 32, 128, 0.0, 0.1, 0.5, 0.9, 0.99, 1.0, 1e-3, -1, 10.0, True, False, None]),
    st.sampled_from(["adam", "sgd", "momentum", "standard", "unit", "auto", "relu", "val_acc", "mnist"]),
    st.lists(st.integers(-1, 300), max_size=3),
)


@st.composite
def experiments(draw: st.DrawFn) -> dict[str, Any]:
    """A (usually) valid experiment, then 0-2 perturbations: a key dropped, added or its value replaced."""
    trainer = draw(st.sampled_from(["mlp", "mlp", "cnn", "cnn", "cnn", "fake"]))
    models = {"mlp": ["mlp"], "cnn": ["base", "no_relu", "deeper", "regularized"], "fake": ["x"]}[trainer]
    doc: dict[str, Any] = {
        "trainer": trainer,
        "model": {"name": draw(st.sampled_from([*models, *models, "bsae"]))},
    }
    if draw(st.booleans()):
        doc["name"] = draw(
            st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=12) | st.text(max_size=4)
        )
    for section in draw(st.lists(st.sampled_from(list(SECTIONS)), max_size=3, unique=True)):
        sub = draw(st.dictionaries(st.sampled_from(SECTIONS[section]), plausible, max_size=3))
        doc[section] = {**doc.get(section, {}), **sub}
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        action = draw(st.sampled_from(["set", "drop", "add", "nest"]))
        if not doc:
            break
        section = draw(st.sampled_from(list(doc)))
        if action == "drop":
            doc.pop(section, None)
        elif action == "add":
            doc[draw(keys)] = draw(values)
        elif action == "nest" and isinstance(doc.get(section), dict):
            doc[section][draw(keys)] = draw(values)
        else:
            doc[section] = draw(values)
    return doc


@st.composite
def studies(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "study": draw(st.text(max_size=20) | st.sampled_from(["S", "2.1.3"])),
        "base": "base.yaml",
    }
    if draw(st.booleans()):
        doc["base"] = draw(
            st.sampled_from(["base.yaml", "missing.yaml", "doc.yaml", "../base.yaml", "/", ""])
        )
    setter = st.dictionaries(st.sampled_from(DOTTED) | keys, values, max_size=3)
    if draw(st.booleans()):
        doc["set"] = draw(setter)
    if draw(st.booleans()):
        names = st.sampled_from(["a", "b", "a b", "x" * 50, ""]) | st.text(max_size=6)
        doc["variants"] = draw(
            st.lists(st.fixed_dictionaries({"name": names}, optional={"set": setter}), max_size=3) | values
        )
    if draw(st.booleans()):
        doc["grid"] = draw(
            st.dictionaries(st.sampled_from(DOTTED) | keys, st.lists(scalars, max_size=3), max_size=2)
            | values
        )
    if draw(st.booleans()):
        doc["repeat"] = draw(st.integers(-1, 5) | scalars)
    if draw(st.integers(0, 4)) == 0:
        doc[draw(keys)] = draw(values)
    return doc


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter: generation stays cheap


def _dump(doc: Any, **kw: Any) -> str:
    return yaml.dump(doc, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, **kw)


YAML_BITS = st.sampled_from(
    [
        ":",
        "-",
        " ",
        "\n",
        "\t",
        "[",
        "]",
        "{",
        "}",
        "&a",
        "*a",
        "!!",
        "#",
        "'",
        '"',
        "|",
        ">",
        "<<: *a",
        "---",
        "?",
        "%",
        "@",
        "\\x00",
    ]
)


@st.composite
def documents(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["experiment", "experiment", "study", "raw"]))
    if kind == "raw":
        return draw(
            st.text(max_size=80) | st.lists(YAML_BITS | st.text(max_size=5), max_size=20).map("".join)
        )
    text = _dump(draw(experiments() if kind == "experiment" else studies()))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):  # raw edits: insert or delete a few characters
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(YAML_BITS) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 5)) :]
    return text


override_values = st.one_of(
    scalars.map(lambda v: _dump(v, default_flow_style=True).removesuffix("\n...\n").strip()),
    st.text(max_size=12),
    st.sampled_from(["[1", "{a: 1}", "&a [*a]", "!!python/name:os.system", "a: b", "- x", "", "0.1", "1e-3"]),
)
overrides = st.one_of(
    st.just([]),
    st.just([]),
    st.lists(  # well-formed key=value pairs, values plausible or odd
        st.tuples(st.sampled_from(DOTTED), plausible.map(_dump).map(str.strip) | override_values).map(
            lambda kv: f"{kv[0]}={kv[1].removesuffix(chr(10) + '...').strip()}"
        ),
        min_size=1,
        max_size=2,
    ),
    st.lists(  # anything
        st.one_of(
            st.tuples(st.sampled_from(DOTTED) | keys, override_values).map(lambda kv: f"{kv[0]}={kv[1]}"),
            st.text(max_size=15),
        ),
        min_size=1,
        max_size=3,
    ),
)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fuzz")
    (d / "base.yaml").write_text("trainer: mlp\nmodel:\n  name: mlp\n", encoding="utf-8")
    return d


def _check(err: ConfigError, allowed_files: set[str]) -> None:
    assert isinstance(err.file, str) and err.file in allowed_files, (err.file, str(err))
    assert isinstance(err.line, int) and err.line >= 1, str(err)
    assert isinstance(err.field, str) and err.field, str(err)
    text = str(err)
    assert text and "\n" not in text and err.message in text, text


EXAMPLES = 1000
"""Generated examples the property must hold for (the issue's minimum)."""


def test_every_document_is_valid_or_a_config_error(fuzz_dir: Path) -> None:
    """Runs the property over generated examples and proves it checked at least :data:`EXAMPLES`
    of them: every example that reaches the end of :func:`_check_one` is counted."""
    checked: list[bool] = []
    _check_one(fuzz_dir, checked)
    assert len(checked) >= EXAMPLES, f"only {len(checked)} generated examples were checked"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(text=documents(), args=overrides)
def _check_one(fuzz_dir: Path, checked: list[bool], text: str, args: list[str]) -> None:
    path = fuzz_dir / "doc.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    files = {str(path), "--set", str(fuzz_dir / "base.yaml")}
    parsed: dict[str, Any] | None = None
    try:
        parsed = parse_overrides(args)
    except ConfigError as err:
        _check(err, {"--set"})
    try:
        cfg = load_experiment(path, args)
    except ConfigError as err:
        _check(err, files)
    else:
        assert parsed is not None, "bad overrides must not load"
        assert cfg.name and all(math.isfinite(x) for x in (cfg.optimizer.lr, cfg.model.dropout, cfg.model.l1))
        assert cfg.train.epochs >= 1 and cfg.optimizer.lr > 0 and 0 <= cfg.model.dropout < 1
        # What the queue writes as a run's config.yaml loads back to the same config.
        resolved = fuzz_dir / "resolved.yaml"
        resolved.write_text(_dump(cfg.model_dump(mode="json")), encoding="utf-8")
        assert load_experiment(resolved) == cfg
    try:
        runs = expand_study(path, args)
    except ConfigError as err:
        _check(err, files)
    else:
        assert runs and len({r.name for r in runs}) == len(runs)
        assert (runs[0].study is not None) == is_study(path)
    checked.append(True)
