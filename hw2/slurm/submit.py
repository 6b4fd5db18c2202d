"""Queued run folders → Slurm: one job for one run, one job array for a study.

The runs exist already (:func:`hw2.queue.create_run` with ``extra={"executor": "slurm"}``, which
keeps the local scheduler's hands off them). :func:`submit_runs` writes one ``sbatch`` script (kept
in ``runs/.slurm/`` for a person to read), submits it, and records each run's job id
(:func:`hw2.runs.lifecycle.record_submission`), all under the queue lock: two TUIs or a TUI and
the CLI submitting the same runs submit each once (the second finds the job id and skips it).

Each array task runs ``python -m hw2.slurm.job RUN_DIR`` with this process's interpreter (the
same virtualenv) in this working directory and environment (``sbatch`` exports it), which marks the
run running on its node and becomes the trainer (:func:`hw2.launch.trainer_command`). The run
folders list is written into the script itself, so the job can tell a runs folder the compute
node cannot see from a job it cannot find.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from hw2 import contract, launch
from hw2.runs import lifecycle
from hw2.slurm import EXECUTOR, commands, requeue
from hw2.slurm.settings import SlurmSettings, load_settings

if TYPE_CHECKING:
    from hw2.queue import PlannedLike

JOBS_DIR: Final = ".slurm"
"""``runs/.slurm/``: the submitted scripts and Slurm's own output of each job (before the job
redirects itself into the run's ``train.log``)."""


@dataclass
class Submission:
    """What one :func:`submit_runs` did."""

    job_id: str | None  # None: nothing was submitted
    run_ids: list[str] = field(default_factory=list)  # submitted, in array-task order
    skipped: dict[str, str] = field(default_factory=dict)  # run id → why not (one line)
    script: Path | None = None


def job_script(run_dirs: Sequence[Path], settings: SlurmSettings, *, name: str) -> str:
    """The ``sbatch`` script for ``run_dirs`` (an array when more than one).

    No path is written into an ``#SBATCH`` line: the working directory and the output file go
    to ``sbatch`` as argv items (:func:`output_pattern`, :func:`hw2.slurm.commands.sbatch`). The
    run folders and the interpreter are shell-quoted data lines, and a path with a control
    character is refused (:func:`hw2.slurm.commands.check_path`, :class:`SlurmError`). ``name``
    and the settings are checked words (:func:`hw2.contract.safe_name`, :mod:`hw2.config.executor`).
    """
    many = len(run_dirs) > 1
    quoted = [shlex.quote(commands.check_path(p, "run folder")) for p in run_dirs]
    python = shlex.quote(commands.check_path(sys.executable, "python interpreter"))
    lines = ["#!/bin/bash", f"#SBATCH --job-name={name}"]
    if many:
        throttle = f"%{settings.array_parallelism}" if settings.array_parallelism else ""
        last_task = len(quoted) - 1
        lines.append(f"#SBATCH --array=0-{last_task}{throttle}")
    # --requeue: a time limit (through the USR1 below), a preemption or a lost node puts the job
    # back in the queue, and the run resumes from its checkpoint (hw2.slurm.requeue);
    # --open-mode=append keeps every attempt's Slurm output in one file.
    lines += ["#SBATCH --requeue", "#SBATCH --open-mode=append"]
    grace = effective_grace(settings)
    if grace:
        lines.append(f"#SBATCH --signal=B:USR1@{grace}")
    lines.append(f"#SBATCH --cpus-per-task={settings.cpus}")
    for opt, value in (("partition", settings.partition), ("account", settings.account)):
        if value:
            lines.append(f"#SBATCH --{opt}={value}")
    if settings.time:
        lines.append(f"#SBATCH --time={settings.time}")
    if settings.mem:
        lines.append(f"#SBATCH --mem={settings.mem}")
    if settings.gpus:
        lines.append(f"#SBATCH --gres=gpu:{settings.gpus}")
    lines += [f"#SBATCH {opt}" for opt in settings.sbatch]
    lines.append(f"# hw2: {len(run_dirs)} run(s), submitted {time.strftime('%Y-%m-%d %H:%M:%S')}")
    if not settings.gpus:
        lines.append("export CUDA_VISIBLE_DEVICES=  # a CPU job: no GPU, whatever the login node had")
    lines.append(f"export {requeue.GRACE_ENV}={grace} {requeue.MAX_RESTARTS_ENV}={settings.max_restarts}")
    lines.append("RUNS=(")
    lines += [f"  {q}" for q in quoted]
    lines.append(")")
    lines.append(f'exec {python} -m hw2.slurm.job "${{RUNS[${{SLURM_ARRAY_TASK_ID:-0}}]}}"')
    return "\n".join(lines) + "\n"


