"""Walking the pydantic schema: what a key path points at, its type and range in words."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo


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
