"""What every trainer shares: argv, the run folder, status, signals, logging.

A trainer module defines ``train(ctx: RunContext) -> dict`` returning the final result (the keys of
:data:`hw2.contract.RESULT_KEYS`, plus any extras) and calls :func:`main` with it::

    if __name__ == "__main__":
        raise SystemExit(main(train, framework="torch"))

:func:`main` parses ``--config PATH --run-dir DIR``, adds what only the trainer process knows to
the run's meta (versions, git commit, the ``CUDA_VISIBLE_DEVICES`` it got; the trainer adds its
device), turns SIGTERM/SIGINT into :class:`RunKilled` (status ``killed``, exit 143), turns any other
exception into status ``failed`` with the traceback in ``train.log`` (exit 1), and writes
``result.json`` atomically before marking the run ``done`` (exit 0).

The harness owns two steps of the run lifecycle (:mod:`hw2.runs.lifecycle`) and no more: it adds
fields (:func:`~hw2.runs.lifecycle.add_fields`) and records its own end
(:func:`~hw2.runs.lifecycle.finish`), each a locked update of the fields it names. Under the
launcher the run is already ``running`` with this process's pid. Run by hand on a folder with no
run (or a queued one), the harness is its own queue and launcher
(:func:`~hw2.runs.lifecycle.start_by_hand`), which also writes ``config.yaml`` if the folder has
none: nobody queued the run, and its folder must hold its config like any other.

This module imports no training framework; each trainer imports its own.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hw2 import contract
from hw2.contract import MetricsWriter
from hw2.runs import lifecycle
from hw2.schema import ExperimentConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXIT_KILLED = 128 + signal.SIGTERM  # 143, what a shell reports for SIGTERM
EXIT_FAILED = 1


class RunKilled(BaseException):
    """Raised in the trainer's main thread when it receives SIGTERM or SIGINT.

    A BaseException so that framework code catching ``Exception`` does not swallow it.
    """


class TimeLimitNear(RunKilled):
    """Raised in a Slurm job whose time limit is near (:mod:`hw2.slurm.requeue`): at an epoch
    boundary (:func:`epoch_boundary`) once ``executor.grace`` seconds are left, or mid-epoch at the
    latest. The harness then requeues the job, which resumes the run from its checkpoint."""


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit or None


@dataclass
class RunContext:
    """Handed to a trainer's ``train`` function."""

    cfg: ExperimentConfig
    run_dir: Path
    metrics: MetricsWriter
    log: logging.Logger
    data_dir: str | None = None
    resume: bool = False
    """Continue from the run folder's last checkpoint (``trainers.checkpoint``) when it has one."""
    started: float = field(default_factory=time.time)
    _last_progress: float = 0.0

    def rewind_metrics(self, epoch: int) -> None:
        """A resumed run goes on after ``epoch`` (its checkpoint's; 0: none): cut
        ``metrics.jsonl`` back to that epoch's lines, so each epoch line is in it exactly once. The
        lines of the lost work after it (an epoch line written before its checkpoint was, the
        progress lines of the epoch that was cut off) are dropped, and ``train.log`` says how many.
        The file is replaced whole (a new inode: a reader tailing it starts it over)."""
        path = self.run_dir / contract.METRICS_FILE
        self.metrics.close()
        kept: list[bytes] = []
        dropped = 0
        try:
            with open(path, "rb") as fh:
                for raw in fh:
                    line = contract.parse_metric_line(raw) if raw.endswith(b"\n") else None
                    if line is not None and isinstance(line.get("epoch"), int) and line["epoch"] <= epoch:
                        kept.append(raw)
                    else:
                        dropped += 1
        except FileNotFoundError:
            pass
        contract.atomic_write_text(path, b"".join(kept).decode("utf-8"))
        self.metrics = MetricsWriter(path)
        self.log.info(
            "resume: %s cut back to epoch %d (%d line(s) of the lost work after it dropped)",
            contract.METRICS_FILE,
            epoch,
            dropped,
        )

    def set_meta(self, **changes: Any) -> None:
        """Add fields to the run's meta (device, GPU name, versions, ...); lifecycle fields such as
        ``status`` are refused (:func:`hw2.runs.lifecycle.add_fields`)."""
        lifecycle.add_fields(self.run_dir, **changes)

    def progress(
        self,
        epoch: int,
        batch: int,
        batches: int,
        loss: float | None = None,
        acc: float | None = None,
        *,
        force: bool = False,
        min_interval: float = 0.25,
    ) -> None:
        """A progress line (batch i of n), rate-limited to one per ``min_interval`` seconds."""
        now = time.monotonic()
        if not force and batch < batches and now - self._last_progress < min_interval:
            return
        self._last_progress = now
        self.metrics.progress(
            epoch=epoch, epochs=self.cfg.train.epochs, batch=batch, batches=batches, loss=loss, acc=acc
        )

    def epoch(self, **values: Any) -> None:
        """An epoch line; see :meth:`hw2.contract.MetricsWriter.epoch` for the keys."""
        values.setdefault("epochs", self.cfg.train.epochs)
        self.metrics.epoch(**values)
        self.log.info(
            "epoch %d/%d  train_loss %.4f  train_acc %.4f  val_loss %.4f  val_acc %.4f  (%.1fs)",
            values["epoch"],
            values["epochs"],
            values["train_loss"],
            values["train_acc"],
            values["val_loss"],
            values["val_acc"],
            values["seconds"],
        )