def output_pattern(output_dir: Path, many: bool) -> str:
    """``sbatch --output``: ``<output_dir>/<job name>-<job id>.out`` (``%A_%a`` for an array task),
    a ``%`` of the folder's own name written ``%%`` so Slurm keeps it."""
    return f"{str(output_dir).replace('%', '%%')}/%x-{'%A_%a' if many else '%j'}.out"


def effective_grace(settings: SlurmSettings) -> int:
    """``executor.grace``, at most half the time limit (a 1-minute job warned 120 s ahead would be
    told to stop as it starts): the seconds before the limit at which Slurm sends USR1."""
    limit = commands.duration_s(settings.time) if settings.time else None
    return min(settings.grace, limit // 2) if limit else settings.grace


def submit_runs(
    runs_dir: Path | str,
    run_ids: Sequence[str],
    settings: SlurmSettings | None = None,
    *,
    name: str | None = None,
    start_monitor: bool = True,
) -> Submission:
    """Submit queued runs as one Slurm job (one run) or job array (several); returns what was done.

    A run that is not queued, or already has a job, is skipped (``Submission.skipped``). When
    ``sbatch`` refuses, every run of the submission is marked failed with its one-line answer and
    :class:`hw2.slurm.commands.SlurmError` is raised. Then the scheduler daemon is made sure of
    (:func:`hw2.daemon.ensure_scheduler`): it runs the Slurm monitor while Slurm runs are active.
    """
    runs_dir = Path(runs_dir).resolve()
    settings = settings if settings is not None else load_settings()
    with launch.queue_lock(runs_dir):
        sub = submit_locked(runs_dir, run_ids, settings, name=name)
    if start_monitor and sub.job_id:
        from hw2 import daemon  # the queue imports launch; imported late to keep this module light

        daemon.ensure_scheduler(runs_dir)
    return sub


def submit_planned(
    runs_dir: Path | str,
    planned: Sequence[PlannedLike],
    settings: SlurmSettings | None = None,
    *,
    data_dir: str | None = None,
    name: str | None = None,
) -> Submission:
    """Create queued Slurm run folders for ``planned`` (:func:`hw2.queue.create_run`, executor
    ``slurm``) and submit them as one job or job array (:func:`submit_runs`): what ``hw2-tui sweep
    STUDY --executor slurm`` does after its own incremental-sweep choice of runs."""
    from hw2 import queue

    settings = settings if settings is not None else load_settings()  # a bad file fails before any folder
    ids = [queue.create_run(runs_dir, p, data_dir=data_dir, extra={"executor": EXECUTOR}) for p in planned]
    return submit_runs(runs_dir, ids, settings, name=name)


def submit_locked(
    runs_dir: Path, run_ids: Sequence[str], settings: SlurmSettings, *, name: str | None = None
) -> Submission:
    """:func:`submit_runs` for a caller that holds :func:`hw2.launch.queue_lock` already
    (:func:`hw2.slurm.control.requeue` creates and submits a run under one lock)."""
    sub = Submission(job_id=None)
    paths: list[Path] = []
    for run_id in run_ids:
        path = contract.run_path(runs_dir, run_id)
        meta = contract.read_meta(path)
        why = _not_submittable(meta)
        if why:
            sub.skipped[run_id] = why
            continue
        assert meta is not None
        try:
            launch.run_trainer_module(meta)
        except launch.LaunchError as exc:
            lifecycle.fail_launch(path, str(exc))
            sub.skipped[run_id] = str(exc)
            continue
        paths.append(path)
        sub.run_ids.append(run_id)
    if not paths:
        return sub
    out_dir = runs_dir / JOBS_DIR
    out_dir.mkdir(exist_ok=True)
    first = contract.read_meta(paths[0])
    label = contract.safe_name((first.study if first and first.study else None) or name or paths[0].name, 40)
    job_name = f"hw2-{label}"
    try:
        script = job_script(paths, settings, name=job_name)
        sub.script = out_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}-{os.getpid()}.sbatch"
        contract.atomic_write_text(sub.script, script)
        job = commands.sbatch(script, chdir=os.getcwd(), output=output_pattern(out_dir, len(paths) > 1))
    except commands.SlurmError as exc:
        for path in paths:
            lifecycle.fail_launch(path, str(exc))
        raise
    sub.job_id = job
    for i, path in enumerate(paths):
        lifecycle.record_submission(path, f"{job}_{i}" if len(paths) > 1 else job)
    return sub


def _not_submittable(meta: contract.RunMeta | None) -> str | None:
    if meta is None:
        return "meta.json missing or unreadable"
    if meta.status != "queued":
        return f"{meta.status}, not queued"
    if meta.extra.get("slurm_job_id"):
        return f"already submitted as Slurm job {meta.extra['slurm_job_id']}"
    executor = meta.extra.get("executor")
    if executor not in (None, EXECUTOR, "local") or (executor == "local" and meta.extra.get("launcher_pid")):
        return f"belongs to executor {executor}"
    return None
