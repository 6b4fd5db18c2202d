"""docs/cli.md stays true to ``hw2-tui --help``: every command has a section, and every option of a
command is named in its section (the global ones in the page's options table)."""

from __future__ import annotations

import argparse
import re

from hw2.cli import build_parser
from tests.conftest import PROJECT_ROOT

DOC = (PROJECT_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")


def _long_options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings if o.startswith("--") and o != "--help"}


def test_every_command_and_option_is_documented() -> None:
    parser = build_parser()
    global_opts = _long_options(parser)
    table = DOC[: DOC.index("## Commands")]
    assert all(f"`{o}`" in table or o in table for o in global_opts), global_opts
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert len(sub.choices) >= 10
    problems = []
    for name, command in sub.choices.items():
        section = re.search(rf"^### `{re.escape(name)}\b.*?(?=^### |^## |\Z)", DOC, re.S | re.M)
        if section is None:
            problems.append(f"{name}: no '### `{name} ...`' section")
            continue
        own = _long_options(command) - {"--runs-dir", "--configs-dir", "--data-dir"}
        problems += [f"{name}: {o} not in its section" for o in sorted(own) if o not in section.group(0)]
    assert not problems, "docs/cli.md is stale:\n" + "\n".join(problems)
