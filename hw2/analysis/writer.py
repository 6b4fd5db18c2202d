"""``hw2-tui report``: a study's answer written to ``reports/<study>/`` (regenerated idempotently).

The folder holds ``figure.png``/``figure.pdf`` (loss and accuracy per variant, mean over seeds),
``report.md`` (tables, verdicts, facts, the figure, the conclusion, each model's definition),
``report.tex`` (a fragment to ``\\input`` from anywhere: its figure path is relative to its own
folder), ``runs.csv``/``metrics.csv`` (the study's runs, as ``hw2-tui export`` writes them),
``environment.md`` (versions, device, git commit and the checksums of the datasets the runs used,
so the numbers can be traced) and ``conclusion.md``: the student's conclusion, created once with a
placeholder and never overwritten. Every figure comes from the runs' summaries
(:mod:`hw2.runs.summary`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hw2 import contract
from hw2.analysis import markdown as md
from hw2.analysis.latex import strip_comments
from hw2.analysis.report import (
    Conclusion,
    StudyInfo,
    StudyReport,
    build,
    latex,
    markdown,
    plan_diff,
    shown_path,
)
from hw2.analysis.stats import group_runs
from hw2.runs.summary import EpochPoint, RunSummary, flatten_config

DEFAULT_REPORTS_DIR = Path("reports")
DATA_FILES = (
    "*.gz",
    "*.npz",
    "*.tar.gz",
    "*/*.gz",
    "*/*.npz",
    "*/*.tar.gz",
    "*/raw/*.gz",
    "*/*/raw/*.gz",
    "cifar-10-batches-py/*",
    "*/cifar-10-batches-py/*",
)
DATASET_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10"}
CONCLUSION_FILE = "conclusion.md"
_ASK = "Replace this sentence with your conclusion"


@dataclass(frozen=True)
class Environment:
    """What the runs ran on: one line per distinct host/device/commit/versions with the runs' names,
    the datasets they used, and each dataset file found with its size and sha256."""

    runs: tuple[tuple[str, tuple[str, ...]], ...]
    datasets: tuple[str, ...]
    data: tuple[tuple[str, int, str], ...]


@dataclass(frozen=True)
class Written:
    out_dir: Path
    report: StudyReport
    files: tuple[Path, ...]
    figure: Path | None = None
    """The figure's PDF (None without a done run)."""
    environment: Environment = Environment((), (), ())


def study_info(study_file: Path) -> tuple[StudyInfo, list[str]]:
    """Title, description and planned configs of a study file (validated through the config
    layer), and its variants in the file's order (the first is the reference of every verdict)."""
    from hw2.config import expand_study

    planned = expand_study(study_file)
    title = planned[0].study or planned[0].name
    import yaml

    data = yaml.safe_load(study_file.read_text(encoding="utf-8")) or {}
    description = data.get("description", "") if isinstance(data, dict) else ""
    order = list(dict.fromkeys(p.variant or p.name for p in planned))
    plans: dict[str, dict[str, Any]] = {}
    for p in planned:
        flat = flatten_config(p.cfg.model_dump(mode="json"))
        flat.pop("seed", None)
        plans.setdefault(p.variant or p.name, flat)
    info = StudyInfo(title=title, description=str(description or ""), file=str(study_file), planned=plans)
    return info, order


def twin_runs(info: StudyInfo, own: Sequence[RunSummary], others: Sequence[RunSummary]) -> list[RunSummary]:
    """Done runs of *other* studies that compute one of this study's variants, relabelled as it.

    A sweep never queues a run whose twin (same identity) is done, queued or running: the base net
    of 2.2.2 is also the ``relu`` arm of 2.2.3, so 2.2.3's folder has no ``relu`` run of its own
    and its report must find that run by its config. A run counts when its flattened config equals
    the variant's planned one (name, description, seed and data folder aside), with the settings
    this study's own runs were all launched with applied first (``--set perf.threads=1`` at the
    sweep applies to the twins the sweep found too).
    """
    if not info.planned:
        return []
    from hw2.run_keys import NOT_IDENTITY

    ignored = NOT_IDENTITY | {"seed"}  # what never makes two runs different computations
    launched: dict[str, Any] | None = None  # settings every own run changed from its plan, one value each
    for r in own:
        plan = info.planned.get(r.variant or r.name)
        if plan is None:
            continue
        diff = {k: got for k, (_want, got) in plan_diff(plan, r.hparams).items() if k not in ignored}
        launched = diff if launched is None else {k: v for k, v in launched.items() if diff.get(k) == v}
    found = []
    for r in others:
        if r.status != "done" or not r.hparams:
            continue
        for variant, plan in info.planned.items():
            want = {**plan, **(launched or {})}
            keys = (set(want) | set(r.hparams)) - ignored
            if all(want.get(k) == r.hparams.get(k) for k in keys):
                found.append(dataclasses.replace(r, study=info.title, variant=variant))
                break
    return found


