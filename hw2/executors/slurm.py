"""The Slurm executor: each run a Slurm job (a study one job array), through :mod:`hw2.slurm`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hw2.contract import RunMeta
from hw2.executors import SLURM, ExecutorError, Placement, Submitted, reopen


class SlurmExecutor:
    """``sbatch`` of queued run folders; ``scancel`` to kill; a resubmitted new run to requeue."""

    name = SLURM
    where = " on Slurm"
    foreground = False

    def submit(self, runs_dir: Path, run_ids: Sequence[str], settings: Any = None) -> Submitted:
        if not run_ids:
            return Submitted([])
        from hw2.slurm.commands import SlurmError
        from hw2.slurm.submit import submit_runs

        try:
            sub = submit_runs(runs_dir, run_ids, settings)
        except SlurmError as exc:
            raise ExecutorError(f"sbatch refused the runs (marked failed): {exc}") from exc
        what = "job array" if len(sub.run_ids) > 1 else "job"
        message = f"submitted {len(sub.run_ids)} run(s) to Slurm as {what} {sub.job_id}" if sub.job_id else ""
        return Submitted(list(sub.run_ids), message, dict(sub.skipped))

    def kill(self, runs_dir: Path, run_id: str) -> bool:
        from hw2.slurm import control

        try:
            return control.kill(runs_dir, run_id)
        except control.ControlError as exc:
            raise ExecutorError(str(exc)) from exc

    def requeue(self, runs_dir: Path, run_id: str) -> str:
        from hw2.slurm import commands, control

        try:
            return control.requeue(runs_dir, run_id)
        except (control.ControlError, commands.SlurmError) as exc:
            raise ExecutorError(str(exc)) from exc

    def resume(self, runs_dir: Path, run_id: str, *, force: bool = False) -> str:
        meta = reopen(runs_dir, run_id, force)
        sub = self.submit(Path(runs_dir), [run_id], _settings_of(meta))
        if run_id in sub.skipped:
            raise ExecutorError(f"run {run_id}: not submitted: {sub.skipped[run_id]}")
        return f"resumed {run_id} (attempt {meta.attempt}): {sub.message or 'submitted to Slurm'}"

    def describe(self, meta: RunMeta) -> str | None:
        from hw2.slurm import describe

        return describe(meta)

    def plan(self, runs_dir: Path, settings: Any) -> Placement:
        return placement(settings.gpus, settings.array_parallelism)


def _settings_of(meta: RunMeta) -> Any:
    """The Slurm settings to resubmit ``meta``'s run with (the layers as they read now)."""
    from hw2.slurm.settings import run_settings

    return run_settings(meta)


def placement(gpus: int = 0, parallelism: int | None = None) -> Placement:
    """Slurm, with the settings' GPUs per run and ``array_parallelism`` (at most that many at once)."""
    what = f"Slurm, {gpus} GPU{'s' if gpus > 1 else ''} per run" if gpus else "Slurm, CPU only"
    return Placement(SLURM, parallelism, "gpu" if gpus else "cpu", what)


EXECUTOR = SlurmExecutor()
