"""The Slurm executor: runs submitted as Slurm jobs, watched through Slurm, in the same run folders.

Why its own package: on a cluster nothing of ours schedules across machines; Slurm does. The run
folder, the trainer entry point and the harness are the local executor's; what differs is who
starts the trainer (a Slurm job on a compute node), who tells whether it is alive (Slurm, asked
with one ``squeue`` per poll), and who stops it (``scancel``). ``sbatch`` scripts are generated
here (no submitit: a study is one plain job array whose script a person can read and resubmit,
and the job needs nothing but this project's virtualenv). See docs/slurm.md.

The modules:

* :mod:`~hw2.slurm.settings` — the optional ``executor:`` settings (``hw2-slurm.yaml``);
* :mod:`~hw2.slurm.commands` — running ``sbatch``/``squeue``/``scontrol``/``scancel``, one-line errors;
* :mod:`~hw2.slurm.submit` — queued run folders → one job (one run) or one job array (a study);
* :mod:`~hw2.slurm.job` — ``python -m hw2.slurm.job RUN_DIR``: the job on its node marks the run
  running and becomes the trainer;
* :mod:`~hw2.slurm.monitor` — one poll of Slurm for all runs; records the ends the harness could not;
* :mod:`~hw2.slurm.control` — kill (``scancel``) and requeue (resubmit) of Slurm runs.

The lifecycle transitions (who writes what) are :mod:`hw2.runs.lifecycle`'s.
"""

from __future__ import annotations

from collections.abc import Iterable

from hw2.contract import RunMeta
from hw2.runs.liveness import SLURM as EXECUTOR

__all__ = ["EXECUTOR", "describe", "is_slurm", "summary_line"]


def is_slurm(meta: RunMeta) -> bool:
    """Whether ``meta``'s run is (or is to be) a Slurm job."""
    return meta.extra.get("executor") == EXECUTOR


def describe(meta: RunMeta) -> str | None:
    """What Slurm last said about a run's job, for a status column: ``"pending: Resources"``,
    ``"running on node07"``; None for a run that is not a Slurm run or has no job yet."""
    if not is_slurm(meta):
        return None
    job = meta.extra.get("slurm_job_id")
    state = str(meta.extra.get("slurm_state") or "").lower()
    reason = meta.extra.get("slurm_reason")
    if not job:
        return "submitting"
    if state == "pending":
        return f"pending: {reason}" if reason and reason != "None" else "pending"
    if state == "running" or (meta.status == "running" and not state):
        return f"running on {meta.host}" if meta.host else "running"
    return state or None


def summary_line(metas: Iterable[RunMeta]) -> str | None:
    """``"slurm: 3 pending · 2 running"`` over the active Slurm runs (a header line); None when
    there is none."""
    pending = running = 0
    for meta in metas:
        if is_slurm(meta) and meta.status == "queued":
            pending += 1
        elif is_slurm(meta) and meta.status == "running":
            running += 1
    if not pending and not running:
        return None
    return f"slurm: {pending} pending · {running} running"