def study_slug(study_file: Path) -> str:
    return contract.safe_name(study_file.stem)


def _series(runs: Iterable[RunSummary]) -> dict[str, list[EpochPoint]]:
    from hw2.runs.readers import read_epoch_lines

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
    found: dict[Path, Path] = {}  # one entry per folder, however it was named
    for d in dirs:
        if d.is_dir():
            found.setdefault(d.resolve(), d)
    return list(found.values())


def run_dataset(run: RunSummary) -> str | None:
    """The dataset a run trained on: its config's ``data.dataset``, else its trainer's."""
    from hw2.schema import DATASET_OF_TRAINER

    named = run.hparams.get("data.dataset")
    if isinstance(named, str) and named:
        return named
    trainer = run.trainer or run.hparams.get("trainer")
    return DATASET_OF_TRAINER.get(str(trainer)) if trainer else None


def _dataset_of_file(path: Path, root: Path) -> str | None:
    """Which dataset a data file belongs to, from its name and folders (MNIST's IDX files and
    ``mnist*``; anything under a ``cifar*`` name); None when neither says."""
    for text in (path.relative_to(root).as_posix().lower(), path.as_posix().lower()):
        if "ubyte" in path.name.lower() or "mnist" in text:
            return "mnist"
        if "cifar" in text:
            return "cifar10"
    return None


def environment(runs: Sequence[RunSummary], out_dir: Path) -> Environment:
    """Versions, device/GPU and git commit per run (grouped when equal), and the checksums of the
    files of the datasets these runs used (cached in ``out_dir/.checksums.json``)."""
    groups: dict[str, list[str]] = {}
    for r in runs:
        meta = contract.read_meta(Path(r.path)) if r.path else None
        if meta is None:
            continue
        versions = ", ".join(f"{k} {v}" for k, v in sorted(meta.versions.items())) or "not recorded"
        gpu = meta.gpu_name or ""
        line = (
            f"host {meta.host}, device {meta.device or '?'}{' (' + gpu + ')' if gpu else ''}, "
            f"git commit {meta.git_commit or '?'}; {versions}"
        )
        groups.setdefault(line, []).append(r.name)
    datasets = sorted({d for r in runs if (d := run_dataset(r))})
    cache_path = out_dir / ".checksums.json"
    cache = contract.read_json(cache_path) or {}
    rows: dict[str, tuple[str, int, str]] = {}
    for d in _data_dirs(runs) if datasets else []:
        for pattern in DATA_FILES:
            for f in sorted(d.glob(pattern)):
                key = str(f.resolve())
                if key not in rows and f.is_file() and _dataset_of_file(f, d) in datasets:
                    rows[key] = (str(f), f.stat().st_size, _sha256(f, cache))
    if datasets:
        contract.atomic_write_json(cache_path, cache)
    return Environment(
        tuple((line, tuple(names)) for line, names in groups.items()), tuple(datasets), tuple(rows.values())
    )


