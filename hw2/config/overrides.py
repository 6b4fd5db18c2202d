"""``--set key.path=value`` overrides: parsed, checked against the schema, merged into a config."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from pydantic import BaseModel

from hw2.config.errors import DOC_FIELD, ConfigError, Loc, _did_you_mean, _got
from hw2.config.schema_walk import _submodel
from hw2.config.validation import _Layer, _locate
from hw2.config.yaml_lines import _parse_yaml
from hw2.schema import ExperimentConfig

OVERRIDE_FILE = "--set"

_MERGE_DEPTH = 32


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
