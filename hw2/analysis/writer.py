"""``hw2-tui report``: a study's answer written to ``reports/<study>/`` (regenerated idempotently).

The folder holds ``figure.png``/``figure.pdf`` (loss and accuracy per variant, mean over seeds),
``report.md`` (tables, verdicts, sentences, the figure, each model's definition), ``report.tex``
(a fragment to ``\\input``), ``runs.csv``/``metrics.csv`` (the study's runs, as ``hw2-tui export``
writes them) and ``environment.md`` (versions, device, git commit and data checksums, so the
numbers can be traced). Every figure comes from the runs' summaries (:mod:`hw2.runs.summary`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hw2 import contract
from hw2.analysis.report import StudyInfo, StudyReport, build, latex, markdown
from hw2.analysis.stats import group_runs
from hw2.runs.summary import EpochPoint, RunSummary

DEFAULT_REPORTS_DIR = Path("reports")
DATA_FILES = ("*.gz", "*.npz", "*.tar.gz", "*/*.gz", "*/*.npz", "*/*.tar.gz")


@dataclass(frozen=True)
class Written:
    out_dir: Path
    report: StudyReport
    files: tuple[Path, ...]


def study_info(study_file: Path) -> tuple[StudyInfo, list[str]]:
    """Title and description of a study file (validated through the config layer), and its
    variants in the file's order (the first is the reference of every verdict)."""
    from hw2.config import expand_study

    planned = expand_study(study_file)
    title = planned[0].study or planned[0].name
    import yaml

    data = yaml.safe_load(study_file.read_text(encoding="utf-8")) or {}
    description = data.get("description", "") if isinstance(data, dict) else ""
    order = list(dict.fromkeys(p.variant or p.name for p in planned))
    return StudyInfo(title=title, description=str(description or ""), file=str(study_file)), order


def study_slug(study_file: Path) -> str:
    return contract.safe_name(study_file.stem)


def _series(runs: Iterable[RunSummary]) -> dict[str, list[EpochPoint]]:
    from hw2.runs.store import read_epoch_lines

    out: dict[str, list[EpochPoint]] = {}
    for r in runs:
        if r.status != "done" or not r.path:
            continue
        points = [p for line in read_epoch_lines(r.path) if (p := EpochPoint.from_line(line)) is not None]
        out[r.run_id] = points
    return out


def _models(runs: Sequence[RunSummary]) -> dict[str, dict[str, Any]]:
    """Each distinct model (its ``model.name``) with the layer summary its trainer recorded."""
    out: dict[str, dict[str, Any]] = {}
    for r in runs:
        name = str(r.hparams.get("model.name") or r.trainer or "model")
        if name in out or r.status != "done" or not r.path:
            continue
        result = contract.read_result(Path(r.path)) or {}
        layers = result.get("model_summary")
        if isinstance(layers, list):
            out[name] = {"params": result.get("params") or 0, "layers": [str(x) for x in layers]}
    return out


def _sha256(path: Path, cache: dict[str, Any]) -> str:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    if key not in cache:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        cache[key] = h.hexdigest()
    return str(cache[key])


def _data_dirs(runs: Sequence[RunSummary]) -> list[Path]:
    dirs: list[Path] = []
    for r in runs:
        meta = contract.read_meta(Path(r.path)) if r.path else None
        d = meta.extra.get("data_dir") if meta else None
        if isinstance(d, str):
            dirs.append(Path(d))
    env = os.environ.get("HW2_DATA_DIR")
    if env:
        dirs.append(Path(env))
    dirs += [Path("data"), Path("../shared/data")]
    return [d for d in dict.fromkeys(dirs) if d.is_dir()]


def environment_md(runs: Sequence[RunSummary], out_dir: Path) -> str:
    """Versions, device/GPU and git commit per run (grouped when equal), and data checksums."""
    groups: dict[str, list[str]] = {}
    for r in runs:
        meta = contract.read_meta(Path(r.path)) if r.path else None
        if meta is None:
            continue
        versions = ", ".join(f"{k} {v}" for k, v in sorted(meta.versions.items())) or "not recorded"
        gpu = meta.gpu_name or ""
        line = (
            f"- host {meta.host}, device {meta.device or '?'}{' (' + gpu + ')' if gpu else ''}, "
            f"git commit {meta.git_commit or '?'}; {versions}"
        )
        groups.setdefault(line, []).append(r.name)
    out = ["# Environment", "", "## Runs", ""]
    for line, names in groups.items():
        out.append(f"{line} — {len(names)} run(s): {', '.join(names[:6])}{' …' if len(names) > 6 else ''}")
    cache_path = out_dir / ".checksums.json"
    cache = contract.read_json(cache_path) or {}
    rows = []
    for d in _data_dirs(runs):
        for pattern in DATA_FILES:
            for f in sorted(d.glob(pattern)):
                rows.append(f"| `{f}` | {f.stat().st_size:,} | `{_sha256(f, cache)}` |")
    out += ["", "## Data", ""]
    if rows:
        out += ["| file | bytes | sha256 |", "|---|---|---|", *dict.fromkeys(rows)]
    else:
        out.append("No dataset files found (set HW2_DATA_DIR to record their checksums).")
    contract.atomic_write_json(cache_path, cache)
    return "\n".join(out) + "\n"


def write_study_report(
    runs_dir: Path,
    study_file: Path,
    out_dir: Path | None = None,
    *,
    include_smoke: bool = False,
) -> Written:
    """Write the report of ``study_file`` from the runs in ``runs_dir``; returns what was written.
    Smoke runs (``sweep --smoke``) are left out unless ``include_smoke``."""
    from hw2.analysis.figures import save_figure, study_figure
    from hw2.export import export_csv
    from hw2.runs.store import list_runs

    info, order = study_info(study_file)
    out_dir = out_dir or DEFAULT_REPORTS_DIR / study_slug(study_file)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = [s for s in list_runs(runs_dir) if s.study == info.title and (include_smoke or not s.smoke)]
    # the study's own variant order (its first variant is the reference), then seeds; variants the
    # file no longer has (it was edited since) come last
    rank = {v: i for i, v in enumerate(order)}
    runs.sort(key=lambda s: (rank.get(s.variant or s.name, len(rank)), s.seed or 0, s.run_id))
    rep = build(info, runs, _models(runs))
    files: list[Path] = []
    figure_md = figure_tex = None
    if any(g.done for g in rep.groups):
        png, pdf = save_figure(study_figure(info.title, group_runs(runs), _series(runs)), out_dir / "figure")
        files += [png, pdf]
        figure_md = png.name
        figure_tex = pdf.as_posix()
    md = out_dir / "report.md"
    contract.atomic_write_text(md, markdown(rep, figure=figure_md))
    tex = out_dir / "report.tex"
    contract.atomic_write_text(tex, latex(rep, figure=figure_tex))
    ids = {s.run_id for s in runs}
    results, metrics = export_csv(runs_dir, out_dir, only=lambda s: s.run_id in ids, include_smoke=True)
    runs_csv = out_dir / "runs.csv"
    os.replace(results, runs_csv)
    env = out_dir / "environment.md"
    contract.atomic_write_text(env, environment_md(runs, out_dir))
    files += [md, tex, runs_csv, metrics, env]
    return Written(out_dir, rep, tuple(files))
