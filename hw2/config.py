"""Reading experiment and study YAML into typed configs, with errors a person can act on.

Why this module exists: a typo in a config must cost seconds, not a failed GPU run. Every
problem in a file — YAML syntax, an unknown key, a wrong type, a value out of range, an unknown
trainer/model/optimizer — becomes one :class:`ConfigError` whose ``str()`` is a single line::

    configs/x.yaml:12: optimizer.lr: must be > 0 (got -1); fix: use a positive learning rate ...

and nothing else ever escapes :func:`load_experiment`, :func:`expand_study` or
:func:`parse_overrides` (a hypothesis test feeds them thousands of generated documents).

YAML is read with ``yaml.SafeLoader`` only. The loader first *composes* the node tree, which
keeps the line of every key, then constructs plain Python data; pydantic errors (whose ``loc``
is a key path) are mapped back to the line where that key was written — in the experiment, in
the study that changed it, or in the ``--set`` argument that overrode it.

Studies (sweeps) expand one base experiment over ``variants`` x ``grid`` x ``repeat``; see
``docs/configs.md`` for the format. UI-free and framework-free.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import sys
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from hw2.schema import (
    BUILTIN_TRAINER_MODULES,
    EXTRA_TRAINERS_ENV,
    ExperimentConfig,
    StudySpec,
    StudyVariant,
    trainer_modules,
)

__all__ = [
    "ConfigEntry",
    "ConfigError",
    "PlannedRun",
    "discover",
    "expand_study",
    "is_study",
    "load_experiment",
    "overrides_to_args",
    "parse_overrides",
    "schema_reference",
    "trainer_module",
]

OVERRIDE_FILE = "--set"
MAX_RUNS = 1000  # a study expanding to more runs than this is almost surely a mistake
DOC_FIELD = "<document>"  # the field of errors about the whole file (syntax, not a mapping)
_MERGE_DEPTH = 32

Loc = tuple[str, ...]


# --------------------------------------------------------------------------- errors


class ConfigError(Exception):
    """A config problem: where it is (file, line, dotted field) and what to do about it.

    ``str()`` is one line, ``FILE:LINE: FIELD: MESSAGE``; parts that are unknown are left out.
    ``message`` already holds the fix hint (``...; fix: ...``; ``problem`` and ``hint`` hold the
    two halves). ``more`` counts further problems found in the same file (only the first, in line
    order, is described).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | os.PathLike[str] | None = None,
        line: int | None = None,
        field: str = DOC_FIELD,
        hint: str | None = None,
        more: int = 0,
    ) -> None:
        self.file = os.fspath(file) if file is not None else None
        self.line = line
        self.field = _printable(field) if field else DOC_FIELD
        self.hint = hint
        self.more = more
        self.problem = _one_line(message)
        text = message if not hint else f"{message}{' ' if message.endswith('?') else '; '}fix: {hint}"
        if more:
            text += f" (and {more} more problem{'s' if more > 1 else ''})"
        self.message = _one_line(text)
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = _printable(self.file) + (f":{self.line}" if self.line is not None else "") + ": "
        fld = "" if self.field.startswith("<") else f"{self.field}: "
        return f"{where}{fld}{self.message}"


