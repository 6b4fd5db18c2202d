"""Security rules checked on the source itself: no shell, no eval/exec, safe YAML only.

These read the project's Python files (not a mock): adding ``shell=True`` or ``yaml.load(`` anywhere
in the shipped packages makes the test fail, naming the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

PACKAGES = ("hw2", "tui", "trainers", "bench")


def _sources() -> list[Path]:
    files: list[Path] = []
    for pkg in PACKAGES:
        files.extend(sorted((PROJECT_ROOT / pkg).rglob("*.py")))
    return files


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        where = f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}"
        if name in {"eval", "exec"} and not owner:
            found.append(f"{where}: {name}()")
        if owner == "os" and name in {"system", "popen"}:
            found.append(f"{where}: os.{name}() runs a shell")
        if owner == "yaml" and name in {"load", "load_all", "unsafe_load", "full_load"}:
            found.append(f"{where}: yaml.{name}() — use yaml.safe_load")
        for kw in node.keywords:
            if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                found.append(f"{where}: shell=... — pass an argument list instead")
    return found


def test_sources_found() -> None:
    names = {p.relative_to(PROJECT_ROOT).parts[0] for p in _sources()}
    assert {"hw2", "trainers"} <= names


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_no_shell_eval_or_unsafe_yaml(path: Path) -> None:
    assert _violations(path) == []


def test_checker_catches_each_pattern(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import os, subprocess, yaml\n"
        "eval('1')\nexec('x=1')\nos.system('ls')\n"
        "subprocess.run('ls', shell=True)\nyaml.load('a: 1')\n"
    )
    # The checker reports paths relative to the project; place the probe file inside it temporarily.
    probe = PROJECT_ROOT / "tests" / "reliability" / "_probe_bad.py"
    probe.write_text(bad.read_text())
    try:
        kinds = "\n".join(_violations(probe))
    finally:
        probe.unlink()
    for needle in ("eval()", "exec()", "os.system()", "shell=", "yaml.load()"):
        assert needle in kinds, kinds


# Modules that would serve the app or its data over a network. The project has no browser or
# server mode (the TUI runs over SSH); adding one would widen the attack surface silently.
SERVER_MODULES = ("http.server", "socketserver", "textual_serve", "aiohttp", "flask", "fastapi", "uvicorn")


def _server_violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(PROJECT_ROOT)}:{getattr(node, 'lineno', 0)}"
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            if any(name == m or name.startswith(m + ".") for m in SERVER_MODULES):
                found.append(f"{where}: imports {name}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "listen":
            found.append(f"{where}: .listen() opens a server socket")
    return found


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_no_server_or_browser_mode(path: Path) -> None:
    assert _server_violations(path) == []


def test_server_checker_catches_each_pattern() -> None:
    probe = PROJECT_ROOT / "tests" / "reliability" / "_probe_server.py"
    probe.write_text(
        "import http.server\nfrom textual_serve.server import Server\nimport socket\nsocket.socket().listen(1)\n"
    )
    try:
        found = "\n".join(_server_violations(probe))
    finally:
        probe.unlink()
    for needle in ("http.server", "textual_serve", ".listen()"):
        assert needle in found, found