def _setup_logging() -> logging.Logger:
    log = logging.getLogger("hw2.trainer")
    log.setLevel(logging.INFO)
    log.handlers.clear()
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(_LOG_FORMAT)
    log.addHandler(stream)
    log.propagate = False
    return log


def _log_to_file(log: logging.Logger, run_dir: Path) -> None:
    """The launcher redirects stdout/stderr into train.log and says so; run by hand, tee into it
    (once the run is this process's: a finished run's log is never appended to)."""
    if os.environ.get("HW2_LOG_REDIRECTED") != "1":
        fh = logging.FileHandler(run_dir / contract.LOG_FILE, encoding="utf-8")
        fh.setFormatter(_LOG_FORMAT)
        log.addHandler(fh)


_LOG_FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")


# The signal that stopped this run, once one arrived. The handler's RunKilled is raised wherever the
# main thread happens to be, which may be inside a framework that catches it and raises its own
# error instead (TensorFlow tracing a function turns it into a TypeError): the run was still killed.
_stopped_by: list[str] = []


def _raise_killed(signum: int, _frame: Any) -> None:
    # Ignore further signals while unwinding so cleanup is not interrupted twice.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    name = signal.Signals(signum).name
    _stopped_by.append(name)
    raise RunKilled(name)


def raise_if_stopped() -> None:
    """Raise :class:`RunKilled` again when a stop signal arrived earlier: a framework that caught
    the first one (Keras' threaded callbacks can) must not train on. Trainers call it at epoch
    boundaries, in the main thread."""
    if _stopped_by:
        raise (TimeLimitNear if _stopped_by[0] == _TIME_LIMIT else RunKilled)(_stopped_by[0])


def epoch_boundary(epochs_done: int) -> None:
    """Called by each trainer, in the main thread, before each epoch (``epochs_done`` epochs are
    trained and their checkpoint handed over): stops here when a stop signal arrived earlier
    (:func:`raise_if_stopped`) or when a Slurm job's time limit is near (:class:`TimeLimitNear`)."""
    _limit.epochs_done = epochs_done
    raise_if_stopped()
    if _limit.stopping:
        _stopped_by.append(_TIME_LIMIT)
        raise TimeLimitNear(f"{_TIME_LIMIT}, after epoch {epochs_done}")


_TIME_LIMIT = "slurm time limit"


