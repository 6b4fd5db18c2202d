"""LaTeX text for the reports, in one place: escaping plain text and converting a student's
Markdown (``conclusion.md``) to LaTeX.

:func:`escape` makes any text safe in LaTeX's normal mode (the ten special characters, a few
typographic symbols, accented Latin letters as accent commands; anything else becomes ``?`` rather
than an error under a plain ``pdflatex`` with no font packages); :func:`file_name` puts a file's path
(not text: ``\\includegraphics``' argument) into TeX code so that nothing in it runs or breaks the
line, whatever the folder is called. :func:`markdown_to_latex` keeps
paragraphs (blank-line separated), ``*emphasis*``/``_emphasis_``, ``**bold**``/``__bold__``,
```code```, bullet and numbered lists, ``#`` headings, and passes inline maths ``$...$`` (and
display maths ``$$...$$``) through verbatim; everything else is escaped. HTML comments
(``<!-- ... -->``) are dropped. A dollar that opens no maths (``$5``, ``\\$``) is printed as a dollar.
"""

from __future__ import annotations

import re
import unicodedata

_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "±": r"$\pm$",
    "–": r"\textendash{}",
    "—": r"\textemdash{}",
    "−": "$-$",
    "→": r"$\rightarrow$",
    "←": r"$\leftarrow$",
    "★": r"$\star$",
    "×": r"$\times$",
    "·": r"$\cdot$",
    "≈": r"$\approx$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "≠": r"$\neq$",
    "°": r"$^\circ$",
    "µ": r"$\mu$",
    "μ": r"$\mu$",
    "…": r"\ldots{}",
    "“": "``",
    "”": "''",
    "‘": "`",
    "’": "'",
    "\u00a0": "~",
    "ß": r"\ss{}",
    "æ": r"\ae{}",
    "Æ": r"\AE{}",
    "ø": r"\o{}",
    "Ø": r"\O{}",
    "œ": r"\oe{}",
    "Œ": r"\OE{}",
}
_TEX_RE = re.compile("|".join(re.escape(k) for k in _TEX))
_ACCENTS = {
    "\u0300": "`",
    "\u0301": "'",
    "\u0302": "^",
    "\u0303": "~",
    "\u0304": "=",
    "\u0308": '"',
    "\u030a": "r",
    "\u030c": "v",
    "\u0327": "c",
}
"""Combining marks → the accent command of LaTeX's default (OT1) fonts: é → ``\\'{e}``."""


def _other(ch: str) -> str:
    """A character outside ASCII and :data:`_TEX`: an accented Latin letter as its accent command,
    anything else ``?`` (it would need a font or package the homework may not load)."""
    base, *marks = unicodedata.normalize("NFD", ch)
    if base.isascii() and base.isalpha() and len(marks) == 1 and marks[0] in _ACCENTS:
        cmd = _ACCENTS[marks[0]]
        return f"\\{cmd}{{{base}}}" if cmd.isalpha() else f"{{\\{cmd}{{{base}}}}}"
    return "?"


_DOUBLE_QUOTED = re.compile(r'"([^"\n]*)"')
_SINGLE_QUOTED = re.compile(r"(?<![\w'])'([^'\n]+?)'(?![\w'])")


def escape(text: str) -> str:
    """Text safe in LaTeX's normal mode: special characters escaped, ± and dashes mapped, straight
    quotes paired into opening and closing ones, ``--`` kept as two hyphens (a command-line option,
    not an en dash)."""
    text = _DOUBLE_QUOTED.sub("\u201c\\1\u201d", text)
    text = _SINGLE_QUOTED.sub("\u2018\\1\u2019", text)
    out = _TEX_RE.sub(lambda m: _TEX[m.group()], text)
    out = re.sub(r"-(?=-)", "-{}", out)
    return "".join(c if c.isascii() else _other(c) for c in out)


def path_text(path: str) -> str:
    """A file path in typewriter type that may break after each ``/`` (no overfull lines)."""
    return "\\texttt{" + escape(path).replace("/", "/\\allowbreak{}") + "}"


_FILE_SPECIAL = re.compile(r'[\\{}%#~$^&_" \x00-\x1f\x7f]')
"""Characters of a file name that TeX would read as markup (or that end a line)."""


