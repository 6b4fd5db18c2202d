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
from hw2.runs.summary import slurm_count_text, slurm_text

__all__ = ["EXECUTOR", "describe", "is_slurm", "summary_line"]


def is_slurm(meta: RunMeta) -> bool:
    """Whether ``meta``'s run is (or is to be) a Slurm job."""
    return meta.extra.get("executor") == EXECUTOR


def describe(meta: RunMeta) -> str | None:
    """What Slurm last said about a run's job, for a status column: ``"pending: Resources"``,
    ``"running on node07"``; None for a run that is not a Slurm run (one derivation, in
    :func:`hw2.runs.summary.slurm_text`)."""
    return slurm_text(meta)


def summary_line(metas: Iterable[RunMeta]) -> str | None:
    """``"slurm: 3 pending · 2 running"`` over the active Slurm runs (a header line); None when
    there is none (worded by :func:`hw2.runs.summary.slurm_count_text`)."""
    metas = [m for m in metas if is_slurm(m)]
    return slurm_count_text(
        sum(1 for m in metas if m.status == "queued"), sum(1 for m in metas if m.status == "running")
    )
