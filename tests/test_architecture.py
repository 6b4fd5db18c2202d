"""Architecture rules: the TUI process stays light; UI-free code stays UI-free."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, modules_after, top_level

FRAMEWORKS = ("torch", "tensorflow", "keras", "torchvision")


def test_import_linter_contracts_hold() -> None:
    # lint-imports is installed beside the interpreter running the tests (the project's venv).
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "lint-imports not found: install the dev extras (pip install -e '.[dev]')"
    proc = subprocess.run([exe], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Every contract in pyproject.toml was checked and kept (however many there are).
    contracts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "importlinter"
    ]["contracts"]
    assert contracts, "no import-linter contracts configured"
    text = " ".join(proc.stdout.split())  # lint-imports wraps long contract names
    for contract in contracts:
        assert f"{contract['name']} KEPT" in text, (contract["name"], proc.stdout)
    assert f"Contracts: {len(contracts)} kept, 0 broken" in proc.stdout, proc.stdout


@pytest.mark.parametrize(
    "module", ["hw2.cli", "hw2.config", "hw2.runs.store", "hw2.queue", "hw2.export", "hw2.analysis.report"]
)
def test_core_modules_import_no_framework_or_textual(module: str) -> None:
    loaded = modules_after(f"import {module}")
    assert module in loaded  # the probe works
    bad = top_level(loaded) & {*FRAMEWORKS, "textual"}
    assert not bad, f"{module} pulled in: {sorted(bad)}"
