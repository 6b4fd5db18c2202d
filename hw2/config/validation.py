"""Pydantic errors → one ConfigError at the file and line where the offending key was written."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from hw2.config.errors import DOC_FIELD, ConfigError, Loc, _did_you_mean, _dotted, _got, _one_line
from hw2.config.schema_walk import (
    _constraints,
    _fmt_num,
    _literal_choices,
    _range_text,
    _resolve,
    _submodel,
    _type_text,
)
from hw2.config.yaml_lines import _Doc
from hw2.registry import EXTRA_TRAINERS_ENV, trainer_modules

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
    if ctx.get("subpath") is not None:  # a model validator's error about one of its keys
        loc.extend(str(p) for p in ctx["subpath"])
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
    if etype == "bad_schedule":
        return path, str(err.get("msg")), str(ctx.get("fix") or "") or hint
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
