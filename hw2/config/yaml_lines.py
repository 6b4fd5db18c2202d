"""YAML read with the safe loader, keeping the line of every key (for error messages)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hw2.config.errors import DOC_FIELD, ConfigError, Loc, _dotted

# libyaml's parser when PyYAML has it (4-5x faster to scan); the constructor is SafeConstructor
# either way, i.e. exactly what yaml.safe_load uses.
_SafeBase: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_SafeBase):  # type: ignore[misc, valid-type]
    """The safe loader, used in two steps: compose the node tree (keeps every key's line), then
    construct plain data from it. Safe constructors only: python/* tags are refused.
    """

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:  # type: ignore[override]
        """A date-looking value that is no real date (2020-13-45) is an error at its line."""
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a valid date ({exc})", node.start_mark
            ) from None


_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _LineLoader.construct_yaml_timestamp)


@dataclass
class _Doc:
    """A parsed YAML file: its data and the (1-based) line of every key path."""

    file: str
    data: Any
    lines: dict[Loc, int]

    def line_of(self, loc: Sequence[Any]) -> int:
        """Line of the longest prefix of ``loc`` that was written in the file."""
        key = tuple(str(p) for p in loc)
        for n in range(len(key), -1, -1):
            if key[:n] in self.lines:
                return self.lines[key[:n]]
        return 1


_YAML_KINDS = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "true/false",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date",
}


def _index(node: yaml.Node, path: Loc, lines: dict[Loc, int], seen: set[int], file: str) -> None:
    """Record the line of every key / list item below ``node`` (aliases visited once)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    "a key must be a plain name, not a list or mapping",
                    file=file,
                    line=key_node.start_mark.line + 1,
                    field=_dotted(path) or DOC_FIELD,
                    hint="write keys as plain words, e.g. 'lr: 0.1'",
                )
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                _index(value_node, path, lines, seen, file)
                continue
            if key_node.tag != "tag:yaml.org,2002:str":
                kind = _YAML_KINDS.get(key_node.tag, "a " + key_node.tag.rsplit(":", 1)[-1])
                raise ConfigError(
                    f"key {key!r} is read by YAML as {kind}, not a name",
                    file=file,
                    line=line,
                    field=_dotted((*path, key)),
                    hint=f"quote it: '{key}':",
                )
            if key in first:
                raise ConfigError(
                    f"duplicate key {key!r} (first written on line {first[key]})",
                    file=file,
                    line=line,
                    field=_dotted((*path, key)),
                    hint="keep only one of them",
                )
            first[key] = line
            lines[(*path, key)] = line
            _index(value_node, (*path, key), lines, seen, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.setdefault((*path, str(i)), item.start_mark.line + 1)
            _index(item, (*path, str(i)), lines, seen, file)


def _reader_error(exc: yaml.reader.ReaderError, text: str, file: str) -> ConfigError:
    """A character YAML refuses (control characters, ...), at its line."""
    return ConfigError(
        f"YAML error: character {chr(exc.character)!r} is not allowed in YAML"
        if isinstance(exc.character, int)
        else f"YAML error: {exc.reason}",
        file=file,
        line=text[: max(int(exc.position or 0), 0)].count("\n") + 1,
        hint="remove it (write it as an escape inside double quotes)",
    )


def _parse_yaml(text: str, file: str) -> _Doc:
    """Parse one YAML document; every failure becomes a ConfigError with a line."""
    try:
        loader = _LineLoader(text)
    except yaml.reader.ReaderError as exc:  # the pure-Python reader checks the text up front
        raise _reader_error(exc, text, file) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(
                "the file is empty",
                file=file,
                line=1,
                hint="write an experiment (trainer:, model:, ...) or a study (study:, base:, ...)",
            )
        lines: dict[Loc, int] = {(): node.start_mark.line + 1}
        _index(node, (), lines, set(), file)
        data = loader.construct_document(node)
    except ConfigError:
        raise
    except yaml.reader.ReaderError as exc:  # libyaml checks it while parsing
        raise _reader_error(exc, text, file) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        if isinstance(exc, yaml.constructor.ConstructorError):
            raise ConfigError(
                f"YAML error: {problem}", file=file, line=line, hint="use plain YAML values (no !!tags)"
            ) from None
        raise ConfigError(
            f"YAML syntax error: {problem}",
            file=file,
            line=line,
            hint="check indentation, colons and quotes on this line",
        ) from None
    except RecursionError:
        raise ConfigError("nested too deeply", file=file, line=1, hint="flatten the structure") from None
    except Exception as exc:  # yaml.YAMLError, ValueError from e.g. an impossible date, ...
        raise ConfigError(
            f"YAML error: {type(exc).__name__}: {exc}", file=file, line=1, hint="fix the YAML"
        ) from None
    finally:
        loader.dispose()
    return _Doc(file=file, data=data, lines=lines)


def _read_doc(path: str | os.PathLike[str]) -> _Doc:
    file = os.fspath(path)
    try:
        raw = Path(file).read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found", file=file, hint="check the path") from None
    except IsADirectoryError:
        raise ConfigError("is a folder, not a YAML file", file=file, hint="name a .yaml file") from None
    except (OSError, ValueError) as exc:  # permission denied, name with a NUL byte, ...
        raise ConfigError(f"cannot read: {exc}", file=file, hint="check the path and permissions") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError("not UTF-8 text", file=file, line=line, hint="save the file as UTF-8") from None
    return _parse_yaml(text, file)


def _require_mapping(doc: _Doc) -> dict[str, Any]:
    if not isinstance(doc.data, dict):
        kind = "nothing" if doc.data is None else type(doc.data).__name__
        raise ConfigError(
            f"the top level must be a mapping of keys (got {kind})",
            file=doc.file,
            line=doc.lines.get((), 1),
            hint="start with 'trainer: ...' (experiment) or 'study: ...' (study)",
        )
    return doc.data


def _looks_like_study(data: Mapping[str, Any]) -> bool:
    return "study" in data or "base" in data