def file_name(path: str, macro: str, prefix: str = "") -> str | None:
    """TeX code that defines ``\\<macro>`` as ``prefix`` (TeX code, expanded) followed by the
    characters of the file ``path`` (for ``\\includegraphics{\\<macro>}``), or None when ``path`` holds no special character and can be
    written as it is. A path is not text: ``\\%`` would be looked up as a file named so, and a raw
    ``%`` ends the line, ``#`` breaks the macro, ``\\typeout{...}`` runs. Each special character is
    written ``\\string\\%`` under ``\\escapechar=-1``, which yields the character itself as a
    harmless "other" character (the LaTeX kernel's way of reading file names); a control character
    as its ``^^`` code. Whatever the folder is called, the path is found and nothing in it runs."""
    if not _FILE_SPECIAL.search(path):
        return None

    def one(m: re.Match[str]) -> str:
        ch = m.group()
        return f"\\string\\^^{ord(ch):02x}" if ord(ch) < 32 or ord(ch) == 127 else f"\\string\\{ch}"

    return f"{{\\escapechar=-1 \\xdef\\{macro}{{{prefix}{_FILE_SPECIAL.sub(one, path)}}}}}"


# --------------------------------------------------------------------------- Markdown → LaTeX

_COMMENT = re.compile(r"<!--.*?-->", re.S)

_INLINE = re.compile(
    r"""
      \\(?P<esc>[\\`*_{}\[\]()#+\-.!$%&~^|<>])        # a Markdown backslash escape: the character
    | \$\$(?P<dmath>.+?)\$\$                          # display maths, verbatim
    | \$(?P<math>[^\s$](?:[^$]*?[^\s$\\])?)\$(?!\d)   # inline maths: no space inside the dollars
    | `(?P<code>[^`]+)`
    | \*\*(?P<bold>\S(?:.*?\S)?)\*\*
    | (?<![A-Za-z0-9_])__(?P<bold2>\S(?:.*?\S)?)__(?![A-Za-z0-9_])
    | \*(?P<em>[^\s*](?:.*?[^\s*])?)\*
    | (?<![A-Za-z0-9_])_(?P<em2>[^\s_](?:.*?[^\s_])?)_(?![A-Za-z0-9_])
    """,
    re.X | re.S,
)
_BULLET = re.compile(r"^\s{0,3}[-*+]\s+")
_NUMBERED = re.compile(r"^\s{0,3}\d+[.)]\s+")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def strip_comments(md: str) -> str:
    """``md`` without its HTML comments (``<!-- ... -->``)."""
    return _COMMENT.sub("", md)


def inline(text: str) -> str:
    """One paragraph's text: emphasis, code and maths converted, the rest escaped."""
    out: list[str] = []
    pos = 0
    for m in _INLINE.finditer(text):
        out.append(escape(text[pos : m.start()]))
        pos = m.end()
        kind = m.lastgroup
        value = m.group(kind or 0)
        if kind == "esc":
            out.append(escape(value))
        elif kind == "dmath":
            out.append(f"\\[{value}\\]")
        elif kind == "math":
            out.append(f"${value}$")
        elif kind == "code":
            out.append(f"\\texttt{{{escape(value)}}}")
        elif kind in ("bold", "bold2"):
            out.append(f"\\textbf{{{inline(value)}}}")
        else:
            out.append(f"\\emph{{{inline(value)}}}")
    out.append(escape(text[pos:]))
    return "".join(out)


def _list(lines: list[str], marker: re.Pattern[str], env: str) -> str:
    items: list[list[str]] = []
    for line in lines:
        if marker.match(line) or not items:
            items.append([marker.sub("", line, count=1)])
        else:
            items[-1].append(line.strip())
    body = ["\\item " + inline("\n".join(item)) for item in items]
    return "\n".join([f"\\begin{{{env}}}", *body, f"\\end{{{env}}}"])


def markdown_to_latex(md: str) -> str:
    """A student's Markdown as LaTeX blocks separated by blank lines (see the module's docstring)."""
    text = strip_comments(md).replace("\r\n", "\n")
    blocks = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines = [ln.rstrip() for ln in block.split("\n") if ln.strip()]
        if not lines:
            continue
        heading = _HEADING.match(lines[0]) if len(lines) == 1 else None
        if heading:
            blocks.append(f"\\paragraph{{{inline(heading.group(2))}}}")
        elif _BULLET.match(lines[0]):
            blocks.append(_list(lines, _BULLET, "itemize"))
        elif _NUMBERED.match(lines[0]):
            blocks.append(_list(lines, _NUMBERED, "enumerate"))
        else:
            blocks.append(inline("\n".join(ln.strip() for ln in lines)))
    return "\n\n".join(blocks)