@dataclass
class _Limit:
    """A Slurm job's time limit as the harness follows it after Slurm's USR1
    (:class:`hw2.slurm.requeue.Warned`)."""

    warned: Any = None
    stopping: bool = False  # past warned.stop_at: stop at the next epoch boundary
    epochs_done: int = 0

    def reset(self) -> None:
        self.warned, self.stopping, self.epochs_done = None, False, 0


_limit = _Limit()


def _on_slurm_warning(_signum: int, _frame: Any) -> None:
    """USR1 from Slurm: ask how long the job has left and set an alarm for ``grace`` seconds
    before the end (the signal itself may come a minute early, or spuriously on a restart)."""
    from hw2.slurm import requeue

    warned = requeue.Warned(requeue.time_left_s(), requeue.grace_s())
    _limit.warned = warned
    logging.getLogger("hw2.trainer").info(
        "slurm: time limit warning (SIGUSR1): %s s left; stopping at an epoch boundary in %.0f s, "
        "mid-epoch in %.0f s at the latest",
        "?" if warned.left_s is None else f"{warned.left_s:.0f}",
        warned.stop_at - time.monotonic(),
        warned.deadline - time.monotonic(),
    )
    _on_alarm(signal.SIGALRM, None)


def _on_alarm(_signum: int, _frame: Any) -> None:
    warned = _limit.warned
    if warned is None:
        return
    now = time.monotonic()
    if now >= warned.deadline:
        _stopped_by.append(_TIME_LIMIT)
        raise TimeLimitNear(f"{_TIME_LIMIT}, mid-epoch after epoch {_limit.epochs_done}")
    if now >= warned.stop_at:
        _limit.stopping = True
        signal.setitimer(signal.ITIMER_REAL, max(0.01, warned.deadline - now))
    else:
        signal.setitimer(signal.ITIMER_REAL, max(0.01, warned.stop_at - now))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train one experiment into a run folder (the run contract).")
    p.add_argument("--config", required=True, type=Path, help="experiment YAML")
    p.add_argument("--run-dir", required=True, type=Path, help="run folder to write (created if missing)")
    p.add_argument("--data-dir", default=None, help="local data folder (default: $HW2_DATA_DIR)")
    return p.parse_args(argv)


def _load_config(path: Path) -> ExperimentConfig:
    from hw2.config import load_experiment

    return load_experiment(path)


