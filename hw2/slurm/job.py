"""``python -m hw2.slurm.job RUN_DIR``: a Slurm job's first step on its compute node.

It checks that this node sees the run folder (the runs folder must be on a filesystem shared by
the login and compute nodes; a node that cannot see or write it prints one line into the job's
Slurm output and exits, and the monitor turns "the job ended, the run never started" into the
run's error), reopens a run that Slurm requeued (:func:`hw2.slurm.requeue.on_restart`), marks
the run running here (:func:`hw2.runs.lifecycle.start_on_node`: host = this
node, pid = this process), points stdout/stderr at the run's ``train.log`` and execs the trainer
(:func:`hw2.launch.trainer_command`) in its place: the same pid, the same virtualenv, the
``CUDA_VISIBLE_DEVICES`` Slurm gave the job. The harness then finds its run running and records
its end as under the local executor.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hw2 import contract, launch
from hw2.runs import lifecycle
from hw2.slurm import requeue

SHARED_FS_HINT = (
    "the runs folder must be on a filesystem shared by the login and compute nodes (docs/slurm.md)"
)


def job_id_from_env() -> str:
    """This job's id as recorded in meta: ``ARRAYJOB_TASK`` for an array task, else the job id."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID", "")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m hw2.slurm.job RUN_DIR (run by the sbatch script)", file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    node = contract.host_name()
    job = job_id_from_env()
    if not (run_dir / contract.META_FILE).is_file():
        print(
            f"hw2: slurm job {job} on {node}: run folder {run_dir} not found; {SHARED_FS_HINT}",
            file=sys.stderr,
        )
        return 3
    if not os.access(run_dir, os.W_OK | os.X_OK):
        print(f"hw2: slurm job {job} on {node}: cannot write {run_dir}; {SHARED_FS_HINT}", file=sys.stderr)
        return 3
    meta = contract.read_meta(run_dir)
    if meta is None:
        print(f"hw2: slurm job {job}: {run_dir / contract.META_FILE} unreadable", file=sys.stderr)
        return 3
    try:
        module = launch.run_trainer_module(meta)
    except launch.LaunchError as exc:
        lifecycle.end_by_executor(run_dir, "failed", str(exc))
        print(f"hw2: {exc}", file=sys.stderr)
        return 1
    if requeue.restart_count() > 0:  # Slurm requeued this job: its run resumes, within max_restarts
        why = requeue.on_restart(run_dir, job)
        if why is not None:
            print(f"hw2: slurm job {job}: not starting: {why}", file=sys.stderr)
            return 0
    try:
        lifecycle.start_on_node(
            run_dir, job, trainer_module=module, slurm_gpus=os.environ.get("SLURM_JOB_GPUS") or None
        )
    except (lifecycle.TransitionError, contract.ContractError, OSError) as exc:
        print(f"hw2: slurm job {job}: not starting: {exc}", file=sys.stderr)
        return 0
    data_dir = meta.extra.get("data_dir")
    cmd = launch.trainer_command(run_dir, module, data_dir if isinstance(data_dir, str) else None)
    try:
        fd = os.open(run_dir / contract.LOG_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
        line = (
            f"--- hw2: slurm job {job} on {node} (CUDA_VISIBLE_DEVICES={gpus!r}): launching {' '.join(cmd)}\n"
        )
        os.write(fd, line.encode())
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        os.execve(cmd[0], cmd, launch.trainer_env(None))
    except OSError as exc:
        lifecycle.fail_launch(run_dir, f"could not start trainer on {node}: {exc}")
        print(f"hw2: could not start trainer: {exc}", file=sys.stderr)
        return 1
    return 1  # pragma: no cover - execve does not return


if __name__ == "__main__":
    raise SystemExit(main())
