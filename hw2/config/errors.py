"""ConfigError: one line naming file, line, field and the fix; small text helpers for messages."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from typing import Any

DOC_FIELD = "<document>"  # the field of errors about the whole file (syntax, not a mapping)

Loc = tuple[str, ...]


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