def _printable(text: str) -> str:
    """``text`` with control characters escaped, so an error stays one readable line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def _one_line(text: str, limit: int = 600) -> str:
    text = _printable(" ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _got(value: Any, limit: int = 40) -> str:
    """A short repr of an offending value for messages."""
    try:
        text = repr(value)
    except Exception:  # pragma: no cover - exotic objects only
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _did_you_mean(word: Any, choices: Iterable[str]) -> str:
    matches = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {matches[0]!r}?" if matches else ""


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# --------------------------------------------------------------------------- YAML with lines


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


# --------------------------------------------------------------------------- schema walking


def _unwrap(annotation: Any) -> list[Any]:
    """The member types of ``annotation`` (a union, Optional or plain type; Annotated stripped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _submodel(annotation: Any) -> type[BaseModel] | None:
    for member in _unwrap(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _list_item(annotation: Any) -> Any | None:
    for member in _unwrap(annotation):
        if typing.get_origin(member) is list:
            args = typing.get_args(member)
            return args[0] if args else Any
    return None


@dataclass
class _Target:
    """What a pydantic ``loc`` points at in the schema."""

    path: list[str | int]  # the meaningful part of loc (union tags dropped)
    parent: type[BaseModel] | None  # the model holding the last key
    info: FieldInfo | None  # the field itself (None for list items / unknown keys)
    annotation: Any  # the declared type of the value at loc


def _dict_value(annotation: Any) -> Any | None:
    for member in _unwrap(annotation):
        if typing.get_origin(member) is dict:
            args = typing.get_args(member)
            return args[1] if len(args) == 2 else Any
    return None


def _resolve(root: type[BaseModel], loc: Sequence[str | int]) -> _Target:
    """Walk ``loc`` through the schema; union tags (e.g. 'bool', "literal['auto']") are dropped."""
    model: type[BaseModel] | None = root
    annotation: Any = root
    info: FieldInfo | None = None
    parent: type[BaseModel] | None = None
    path: list[str | int] = []
    for part in loc:
        if model is not None and isinstance(part, str):
            parent = model
            info = model.model_fields.get(part)
            path.append(part)
            if info is None:  # unknown key: stop here
                annotation = None
                break
            annotation = info.annotation
        elif isinstance(part, int) and _list_item(annotation) is not None:
            annotation, info = _list_item(annotation), None
            path.append(part)
        elif isinstance(part, str) and _dict_value(annotation) is not None:
            annotation, info = _dict_value(annotation), None
            path.append(part)
        else:
            break
        model = _submodel(annotation)
    return _Target(path=path, parent=parent, info=info, annotation=annotation)


def _literal_choices(annotation: Any) -> list[Any]:
    out: list[Any] = []
    for member in _unwrap(annotation):
        if typing.get_origin(member) is Literal:
            out.extend(typing.get_args(member))
    return out


def _constraints(info: FieldInfo | None, annotation: Any = None) -> dict[str, Any]:
    """gt/ge/lt/le/min_length/max_length of a field (or of an ``Annotated`` list item)."""
    metas: list[Any] = list(info.metadata) if info is not None else []
    if info is None and typing.get_origin(annotation) is typing.Annotated:
        for extra in typing.get_args(annotation)[1:]:
            metas.extend(getattr(extra, "metadata", [extra]))
    out: dict[str, Any] = {}
    for meta in metas:
        for attr in ("gt", "ge", "lt", "le", "min_length", "max_length"):
            value = getattr(meta, attr, None)
            if value is not None:
                out[attr] = value
    return out


def _fmt_num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _range_text(cons: Mapping[str, Any], name: str = "x") -> str:
    """``0 < lr <= 10`` style text for numeric constraints ('' when there are none)."""
    lo = (
        f"{_fmt_num(cons['gt'])} < "
        if "gt" in cons
        else f"{_fmt_num(cons['ge'])} <= "
        if "ge" in cons
        else ""
    )
    hi = (
        f" < {_fmt_num(cons['lt'])}"
        if "lt" in cons
        else f" <= {_fmt_num(cons['le'])}"
        if "le" in cons
        else ""
    )
    return f"{lo}{name}{hi}" if lo or hi else ""


_PLURAL = {"a whole number": "whole numbers", "a number": "numbers", "text": "texts", "a mapping": "mappings"}


def _type_text(annotation: Any) -> str:
    """A reader's name for a declared type: 'a number', 'true, false or auto', 'one of a, b', ..."""
    members = _unwrap(annotation)
    literals = [str(c) for c in _literal_choices(annotation)]
    alts: list[str] = []
    for member in members:
        if member is type(None) or typing.get_origin(member) is Literal:
            continue
        if member is bool:
            alts += ["true", "false"]
        elif member is int:
            alts.append("a whole number")
        elif member is float:
            alts.append("a number")
        elif member is str:
            alts.append("text")
        elif typing.get_origin(member) is list:
            args = typing.get_args(member)
            item = _type_text(args[0]) if args and args[0] is not Any else "values"
            alts.append(f"a list of {_PLURAL.get(item, item)}")
        elif typing.get_origin(member) is dict or (
            isinstance(member, type) and issubclass(member, BaseModel)
        ):
            alts.append("a mapping")
        elif member is Any:
            alts.append("any value")
        else:
            alts.append(getattr(member, "__name__", str(member)))
    if literals and not alts:
        alts = ["one of " + ", ".join(literals)]
    else:
        alts += literals
    if type(None) in members:
        alts.append("null")
    if not alts:
        return "a valid value"
    return alts[0] if len(alts) == 1 else ", ".join(alts[:-1]) + " or " + alts[-1]


# --------------------------------------------------------------------------- pydantic → ConfigError

# Fix hints for the fields people get wrong most; others get a hint built from the schema.
_HINTS: dict[str, str] = {
    "optimizer.lr": "use a positive learning rate, e.g. 0.001 for adam or 0.01-0.1 for sgd/momentum",
    "optimizer.momentum": "use a momentum in [0, 1), e.g. 0.9",
    "model.dropout": "use a dropout rate in [0, 1), e.g. 0.2",
    "train.epochs": "train for at least 1 epoch",
    "train.batch_size": "use a batch size of at least 1, e.g. 32 or 128",
    "data.val_split": "use a fraction in [0, 1), e.g. 0.1",
    "name": "use a short one-line name (at most 80 characters)",
}


@dataclass
class _Layer:
    """Where the values under ``path`` came from (for error lines), latest layer wins."""

    path: Loc
    doc: _Doc
    offset: Loc = ()  # where this value sits inside ``doc`` (e.g. ('set', 'optimizer.lr'))
    label: str = ""  # e.g. "variant 'l2'"
    line: int | None = None  # fixed line (command-line overrides)


def _locate(layers: Sequence[_Layer], loc: Sequence[Any]) -> tuple[str, int, str]:
    key = tuple(str(p) for p in loc)
    for layer in reversed(layers):
        n = len(layer.path)
        if key[:n] == layer.path:
            line = layer.line if layer.line is not None else layer.doc.line_of((*layer.offset, *key[n:]))
            return layer.doc.file, line, layer.label
    first = layers[0]
    return first.doc.file, first.doc.line_of(key), first.label


def _describe(err: Mapping[str, Any], root: type[BaseModel]) -> tuple[list[str | int], str, str | None]:
    """(field path, message, hint) for one pydantic error."""
    etype = str(err.get("type", ""))
    ctx = dict(err.get("ctx") or {})
    loc = list(err.get("loc") or ())
    if ctx.get("subfield") is not None:
        loc.append(str(ctx["subfield"]))
    target = _resolve(root, loc)
    path = target.path or [str(p) for p in loc]
    dotted = _dotted(path)
    value = err.get("input")
    cons = _constraints(target.info, target.annotation)
    rng = _range_text(cons, next((str(p) for p in reversed(path) if isinstance(p, str)), "x"))
    hint = _HINTS.get(dotted)

    if etype == "extra_forbidden":
        key = path[-1] if path else "?"
        choices = list(target.parent.model_fields) if target.parent is not None else []
        msg = f"unknown key {str(key)!r}{_did_you_mean(key, choices)}"
        return path, msg, ("valid keys here: " + ", ".join(choices)) if choices else None
    if etype == "missing":
        key = path[-1] if path else "?"
        msg = f"missing required key {str(key)!r}"
        if dotted == "trainer":
            return path, msg, "add 'trainer: NAME', NAME one of " + ", ".join(trainer_modules())
        if _submodel(target.annotation) is not None:
            return path, msg, f"add '{key}: {{name: ...}}'"
        return path, msg, f"add '{key}: ...' ({_type_text(target.annotation)})"
    if etype == "invalid_key":
        return path, f"key {_got(value)} is not text", "quote the key"
    if etype in ("unknown_trainer", "unknown_model"):
        choices = [str(c) for c in ctx.get("choices", ())]
        got = ctx.get("got", value)
        what = "trainer" if etype == "unknown_trainer" else "model"
        where = "" if etype == "unknown_trainer" else f" for trainer {ctx.get('trainer')}"
        msg = f"unknown {what} {str(got)!r}{where}{_did_you_mean(got, choices)}"
        hint = "use one of: " + ", ".join(choices)
        if etype == "unknown_trainer":
            hint += f" (or register one with {EXTRA_TRAINERS_ENV}=name=module)"
        return path, msg, hint
    if etype == "literal_error":
        choices = [str(c) for c in _literal_choices(target.annotation)] or [str(ctx.get("expected", ""))]
        msg = f"must be one of {', '.join(choices)} (got {_got(value)}){_did_you_mean(value, choices)}"
        return path, msg, hint
    if etype in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[
            etype
        ]
        bound = next((ctx[k] for k in ("gt", "ge", "lt", "le") if k in ctx), "?")
        msg = f"must be {op} {_fmt_num(bound)} (got {_got(value)})"
        return path, msg, hint or (f"use a value with {rng}" if rng else None)
    if etype == "finite_number":
        return (
            path,
            f"must be a finite number (got {_got(value)})",
            hint or (f"use a value with {rng}" if rng else None),
        )
    if etype in ("too_short", "too_long", "string_too_short", "string_too_long"):
        lo, hi = cons.get("min_length"), cons.get("max_length")
        size = "" if value is None or not hasattr(value, "__len__") else f" (got {len(value)})"
        unit = "characters" if etype.startswith("string") else "items"
        if etype.endswith("short"):
            msg = f"must have at least {lo if lo is not None else 1} {unit}{size}"
        else:
            msg = f"must have at most {hi} {unit}{size}"
        return path, msg, hint
    if etype == "string_pattern_mismatch":
        msg = f"{_got(value)} is not allowed here"
        return path, msg, hint or "use only letters, digits, '.', '_' and '-' (start with a letter or digit)"
    if etype == "trainer_env":
        return path, str(err.get("msg")), f"set {EXTRA_TRAINERS_ENV} to name=python.module[,...]"
    if etype in ("bad_text", "empty_grid", "value_error", "assertion_error"):
        text = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        return path, text, hint
    if etype == "int_from_float":
        return path, f"must be a whole number (got {_got(value)})", hint or (f"use {rng}" if rng else None)
    if (
        etype in ("model_type", "model_attributes_type", "dict_type")
        and isinstance(value, str)
        and target.annotation
    ):
        sub = _submodel(target.annotation)
        if sub is not None and "name" in sub.model_fields:
            return path, f"must be a mapping (got {_got(value)})", f"write '{dotted}: {{name: {value}}}'"
    # Generic type errors: say what is expected, from the schema.
    expected = _type_text(target.annotation) if target.annotation is not None else "a valid value"
    msg = f"must be {expected} (got {_got(value)})"
    if rng:
        hint = hint or f"use a value with {rng}"
    return path, msg, hint


def _from_validation(exc: ValidationError, root: type[BaseModel], layers: Sequence[_Layer]) -> ConfigError:
    """The first problem (in file/line order) of a pydantic error, as a ConfigError."""
    described: list[tuple[str, int, str, str, str | None, str]] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        path, msg, hint = _describe(err, root)
        dotted = _dotted(path) or DOC_FIELD
        if dotted in seen:  # a union reports one error per member: keep the first
            continue
        seen.add(dotted)
        file, line, label = _locate(layers, [str(p) for p in path])
        described.append((file, line, dotted, msg, hint, label))
    if not described:  # pragma: no cover - pydantic always reports at least one error
        first = layers[0]
        return ConfigError(_one_line(str(exc)), file=first.doc.file, line=1)
    order = {layer.doc.file: i for i, layer in enumerate(layers)}
    # File order, then line; a missing key last: it is often the unknown key (a typo) elsewhere.
    described.sort(key=lambda d: (d[3].startswith("missing required key"), order.get(d[0], 0), d[1]))
    file, line, dotted, msg, hint, label = described[0]
    if label:
        msg = f"{label}: {msg}"
    return ConfigError(msg, file=file, line=line, field=dotted, hint=hint, more=len(described) - 1)


# --------------------------------------------------------------------------- overrides

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _schema_children(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _check_key(key: str, *, file: str, line: int, label: str = "") -> Loc:
    """Validate a dotted key against the experiment schema; returns its path."""
    prefix = f"{label}: " if label else ""
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(
            f"{prefix}empty key", file=file, line=line, field=DOC_FIELD, hint="write key.path=value"
        )
    parts = tuple(p.strip() for p in key.split("."))
    model: type[BaseModel] | None = ExperimentConfig
    for i, part in enumerate(parts):
        here = ".".join(parts[: i + 1])
        if model is None:
            raise ConfigError(
                f"{prefix}{'.'.join(parts[:i])} has no sub-keys",
                file=file,
                line=line,
                field=here,
                hint=f"set it whole, e.g. {'.'.join(parts[:i])}=VALUE",
            )
        fields = _schema_children(model)
        if part not in fields:
            raise ConfigError(
                f"{prefix}unknown key {part!r}{_did_you_mean(part, fields)}",
                file=file,
                line=line,
                field=here,
                hint="valid keys here: " + ", ".join(fields),
            )
        model = _submodel(model.model_fields[part].annotation)
    return parts


def _parse_value(raw: str, *, key: str, line: int) -> Any:
    """A ``--set`` value with YAML scalar semantics: 0.1 → float, true → bool, [1, 2] → list."""
    try:
        doc = _parse_yaml(raw, OVERRIDE_FILE) if raw.strip() else None
    except ConfigError as exc:
        raise ConfigError(
            f"cannot read the value {_got(raw)}: {exc.problem}",
            file=OVERRIDE_FILE,
            line=line,
            field=key,
            hint="quote text and write lists as [a, b]",
        ) from None
    return doc.data if doc is not None else None


def _split_overrides(items: Iterable[Any] | None) -> list[tuple[str, Loc, Any, int]]:
    """(dotted key, path, value, 1-based position) for each ``key=value`` string."""
    if items is None:
        return []
    if isinstance(items, (str, bytes)):
        items = [items]
    out: list[tuple[str, Loc, Any, int]] = []
    for pos, item in enumerate(items, start=1):
        if not isinstance(item, str):
            raise ConfigError(
                f"an override must be text, got {_got(item)}",
                file=OVERRIDE_FILE,
                line=pos,
                hint="write key.path=value",
            )
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(
                f"expected key.path=value (got {_got(item)})",
                file=OVERRIDE_FILE,
                line=pos,
                field=key or DOC_FIELD,
                hint="e.g. --set optimizer.lr=0.01",
            )
        path = _check_key(key, file=OVERRIDE_FILE, line=pos)
        dotted = ".".join(path)
        out.append((dotted, path, _parse_value(raw, key=dotted, line=pos), pos))
    return out


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["optimizer.lr=0.1", "model.hidden=[512, 256]"]`` → ``{"optimizer.lr": 0.1, ...}``.

    Keys are checked against the schema (unknown key → did-you-mean); values are parsed as YAML
    scalars/flow values. Errors name file ``--set`` and the override's position as the line.
    """
    out: dict[str, Any] = {}
    for dotted, _path, value, _pos in _split_overrides(items):
        out.pop(dotted, None)  # keep application order: a re-set key moves to the end
        out[dotted] = value
    return out


def overrides_to_args(overrides: Mapping[str, Any]) -> list[str]:
    """The ``--set`` strings that reproduce ``overrides`` (inverse of :func:`parse_overrides`)."""
    args = []
    for key, value in overrides.items():
        text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
        if text.endswith("\n..."):
            text = text[: -len("\n...")]
        text = text.removesuffix("...").strip()
        args.append(f"{key}={text}")
    return args


class _NotMapping(Exception):
    def __init__(self, path: Loc, value: Any) -> None:
        self.path, self.value = path, value


def _merge(old: Any, new: Any, depth: int = 0) -> Any:
    """Deep-merge mappings (a mapping value updates, anything else replaces)."""
    if isinstance(old, dict) and isinstance(new, dict) and depth < _MERGE_DEPTH:
        out = dict(old)
        for k, v in new.items():
            out[k] = _merge(out[k], v, depth + 1) if k in out else v
        return out
    return new


def _apply(data: dict[str, Any], path: Loc, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with ``path`` set to ``value`` (intermediate mappings created)."""
    out = dict(data)
    node = out
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = {}
        elif not isinstance(child, dict):
            raise _NotMapping(path[: i + 1], child)
        child = dict(child)
        node[part] = child
        node = child
    last = path[-1]
    node[last] = _merge(node[last], value) if last in node else value
    return out


def _apply_layer(
    data: dict[str, Any], layers: list[_Layer], path: Loc, value: Any, layer: _Layer
) -> dict[str, Any]:
    try:
        out = _apply(data, path, value)
    except _NotMapping as exc:
        file, line, _ = _locate(layers, exc.path)
        raise ConfigError(
            f"must be a mapping to set {'.'.join(path)} (got {_got(exc.value)})",
            file=file,
            line=line,
            field=".".join(exc.path),
            hint=f"write '{'.'.join(exc.path)}:' as a mapping of keys",
        ) from None
    layers.append(layer)
    return out


# --------------------------------------------------------------------------- experiments


def _validate(data: dict[str, Any], layers: list[_Layer]) -> ExperimentConfig:
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise _from_validation(exc, ExperimentConfig, layers) from None
    except RecursionError:
        first = layers[0]
        raise ConfigError(
            "nested too deeply", file=first.doc.file, line=1, hint="remove recursive aliases"
        ) from None


def _cli_sets(cli: list[tuple[str, Loc, Any, int]]) -> list[tuple[Loc, Any, _Layer]]:
    """``--set`` overrides as (path, value, layer); the layer names file ``--set`` and the position."""
    doc = _Doc(file=OVERRIDE_FILE, data=None, lines={})
    return [(path, value, _Layer(path=path, doc=doc, line=pos)) for _d, path, value, pos in cli]


def _apply_cli(
    data: dict[str, Any], layers: list[_Layer], cli: list[tuple[str, Loc, Any, int]]
) -> dict[str, Any]:
    for path, value, layer in _cli_sets(cli):
        data = _apply_layer(data, layers, path, value, layer)
    return data


def _default_name(cfg: ExperimentConfig, path: str) -> ExperimentConfig:
    if cfg.name is None:
        stem = Path(path).stem[:80] or "run"
        try:
            cfg.name = stem
        except ValidationError:
            cfg.name = "run"
    return cfg


def load_experiment(path: str | os.PathLike[str], overrides: list[str] | None = None) -> ExperimentConfig:
    """Read, override and validate one experiment YAML. Raises only :class:`ConfigError`.

    ``name`` defaults to the file name (without extension).
    """
    cli = _split_overrides(overrides)
    doc = _read_doc(path)
    data = _require_mapping(doc)
    if _looks_like_study(data):
        raise ConfigError(
            "this is a study (sweep), not a single experiment",
            file=doc.file,
            line=doc.line_of(("study",) if "study" in data else ("base",)),
            field="study" if "study" in data else "base",
            hint="expand it with expand_study / 'hw2-tui sweep'",
        )
    layers = [_Layer(path=(), doc=doc)]
    data = _apply_cli(data, layers, cli)
    return _default_name(_validate(data, layers), doc.file)


def is_study(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a study file (top-level ``study:`` or ``base:``). False if unreadable."""
    try:
        data = _read_doc(path).data
    except ConfigError:
        return False
    return isinstance(data, dict) and _looks_like_study(data)


@dataclass
class PlannedRun:
    """One run to launch: its resolved config and where it came from.

    ``config_path`` is the experiment file the run is based on and ``overrides`` every dotted key
    changed on top of it (study ``set``, variant, grid, seed and ``--set``), in application order:
    ``load_experiment(config_path, overrides_to_args(overrides))`` gives ``cfg`` except ``name``.
    """

    name: str
    cfg: ExperimentConfig
    config_path: str
    study: str | None
    overrides: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- studies


def _slug(value: Any, limit: int = 24) -> str:
    text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()
    text = text.removesuffix("...").strip()
    slug = re.sub(r"[^A-Za-z0-9.+]+", "_", text).strip("_.")[:limit]
    return slug or "x"


def _grid_part(key: str, value: Any) -> str:
    parts = key.split(".")
    short = parts[-2] if parts[-1] == "name" and len(parts) > 1 else parts[-1]
    return f"{short}-{_slug(value)}"


def _study_spec(doc: _Doc) -> StudySpec:
    try:
        return StudySpec.model_validate(doc.data)
    except ValidationError as exc:
        raise _from_validation(exc, StudySpec, [_Layer(path=(), doc=doc)]) from None


def _study_sets(
    spec: StudySpec, doc: _Doc
) -> tuple[
    list[tuple[Loc, Any, _Layer]],
    list[tuple[str, list[tuple[Loc, Any, _Layer]]]],
    list[tuple[str, Loc, list[tuple[Any, _Layer]]]],
]:
    """Check every dotted key of the study against the schema (with lines), before expanding."""

    def checked(mapping: Mapping[str, Any], offset: Loc, label: str) -> list[tuple[Loc, Any, _Layer]]:
        out = []
        for key, value in mapping.items():
            line = doc.line_of((*offset, key))
            path = _check_key(key, file=doc.file, line=line, label=label)
            out.append((path, value, _Layer(path=path, doc=doc, offset=(*offset, key), label=label)))
        return out

    common = checked(spec.set, ("set",), "")
    names: dict[str, int] = {}
    variants = []
    for i, variant in enumerate(spec.variants):
        line = doc.line_of(("variants", i, "name"))
        if variant.name in names:
            raise ConfigError(
                f"duplicate variant name {variant.name!r} (first on line {names[variant.name]})",
                file=doc.file,
                line=line,
                field=f"variants[{i}].name",
                hint="give each variant its own name",
            )
        names[variant.name] = line
        label = f"variant {variant.name!r}"
        variants.append((variant.name, checked(variant.set, ("variants", str(i), "set"), label)))
    grid = []
    for key, values in spec.grid.items():
        path = _check_key(key, file=doc.file, line=doc.line_of(("grid", key)), label="grid")
        cells = []
        for j, value in enumerate(values):
            offset = ("grid", key, str(j))
            cells.append(
                (value, _Layer(path=path, doc=doc, offset=offset, label=f"grid {key}={_got(value)}"))
            )
        grid.append((".".join(path), path, cells))
    return common, variants, grid


def _expand(doc: _Doc, cli: list[tuple[str, Loc, Any, int]]) -> list[PlannedRun]:
    spec = _study_spec(doc)
    common, variants, grid = _study_sets(spec, doc)
    base_file = os.path.normpath(os.path.join(os.path.dirname(doc.file), spec.base))
    base_line = doc.line_of(("base",))
    try:
        base_doc = _read_doc(base_file)
    except ConfigError as exc:
        if exc.line is None:  # missing / unreadable base: point at the study's 'base:' line
            raise ConfigError(
                f"base {spec.base!r}: {exc.problem}",
                file=doc.file,
                line=base_line,
                field="base",
                hint="give the experiment's path relative to this study file",
            ) from None
        raise
    base = _require_mapping(base_doc)
    if _looks_like_study(base):
        raise ConfigError(
            f"base {spec.base!r} is itself a study",
            file=doc.file,
            line=base_line,
            field="base",
            hint="point base at an experiment YAML",
        )
    arms: list[tuple[str | None, list[tuple[Loc, Any, _Layer]]]] = list(variants) or [(None, [])]
    combos = list(
        itertools.product(*[[(dotted, path, v, layer) for v, layer in cells] for dotted, path, cells in grid])
    )
    total = len(arms) * len(combos) * spec.repeat
    if total > MAX_RUNS:
        raise ConfigError(
            f"expands to {total} runs (more than {MAX_RUNS})",
            file=doc.file,
            line=doc.line_of(("grid",) if grid else ("repeat",)),
            field="grid" if grid else "repeat",
            hint="split it into smaller studies",
        )
    base_name = base.get("name")
    fallback = _slug(base_name if isinstance(base_name, str) and base_name else Path(base_file).stem, 40)
    runs: list[PlannedRun] = []
    used: set[str] = set()
    for arm_name, arm_sets in arms:
        for combo in combos:
            layers = [_Layer(path=(), doc=base_doc)]
            data: dict[str, Any] = dict(base)
            applied: dict[str, Any] = {}

            cli_sets = _cli_sets(cli)
            grid_sets = [(path, value, layer) for _d, path, value, layer in combo]
            for path, value, layer in [*common, *arm_sets, *grid_sets, *cli_sets]:
                dotted = ".".join(path)
                applied.pop(dotted, None)  # keep application order: a re-set key moves to the end
                applied[dotted] = value
                data = _apply_layer(data, layers, path, value, layer)
            try:
                cfg = _validate(data, layers)
            except ConfigError as exc:
                if exc.file != base_doc.file:
                    raise
                raise ConfigError(
                    f"{exc.problem} (base of study {doc.file})",
                    file=exc.file,
                    line=exc.line,
                    field=exc.field,
                    hint=exc.hint,
                    more=exc.more,
                ) from None
            parts = ([arm_name] if arm_name else []) + [_grid_part(d, v) for d, _p, v, _l in combo]
            stem = "-".join(parts) if parts else fallback
            for r in range(spec.repeat):
                run_cfg = cfg.model_copy(deep=True)
                seed_applied = dict(applied)
                if r:
                    seed_layer = _Layer(
                        path=("seed",), doc=doc, offset=("repeat",), label=f"repeat {spec.repeat}"
                    )
                    try:
                        run_cfg.seed = cfg.seed + r
                    except ValidationError as exc:
                        raise _from_validation(exc, ExperimentConfig, [*layers, seed_layer]) from None
                if spec.repeat > 1:
                    seed_applied.pop("seed", None)
                    seed_applied["seed"] = run_cfg.seed
                name = f"{stem[:60]}-s{run_cfg.seed}"
                unique, k = name, 2
                while unique in used:
                    unique, k = f"{name}-{k}", k + 1
                used.add(unique)
                run_cfg.name = unique
                runs.append(PlannedRun(unique, run_cfg, base_file, spec.study, seed_applied))
    return runs


def expand_study(path: str | os.PathLike[str], overrides: list[str] | None = None) -> list[PlannedRun]:
    """The runs of a study (variants x grid x repeat), or one run for a plain experiment.

    Raises only :class:`ConfigError`; an error in a study names the study file and line (and
    the variant or grid value), an error in the base experiment names the base file.
    """
    cli = _split_overrides(overrides)
    doc = _read_doc(path)
    data = _require_mapping(doc)
    if _looks_like_study(data):
        return _expand(doc, cli)
    layers = [_Layer(path=(), doc=doc)]
    data = _apply_cli(data, layers, cli)
    cfg = _default_name(_validate(data, layers), doc.file)
    applied = {dotted: value for dotted, _path, value, _pos in cli}
    return [PlannedRun(cfg.name or "run", cfg, doc.file, None, applied)]


def trainer_module(name: str) -> str:
    """The module the launcher runs as ``python -m MODULE`` for trainer ``name``."""
    try:
        modules = trainer_modules()
    except ValueError as exc:
        raise ConfigError(
            str(exc), field="trainer", hint=f"set {EXTRA_TRAINERS_ENV} to name=python.module[,...]"
        ) from None
    if name not in modules:
        raise ConfigError(
            f"unknown trainer {name!r}{_did_you_mean(name, modules)}",
            field="trainer",
            hint="use one of: " + ", ".join(modules),
        )
    return modules[name]


# --------------------------------------------------------------------------- discovery


@dataclass
class ConfigEntry:
    """One YAML file under ``configs/``: its runs, or the error that keeps it from launching."""

    path: Path
    kind: Literal["experiment", "study"]
    name: str
    study_title: str | None
    runs: list[PlannedRun]
    error: ConfigError | None = None


def discover(configs_dir: str | os.PathLike[str]) -> list[ConfigEntry]:
    """Every ``*.yaml``/``*.yml`` below ``configs_dir`` (sorted, hidden entries skipped).

    Never raises for a bad file: its entry carries ``error`` and no runs.
    """
    root = Path(configs_dir)
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(
            Path(dirpath) / f for f in filenames if not f.startswith(".") and f.endswith((".yaml", ".yml"))
        )
    files.sort(key=lambda p: p.relative_to(root).as_posix())
    entries = []
    for path in files:
        kind: Literal["experiment", "study"] = "study" if is_study(path) else "experiment"
        title: str | None = None
        name = path.stem
        try:
            runs = expand_study(path)
            error = None
        except ConfigError as exc:
            runs, error = [], exc
        except Exception as exc:  # noqa: BLE001 - a bug must not hide the other configs
            runs, error = (
                [],
                ConfigError(f"internal error: {type(exc).__name__}: {exc}", file=str(path), line=1),
            )
        if kind == "study":
            title = runs[0].study if runs else _peek_title(path)
        elif runs:
            name = runs[0].name
        entries.append(
            ConfigEntry(path=path, kind=kind, name=name, study_title=title, runs=runs, error=error)
        )
    return entries


def _peek_title(path: Path) -> str | None:
    try:
        data = _read_doc(path).data
    except ConfigError:
        return None
    title = data.get("study") if isinstance(data, dict) else None
    return title if isinstance(title, str) else None


# --------------------------------------------------------------------------- reference docs

REFERENCE_BEGIN = "<!-- BEGIN SCHEMA REFERENCE (generated by hw2.config.schema_reference; do not edit) -->"
REFERENCE_END = "<!-- END SCHEMA REFERENCE -->"


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(section)"
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    return f"`{text}`"


def _allowed_text(info: FieldInfo, name: str) -> str:
    parts = []
    rng = _range_text(_constraints(info), name)
    if rng:
        parts.append(rng)
    item = _list_item(info.annotation)
    if item is not None:
        item_rng = _range_text(_constraints(None, item), "each")
        if item_rng:
            parts.append(item_rng)
    cons = _constraints(info)
    unit = "characters" if str in _unwrap(info.annotation) else "items"
    if "min_length" in cons and "max_length" in cons:
        parts.append(f"{cons['min_length']}-{cons['max_length']} {unit}")
    elif "max_length" in cons:
        parts.append(f"at most {cons['max_length']} {unit}")
    elif cons.get("min_length") == 1:
        parts.append("not empty")
    elif "min_length" in cons:
        parts.append(f"at least {cons['min_length']} {unit}")
    pattern = next((getattr(m, "pattern", None) for m in info.metadata if getattr(m, "pattern", None)), None)
    if pattern:
        parts.append(f"matches `{pattern}`")
    return "; ".join(parts)


def _table(model: type[BaseModel], prefix: str) -> list[str]:
    rows = ["| key | type | default | allowed | description |", "|---|---|---|---|---|"]
    for name, info in model.model_fields.items():
        typ = _type_text(info.annotation)
        desc = (info.description or "").replace("|", "\\|")
        allowed = _allowed_text(info, name).replace("|", "\\|")
        rows.append(
            f"| `{prefix}{name}` | {typ.replace('|', '/')} | {_default_text(info)} | {allowed} | {desc} |"
        )
    return rows


def schema_reference() -> str:
    """Markdown tables of every config field (type, default, range, description), from the schema.

    ``docs/configs.md`` embeds this between markers; a test keeps the two in sync
    (regenerate with ``python -m hw2.config --write-docs docs/configs.md``).
    """
    out: list[str] = ["### Experiment (top level)", "", *_table(ExperimentConfig, "")]
    sections: list[tuple[str, type[BaseModel]]] = []
    for name, info in ExperimentConfig.model_fields.items():
        sub = _submodel(info.annotation)
        if sub is not None:
            sections.append((name, sub))
            for sub_name, sub_info in sub.model_fields.items():
                inner = _submodel(sub_info.annotation)
                if inner is not None:
                    sections.append((f"{name}.{sub_name}", inner))
    for dotted, model in sections:
        doc = (model.__doc__ or "").strip().splitlines()
        out += ["", f"### `{dotted}`", ""]
        if doc:
            out += [doc[0], ""]
        out += _table(model, f"{dotted}.")
    out += ["", "### Study (top level)", "", *_table(StudySpec, "")]
    out += ["", "### Study `variants[]` item", "", *_table(StudyVariant, "")]
    trainers = ", ".join(f"`{k}` → `{v}`" for k, v in BUILTIN_TRAINER_MODULES.items())
    out += ["", f"Trainers: {trainers}; more via `{EXTRA_TRAINERS_ENV}=name=module,...`."]
    return "\n".join(out) + "\n"


def write_reference(doc_path: str | os.PathLike[str]) -> bool:
    """Rewrite the generated block of ``doc_path``; returns whether the file changed."""
    path = Path(doc_path)
    text = path.read_text(encoding="utf-8")
    start, end = text.index(REFERENCE_BEGIN), text.index(REFERENCE_END)
    new = text[: start + len(REFERENCE_BEGIN)] + "\n\n" + schema_reference() + "\n" + text[end:]
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def _main(argv: list[str]) -> int:
    """``python -m hw2.config`` prints the reference; ``--write-docs FILE`` updates it; ``FILE...`` validates."""
    if argv[:1] == ["--write-docs"] and len(argv) == 2:
        changed = write_reference(argv[1])
        print(f"{argv[1]}: {'updated' if changed else 'up to date'}")
        return 0
    if not argv:
        print(schema_reference(), end="")
        return 0
    status = 0
    for arg in argv:
        try:
            runs = expand_study(arg)
            print(f"{arg}: ok, {len(runs)} run{'s' if len(runs) != 1 else ''}")
        except ConfigError as exc:
            print(exc)
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
