"""Markdown text for the reports, in one place: plain text that stays text, and table rows.

``report.md`` and ``environment.md`` carry text other people wrote (study titles and descriptions,
variant names, config values, file paths) into a file a Markdown viewer renders. :func:`text`
keeps such text one line of plain text there: whitespace (line breaks too) collapsed, so nothing
ends a heading or a table row or starts a block; ``\\ ` * _ [ ] < > # | ~`` escaped where they
would be markup (``_`` inside a word and ``\\`` before a space are not), so nothing becomes
emphasis, code, a link, an image, raw HTML or a cell boundary. Every table cell goes through
:func:`cell` (a :class:`Markup` value, such as :func:`code` or :func:`strong`, is already safe).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_MARKUP = re.compile(
    r"""
      \\(?=[!-/:-@\[-`{-~])          # a backslash that would escape the next character
    | [`*<>\#|~\[]                   # code, emphasis, HTML, headings, cells, strikethrough, links
    | \](?=[(\[:])                   # the end of a link's text: ](url) [ref] [ref]:
    | (?<![A-Za-z0-9])_ | _(?![A-Za-z0-9])   # emphasis with underscores (inside a word it is text)
    """,
    re.X,
)
_BLOCK_START = re.compile(r"^(?:([-+=])|(\d+)([.)]))(?=\s|$)")
"""A list item or a setext underline at the start of a paragraph."""


class Markup(str):
    """Markdown already made safe (:func:`code`, :func:`strong`): a cell takes it as it is."""


def text(value: object) -> str:
    """``value`` as one line of plain text in Markdown (see the module's docstring)."""
    one_line = " ".join(str(value).split())
    out = _MARKUP.sub(lambda m: "\\" + m.group(), one_line)
    out = re.sub(r"&(?=#?\w+;)", "&amp;", out)  # an entity would turn into its character
    return _BLOCK_START.sub(lambda m: "\\" + m.group(1) if m.group(1) else f"{m.group(2)}\\{m.group(3)}", out)


def code(value: object) -> Markup:
    """``value`` as inline code on one line: fenced with more backticks than it holds, pipes
    escaped (a table splits on them even inside code)."""
    one_line = " ".join(str(value).split()).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", one_line)), default=0) + 1)
    pad = " " if one_line.startswith("`") or one_line.endswith("`") else ""
    return Markup(f"{fence}{pad}{one_line}{pad}{fence}")


def strong(value: object) -> Markup:
    """``value`` as plain text in bold."""
    return Markup(f"**{text(value)}**")


def cell(value: object) -> str:
    """One table cell: :class:`Markup` as it is, anything else through :func:`text`."""
    return value if isinstance(value, Markup) else text(value)


def row(cells: Iterable[object]) -> str:
    """One table row, every cell through :func:`cell`."""
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def table(header: Sequence[object], rows: Iterable[Sequence[object]]) -> list[str]:
    """A table's lines: the header, the rule, the rows."""
    return [row(header), "|" + "|".join("---" for _ in header) + "|", *(row(r) for r in rows)]