def main(
    train: Callable[[RunContext], dict[str, Any]],
    *,
    framework_versions: Callable[[], dict[str, str]] | None = None,
    argv: list[str] | None = None,
) -> int:
    """Run ``train`` under the run contract; returns the process exit code."""
    args = parse_args(argv)
    run_dir: Path = args.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    log = _setup_logging()

    try:
        cfg: ExperimentConfig | None = _load_config(args.config)
        bad_config = None
    except Exception as exc:  # a bad config is a failed run, with the one-line error
        cfg, bad_config = None, exc
    if cfg is None:
        meta = _start(run_dir, log, name=run_dir.name, config_path=str(args.config))
    else:
        import yaml

        meta = _start(
            run_dir,
            log,
            name=cfg.name or args.config.stem,
            config_path=str(args.config),
            trainer=cfg.trainer,
            epochs=cfg.train.epochs,
            config_text=yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False),
        )
    if meta is None:
        return 2
    _log_to_file(log, run_dir)
    if cfg is None:
        log.error("%s", bad_config)
        _finish(run_dir, "failed", 2, str(bad_config))
        return 2
    versions = {**meta.versions, "python": sys.version.split()[0]}
    lifecycle.add_fields(
        run_dir,
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        git_commit=git_commit(),
        versions=versions,
        trainer_code=contract.trainer_code_hash(PROJECT_ROOT),  # a resume compares it (hw2.resume)
    )
    resumed = int(meta.extra.get("resumed") or 0)

    _stopped_by.clear()
    _limit.reset()
    signal.signal(signal.SIGTERM, _raise_killed)
    signal.signal(signal.SIGINT, _raise_killed)
    if _slurm_requeue_on():
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.signal(signal.SIGUSR1, _on_slurm_warning)

    metrics = MetricsWriter(run_dir / contract.METRICS_FILE)
    ctx = RunContext(
        cfg=cfg, run_dir=run_dir, metrics=metrics, log=log, data_dir=args.data_dir, resume=resumed > 0
    )
    log.info(
        "run %s: trainer %s, pid %d%s",
        run_dir.name,
        cfg.trainer,
        os.getpid(),
        f", resumed ({resumed}x): going on from its checkpoint" if resumed else "",
    )
    status, code, error = "failed", EXIT_FAILED, None
    try:
        if framework_versions is not None:
            ctx.set_meta(versions={**versions, **framework_versions()})
        result = dict(train(ctx))
        result.setdefault("total_seconds", time.time() - ctx.started)
        contract.write_result(run_dir, result)
        status, code = "done", 0
        log.info("done: test_acc %.4f, best_val_acc %.4f", result["test_acc"], result["best_val_acc"])
    except RunKilled as exc:
        if _stopped_by and _stopped_by[0] == _TIME_LIMIT:
            status, code, error = _end_for_time_limit(run_dir, log)
        else:
            status, code, error = "killed", EXIT_KILLED, f"stopped by {exc}"
            log.warning("run stopped by %s", exc)
    except BaseException as exc:  # noqa: BLE001 - any failure must be recorded, never lost
        if _stopped_by and _stopped_by[0] == _TIME_LIMIT:  # surfaced from the framework as its own error
            status, code, error = _end_for_time_limit(run_dir, log)
        elif _stopped_by:  # a framework turned our RunKilled into its own error: still a kill
            status, code, error = "killed", EXIT_KILLED, f"stopped by {_stopped_by[0]}"
            log.warning(
                "run stopped by %s (surfaced from the framework as %s)", _stopped_by[0], type(exc).__name__
            )
        else:
            log.error("run failed:\n%s", traceback.format_exc().rstrip())
            error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            if _is_oom(exc):
                error = f"out of memory: {error}"
    finally:
        # A failed write (disk full: EFBIG/ENOSPC) leaves its line in the buffer and close() would
        # raise again; the status below must still be recorded, so a close error is ignored.
        with contextlib.suppress(OSError):
            ctx.metrics.close()
        _finish(run_dir, status, code, error)
    return code


def _slurm_requeue_on() -> bool:
    if not os.environ.get("SLURM_JOB_ID"):
        return False  # imports nothing of Slurm's outside a job
    from hw2.slurm import requeue

    return requeue.in_job()


def _end_for_time_limit(run_dir: Path, log: logging.Logger) -> tuple[str, int, str]:
    """The time limit is near: requeue the job while restarts are left
    (:func:`hw2.slurm.requeue.end_attempt`); ``(status, exit code, error)`` to record."""
    from hw2.slurm import requeue

    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # scontrol requeue sends this job one
    status, code, error = requeue.end_attempt(run_dir, _limit.epochs_done)
    log.warning("%s", error)
    return status, code, error


def _start(run_dir: Path, log: logging.Logger, **run: Any) -> contract.RunMeta | None:
    """The run as this process starts it: already running (launched), or started by hand here.
    None, with the one-line reason logged, when the folder holds a run that never restarts."""
    try:
        return lifecycle.start_by_hand(run_dir, **run)
    except lifecycle.TransitionError as exc:
        log.error("%s", exc)
        return None


def _finish(run_dir: Path, status: str, code: int, error: str | None) -> None:
    """Record this run's end; a failure to do so is said on stderr and never hides the exit code."""
    try:
        lifecycle.finish(run_dir, status, code, error)
    except (OSError, contract.ContractError) as exc:  # runs dir gone, or the run no longer running
        print(f"hw2: could not record final status in {run_dir}: {exc}", file=sys.stderr)


def _is_oom(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return isinstance(exc, MemoryError) or "out of memory" in text or "resourceexhausted" in text
