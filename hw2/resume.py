"""Resume: a failed or killed run goes on **in its own folder** from its last checkpoint.

:func:`reopen` is what every executor's ``resume`` does first (:mod:`hw2.executors`): under the
queue lock it checks the run (:func:`check`), turns it back to ``queued``
(:func:`hw2.runs.lifecycle.reopen`: ``attempt`` + 1, ``resumed`` + 1) and says so in
``train.log``; the executor then starts it as it starts any queued run. The trainer sees
``resumed`` in its meta (:func:`trainers.common.main`), loads ``checkpoint.pt`` / ``checkpoint.npz``,
cuts ``metrics.jsonl`` back to the checkpoint's epoch and trains on from the next one.

A run is refused, with one line, when it is not failed or killed, when its ``config.yaml`` no
longer hashes to the config it was started with, or when the trainers' code differs from the code
that wrote its checkpoint (:func:`hw2.contract.trainer_code_hash`, recorded by each attempt);
``force`` overrides the last two. A run with no checkpoint (killed in its first epoch) resumes
from epoch 1 in the same folder.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from hw2 import contract, launch
from hw2.runs import lifecycle
from hw2.runs.summary import awaiting_requeue

CODE_FIELD = "trainer_code"
"""Meta field: :func:`hw2.contract.trainer_code_hash` of the attempt that wrote the checkpoint."""


class ResumeError(Exception):
    """A run that cannot be resumed (one line: the run, why, the fix)."""


def _current_config_hash(run_dir: Path) -> str:
    from hw2.run_keys import config_hash
    from hw2.schema import ExperimentConfig

    path = run_dir / contract.CONFIG_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return config_hash(ExperimentConfig.model_validate(data))
    except (OSError, yaml.YAMLError) as exc:
        raise ResumeError(f"{path}: cannot read: {exc}; fix: requeue the run as a new one") from exc
    except ValueError as exc:  # pydantic.ValidationError
        first = str(exc).splitlines()[0]
        raise ResumeError(f"{path}: invalid config: {first}; fix: requeue the run as a new one") from exc


def check(
    run_dir: Path, meta: contract.RunMeta, *, force: bool = False, by_its_job: bool = False
) -> Path | None:
    """Whether ``meta``'s run may resume; its checkpoint (None: none, it starts again from epoch
    1). ``by_its_job``: the caller is the run's own requeued Slurm job. Raises :class:`ResumeError`."""
    rid = meta.run_id
    if meta.status not in contract.RESUMABLE_STATUSES:
        raise ResumeError(
            f"run {rid} is {meta.status}: only a failed or killed run resumes"
            + ("; fix: requeue it for a new run" if meta.status == "done" else "")
        )
    if awaiting_requeue(meta) and not by_its_job:
        raise ResumeError(
            f"run {rid}: Slurm requeued its job {meta.extra.get('slurm_job_id')}, which resumes it "
            f"when it starts; fix: wait, or hw2-tui kill {rid} to stop it"
        )
    recorded = meta.extra.get("config_hash")
    if isinstance(recorded, str) and not force:
        now = _current_config_hash(run_dir)
        if now != recorded:
            raise ResumeError(
                f"run {rid}: {contract.CONFIG_FILE} changed since the run started (config hash "
                f"{recorded}, now {now}); fix: requeue it for a new run, or resume --force"
            )
    ckpt = contract.checkpoint_file(run_dir)
    code = meta.extra.get(CODE_FIELD)
    if ckpt is not None and isinstance(code, str) and not force:
        now = contract.trainer_code_hash()
        if now != code:
            raise ResumeError(
                f"run {rid}: the trainers' code changed since its checkpoint was written (code "
                f"{code}, now {now}); fix: requeue it for a new run, or resume --force"
            )
    return ckpt


def reopen(runs_dir: Path | str, run_id: str, *, force: bool = False) -> contract.RunMeta:
    """Check the run and turn it back to ``queued`` under the queue lock, with a line in its
    ``train.log``; returns its meta as queued. Raises :class:`ResumeError`."""
    try:
        with launch.queue_lock(Path(runs_dir)):
            return reopen_locked(Path(runs_dir) / run_id, force=force)
    except launch.LaunchError as exc:
        raise ResumeError(str(exc)) from exc


def reopen_locked(
    run_dir: Path, *, force: bool = False, keep_slurm_job: bool = False, why: str | None = None
) -> contract.RunMeta:
    """:func:`reopen` for a caller that holds the queue lock already (``requeue --failed``, and a
    Slurm job restarting its own run: ``keep_slurm_job``, ``why`` for the log line)."""
    meta = contract.read_meta(run_dir)
    if meta is None:
        raise ResumeError(f"{run_dir / contract.META_FILE}: missing or unreadable")
    ckpt = check(run_dir, meta, force=force, by_its_job=keep_slurm_job)
    try:
        new = lifecycle.reopen(run_dir, keep_slurm_job=keep_slurm_job)
    except lifecycle.TransitionError as exc:
        raise ResumeError(str(exc)) from exc
    what = (
        f"from {ckpt.name}"
        if ckpt is not None
        else f"from epoch 1 (no {' or '.join(contract.CHECKPOINT_FILES)})"
    )
    forced = " (--force: config or code changed)" if force else ""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    contract.append_log_line(
        run_dir,
        f"{stamp} resume: attempt {new.attempt} queued, to go on {what}{forced}"
        + (f" ({why})" if why else ""),
    )
    return new
