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


def test_no_import_cycles_in_hw2_or_tui() -> None:
    """No module of hw2 or tui reaches itself through imports (TYPE_CHECKING and function-level
    imports count): the cycles issue 18 removed (hw2.queue <-> hw2.slurm, hw2.contract ->
    hw2.runs.liveness, pivot <-> report, tui.app <-> its screens) cannot come back unseen."""
    import grimp  # import-linter's own graph builder

    graph = grimp.build_graph("hw2", "tui")
    ours = {m for m in graph.modules if m.split(".")[0] in ("hw2", "tui")}
    cycles = []
    for module in sorted(ours):
        for other in graph.find_modules_directly_imported_by(module) & ours:
            if graph.find_shortest_chain(importer=other, imported=module) is not None:
                cycles.append((module, other))
    assert not cycles, f"import cycles (module, imports, ... back to module): {cycles}"


@pytest.mark.parametrize(
    "module",
    [
        "hw2.cli",
        "hw2.config",
        "hw2.runs.readers",
        "hw2.runs.watcher",
        "hw2.queue",
        "hw2.daemon",
        "hw2.planning",
        "hw2.run_keys",
        "hw2.export",
        "hw2.analysis.report",
        "hw2.executors",
        "hw2.executors.local",
        "hw2.executors.slurm",
        "hw2.sweep",
        "hw2.notify",
    ],
)
def test_core_modules_import_no_framework_or_textual(module: str) -> None:
    loaded = modules_after(f"import {module}")
    assert module in loaded  # the probe works
    bad = top_level(loaded) & {*FRAMEWORKS, "textual"}
    assert not bad, f"{module} pulled in: {sorted(bad)}"
