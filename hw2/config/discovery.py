"""Every config under ``configs/``: its runs, or the error that keeps it from launching."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hw2.config.errors import ConfigError
from hw2.config.experiments import PlannedRun, is_study
from hw2.config.studies import expand_study
from hw2.config.yaml_lines import _read_doc


@dataclass
class ConfigEntry:
    """One YAML file under ``configs/``: its runs, or the error that keeps it from launching."""

    path: Path
    kind: Literal["experiment", "study"]
    name: str
    study_title: str | None
    runs: list[PlannedRun]
    error: ConfigError | None = None


def discover(configs_dir: str | os.PathLike[str]) -> list[ConfigEntry]:
    """Every ``*.yaml``/``*.yml`` below ``configs_dir`` (sorted, hidden entries skipped).

    Never raises for a bad file: its entry carries ``error`` and no runs.
    """
    root = Path(configs_dir)
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(
            Path(dirpath) / f for f in filenames if not f.startswith(".") and f.endswith((".yaml", ".yml"))
        )
    files.sort(key=lambda p: p.relative_to(root).as_posix())
    entries = []
    for path in files:
        kind: Literal["experiment", "study"] = "study" if is_study(path) else "experiment"
        title: str | None = None
        name = path.stem
        try:
            runs = expand_study(path)
            error = None
        except ConfigError as exc:
            runs, error = [], exc
        except Exception as exc:  # noqa: BLE001 - a bug must not hide the other configs
            runs, error = (
                [],
                ConfigError(f"internal error: {type(exc).__name__}: {exc}", file=str(path), line=1),
            )
        if kind == "study":
            title = runs[0].study if runs else _peek_title(path)
        elif runs:
            name = runs[0].name
        entries.append(
            ConfigEntry(path=path, kind=kind, name=name, study_title=title, runs=runs, error=error)
        )
    return entries


def _peek_title(path: Path) -> str | None:
    try:
        data = _read_doc(path).data
    except ConfigError:
        return None
    title = data.get("study") if isinstance(data, dict) else None
    return title if isinstance(title, str) else None