def environment_md(env: Environment) -> str:
    out = ["# Environment", "", "## Runs", ""]
    for line, names in env.runs:
        shown = ", ".join(names[:6]) + (" …" if len(names) > 6 else "")
        out.append(f"- {line} — {len(names)} run(s): {shown}")
    if not env.runs:
        out.append("No runs.")
    out += ["", "## Data", ""]
    if not env.datasets:
        out.append("No runs: no dataset used.")
    elif env.data:
        used = ", ".join(DATASET_NAMES.get(d, d) for d in env.datasets)
        out += [f"Files of the dataset(s) the runs used ({used}):", ""]
        out += md.table(
            ["file", "bytes", "sha256"],
            ([md.code(f), f"{size:,}", md.code(sha)] for f, size, sha in env.data),
        )
    else:
        used = ", ".join(DATASET_NAMES.get(d, d) for d in env.datasets)
        out.append(f"No files of {used} found (set HW2_DATA_DIR to record their checksums).")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- conclusion.md


def conclusion_placeholder(info: StudyInfo) -> str:
    """What ``conclusion.md`` holds until the student writes it."""
    q = info.question
    return (
        f"<!-- hw2-tui: write your conclusion for question {q} below; this file is never overwritten -->\n"
        "\n"
        f"{_ASK} for question {q}: what the table and the figure show, and why. A blank line starts a "
        "new paragraph; *emphasis*, **bold** and maths such as $x^2$ work.\n"
    )


def ensure_conclusion(out_dir: Path, info: StudyInfo) -> Path:
    """``out_dir/conclusion.md``, created with the placeholder when it does not exist (never
    overwritten: an exclusive create, so not even a race replaces the student's text)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / CONCLUSION_FILE
    try:
        with open(path, "x", encoding="utf-8") as fh:
            fh.write(conclusion_placeholder(info))
    except FileExistsError:
        pass
    return path


def read_conclusion(out_dir: Path, info: StudyInfo) -> Conclusion:
    """The student's conclusion: ``conclusion.md`` without its comments and the placeholder's
    sentence (empty while only the placeholder is there)."""
    path = ensure_conclusion(out_dir, info)
    text = strip_comments(path.read_text(encoding="utf-8", errors="replace"))
    kept = [ln for ln in text.splitlines() if not ln.strip().startswith(_ASK)]
    return Conclusion("\n".join(kept).strip(), shown_path(path))


# --------------------------------------------------------------------------- the study's folder


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
    from hw2.runs.readers import list_runs

    info, order = study_info(study_file)
    out_dir = out_dir or DEFAULT_REPORTS_DIR / study_slug(study_file)
    out_dir.mkdir(parents=True, exist_ok=True)
    every = [s for s in list_runs(runs_dir) if include_smoke or not s.smoke]
    runs = [s for s in every if s.study == info.title]
    runs += twin_runs(info, runs, [s for s in every if s.study != info.title])
    # the study's own variant order (its first variant is the reference), then seeds; variants the
    # file no longer has (it was edited since) come last
    rank = {v: i for i, v in enumerate(order)}
    runs.sort(key=lambda s: (rank.get(s.variant or s.name, len(rank)), s.seed or 0, s.run_id))
    rep = build(info, runs, _models(runs), read_conclusion(out_dir, info))
    files: list[Path] = []
    figure_pdf = None
    if rep.has_done:
        png, figure_pdf = save_figure(
            study_figure(info.title, group_runs(runs), _series(runs)), out_dir / "figure"
        )
        files += [png, figure_pdf]
    md = out_dir / "report.md"
    contract.atomic_write_text(md, markdown(rep, figure="figure.png" if figure_pdf else None))
    tex = out_dir / "report.tex"
    # the figure relative to the fragment's own folder: \input{reports/x/report.tex} works from anywhere
    contract.atomic_write_text(tex, latex(rep, figure="figure.pdf" if figure_pdf else None, local=True))
    ids = {s.run_id for s in runs}
    results, metrics = export_csv(runs_dir, out_dir, only=lambda s: s.run_id in ids, include_smoke=True)
    runs_csv = out_dir / "runs.csv"
    os.replace(results, runs_csv)
    env = environment(runs, out_dir)
    env_md = out_dir / "environment.md"
    contract.atomic_write_text(env_md, environment_md(env))
    files += [md, tex, runs_csv, metrics, env_md, out_dir / CONCLUSION_FILE]
    return Written(out_dir, rep, tuple(files), figure_pdf, env)
