"""Each class of bad config gives one ConfigError naming the right file, line and field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hw2.config import ConfigError, discover, expand_study, load_experiment

OK = "trainer: mlp\nmodel:\n  name: mlp\n"

# (id, yaml text, line, field, substrings the one-line message must contain)
CASES: list[tuple[str, str, int, str, tuple[str, ...]]] = [
    (
        "unknown-key",
        OK + "optimzer:\n  lr: 0.1\n",
        4,
        "optimzer",
        ("unknown key 'optimzer'", "did you mean 'optimizer'?"),
    ),
    ("unknown-nested-key", OK + "train:\n  epoch: 3\n", 5, "train.epoch", ("did you mean 'epochs'?",)),
    (
        "lr-zero",
        OK + "optimizer:\n  name: adam\n  lr: 0\n",
        6,
        "optimizer.lr",
        ("must be > 0 (got 0)", "fix:"),
    ),
    ("lr-negative", OK + "optimizer: {lr: -1}\n", 4, "optimizer.lr", ("must be > 0 (got -1)",)),
    ("lr-text", OK + "optimizer: {lr: fast}\n", 4, "optimizer.lr", ("must be a number", "'fast'")),
    (
        "dropout-one",
        "trainer: mlp\nmodel:\n  name: mlp\n  dropout: 1.0\n",
        4,
        "model.dropout",
        ("must be < 1", "[0, 1)"),
    ),
    (
        "dropout-negative",
        "trainer: mlp\nmodel:\n  name: mlp\n  dropout: -0.1\n",
        4,
        "model.dropout",
        ("must be >= 0",),
    ),
    ("epochs-zero", OK + "train:\n  epochs: 0\n", 5, "train.epochs", ("must be >= 1 (got 0)",)),
    ("epochs-fraction", OK + "train:\n  epochs: 2.5\n", 5, "train.epochs", ("whole number",)),
    ("epochs-text", OK + "train:\n  epochs: ten\n", 5, "train.epochs", ("whole number", "'ten'")),
    ("val-split-one", OK + "data:\n  val_split: 1\n", 5, "data.val_split", ("must be < 1",)),
    ("batch-zero", OK + "train: {batch_size: 0}\n", 4, "train.batch_size", ("must be >= 1",)),
    ("seed-negative", OK + "seed: -3\n", 4, "seed", ("must be >= 0", "0 <= seed <= 2147483647")),
    ("nan", OK + "optimizer: {weight_decay: .nan}\n", 4, "optimizer.weight_decay", ("finite number",)),
    ("inf", OK + "optimizer: {weight_decay: .inf}\n", 4, "optimizer.weight_decay", ("finite number",)),
    ("bool-text", OK + "augment: {enabled: maybe}\n", 4, "augment.enabled", ("true or false",)),
    (
        "hidden-zero",
        "trainer: mlp\nmodel:\n  name: mlp\n  hidden:\n    - 128\n    - 0\n",
        6,
        "model.hidden[1]",
        ("must be >= 1",),
    ),
    (
        "hidden-scalar",
        "trainer: mlp\nmodel:\n  name: mlp\n  hidden: 128\n",
        4,
        "model.hidden",
        ("a list of whole numbers",),
    ),
    (
        "unknown-trainer",
        "trainer: cnnn\nmodel: {name: base}\n",
        1,
        "trainer",
        ("unknown trainer 'cnnn'", "did you mean 'cnn'?", "mlp, cnn"),
    ),
    (
        "unknown-cnn-model",
        "trainer: cnn\nmodel:\n  name: bsae\n",
        3,
        "model.name",
        (
            "unknown model 'bsae' for trainer cnn",
            "did you mean 'base'?",
            "base, no_relu, pool_conv, deeper, regularized",
        ),
    ),
    (
        "model-of-other-trainer",
        "trainer: mlp\nmodel:\n  name: deeper\n",
        3,
        "model.name",
        ("for trainer mlp", "use one of: mlp"),
    ),
    (
        "unknown-optimizer",
        OK + "optimizer:\n  name: adamw\n",
        5,
        "optimizer.name",
        ("one of sgd, momentum, adam", "did you mean 'adam'?"),
    ),
    (
        "unknown-activation",
        "trainer: mlp\nmodel:\n  name: mlp\n  activation: rellu\n",
        4,
        "model.activation",
        ("did you mean 'relu'?",),
    ),
    (
        "section-as-scalar",
        OK + "optimizer: adam\n",
        4,
        "optimizer",
        ("must be a mapping", "optimizer: {name: adam}"),
    ),
    (
        "missing-trainer",
        "model:\n  name: mlp\n",
        1,
        "trainer",
        ("missing required key 'trainer'", "mlp, cnn"),
    ),
    ("missing-model", "trainer: cnn\n", 1, "model", ("missing required key 'model'",)),
    (
        "missing-model-name",
        "trainer: cnn\nmodel:\n  hidden: [3]\n",
        2,
        "model.name",
        ("missing required key 'name'",),
    ),
    (
        "typo-beats-missing",
        "traner: mlp\nmodel: {name: mlp}\n",
        1,
        "traner",
        ("did you mean 'trainer'?", "1 more problem"),
    ),
    ("name-too-long", "name: " + "x" * 81 + "\n" + OK, 1, "name", ("at most 80 characters",)),
    ("name-control-char", 'name: "a\\x07b"\n' + OK, 1, "name", ("control character",)),
    ("name-empty", 'name: ""\n' + OK, 1, "name", ("at least 1",)),
    ("duplicate-key", OK + "seed: 1\nseed: 2\n", 5, "seed", ("duplicate key 'seed'", "line 4")),
    ("number-key", OK + "1: 2\n", 4, "1", ("read by YAML as a number",)),
    ("bool-key", OK + "on: 2\n", 4, "on", ("true/false",)),
    ("syntax-error", "trainer: mlp\nmodel:\n  name: [mlp\n", 4, "<document>", ("YAML syntax error",)),
    ("tab-indent", "trainer: mlp\n\tmodel: x\n", 2, "<document>", ("YAML syntax error",)),
    ("bad-date", OK + "name: 2020-13-45\n", 4, "<document>", ("not a valid date",)),
    (
        "python-tag",
        "trainer: !!python/object/apply:os.system [ls]\nmodel: {name: mlp}\n",
        1,
        "<document>",
        ("constructor",),
    ),
    ("top-level-list", "- trainer: mlp\n", 1, "<document>", ("must be a mapping",)),
    ("top-level-scalar", "hello\n", 1, "<document>", ("must be a mapping",)),
    ("empty-file", "", 1, "<document>", ("empty",)),
    ("only-comments", "# just a comment\n", 1, "<document>", ("empty",)),
    ("two-documents", OK + "---\n" + OK, 4, "<document>", ("YAML syntax error",)),
    (
        "recursive-alias",
        "trainer: mlp\nmodel: &m {name: mlp, again: *m}\n",
        2,
        "model.again",
        ("unknown key 'again'",),
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "parts"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_config(
    write_yaml: Callable[[str, str], Path], text: str, line: int, field: str, parts: tuple[str, ...]
) -> None:
    path = write_yaml("bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    err = info.value
    assert (err.file, err.line, err.field) == (str(path), line, field), str(err)
    text_ = str(err)
    assert "\n" not in text_ and text_.startswith(f"{path}:{line}: ")
    for part in parts:
        assert part in text_, text_
    # expand_study reports the very same problem for a plain experiment file.
    with pytest.raises(ConfigError) as again:
        expand_study(path)
    assert str(again.value) == text_


def test_one_line_format_matches_the_agreed_shape(write_yaml: Callable[[str, str], Path]) -> None:
    path = write_yaml("x.yaml", OK + "optimizer:\n  lr: -1\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert str(info.value) == (
        f"{path}:5: optimizer.lr: must be > 0 (got -1); "
        "fix: use a positive learning rate, e.g. 0.001 for adam or 0.01-0.1 for sgd/momentum"
    )
    assert info.value.message.startswith("must be > 0 (got -1); fix:")


def test_missing_file_folder_and_binary(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found") as info:
        load_experiment(tmp_path / "nope.yaml")
    assert info.value.file == str(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_experiment(tmp_path)
    blob = tmp_path / "blob.yaml"
    blob.write_bytes(b"trainer: mlp\n\xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        load_experiment(blob)
    assert info.value.line == 2


def test_a_study_is_not_an_experiment(write_yaml: Callable[[str, str], Path]) -> None:
    write_yaml("base.yaml", OK)
    path = write_yaml("s.yaml", "study: S\nbase: base.yaml\n")
    with pytest.raises(ConfigError, match="is a study") as info:
        load_experiment(path)
    assert (info.value.line, info.value.field) == (1, "study")


def test_name_defaults_to_the_file_name(write_yaml: Callable[[str, str], Path]) -> None:
    assert load_experiment(write_yaml("my-exp.yaml", OK)).name == "my-exp"
    weird = 'name: "../../etc/passwd ✓ <b>"\n' + OK
    assert (
        load_experiment(write_yaml("w.yaml", weird)).name == "../../etc/passwd ✓ <b>"
    )  # kept; ids are made safe


def test_discover_keeps_going_past_bad_files(write_yaml: Callable[[str, str], Path], tmp_path: Path) -> None:
    write_yaml("a/good.yaml", OK)
    write_yaml("a/bad.yaml", OK + "optimizer: {lr: 0}\n")
    write_yaml("b/broken.yml", "trainer: [\n")
    write_yaml("b/.hidden.yaml", "junk: [\n")
    write_yaml(".git/x.yaml", "junk: [\n")
    write_yaml("b/notes.txt", "not yaml")
    write_yaml("c/study.yaml", "study: Bad study\nbase: missing.yaml\n")
    entries = discover(tmp_path)
    rel = [e.path.relative_to(tmp_path).as_posix() for e in entries]
    assert rel == ["a/bad.yaml", "a/good.yaml", "b/broken.yml", "c/study.yaml"]
    by = dict(zip(rel, entries, strict=True))
    assert by["a/good.yaml"].error is None and len(by["a/good.yaml"].runs) == 1
    assert by["a/bad.yaml"].error is not None and by["a/bad.yaml"].error.field == "optimizer.lr"
    assert by["a/bad.yaml"].runs == []
    assert by["b/broken.yml"].error is not None and by["b/broken.yml"].kind == "experiment"
    study = by["c/study.yaml"]
    assert study.kind == "study" and study.study_title == "Bad study"
    assert study.error is not None and (study.error.line, study.error.field) == (2, "base")
    assert discover(tmp_path / "does-not-exist") == []
