"""Starting, signalling and reaping trainer processes (shared by the scheduler and ``hw2-tui run``).

Why one module: the scheduler daemon and the foreground CLI launch trainers the same way (no
shell, own session, output appended to ``train.log``, meta written at once) and must agree on what
an exit means when the trainer could not record it itself (SIGKILL, segfault, OOM killer). The
state changes themselves are :mod:`hw2.runs.lifecycle`'s; this module is the launcher that calls
them.

Also a tiny command-line entry, ``python -m hw2.launch escalate --pid P --create-time T --grace S``,
the detached helper that SIGKILLs a trainer's process group if SIGTERM did not stop it in time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hw2 import contract, locks, registry
from hw2.env import env_float
from hw2.runs import lifecycle

# Re-exported for the read side (hw2.runs.readers) and older callers; the lifecycle owns them.
from hw2.runs.lifecycle import DIED_ERROR as DIED_ERROR
from hw2.runs.lifecycle import describe_exit as describe_exit

QUEUE_LOCK = ".queue.lock"
DEFAULT_KILL_GRACE_S = 10.0
DEFAULT_QUEUE_LOCK_TIMEOUT_S = 60.0


class LaunchError(Exception):
    """A run could not be started (one-line message)."""


# --------------------------------------------------------------------------- locking


@contextlib.contextmanager
def queue_lock(runs_dir: Path) -> Iterator[None]:
    """Exclusive lock for queue state changes (queued → running / killed).

    Held only for milliseconds. Both the scheduler's launch and ``kill_run`` take it, so a queued
    run is either launched or killed, never both, and never launched twice. A lock held for longer
    than :func:`queue_lock_timeout` (a stuck or hostile holder) ends the wait in one line naming
    the holder's pid when known.
    """
    path = Path(runs_dir) / QUEUE_LOCK
    timeout = queue_lock_timeout()
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(locks.locked(path, timeout_s=timeout))
        except locks.LockTimeout as exc:
            stop = (
                f"stop pid {exc.pid} if it is stuck (kill {exc.pid})"
                if exc.pid
                else "stop the process holding it"
            )
            raise LaunchError(
                f"{exc}; fix: {stop}, or wait and retry (HW2_QUEUE_LOCK_TIMEOUT_S={timeout:g} sets the wait)"
            ) from exc
        except locks.UnsafeLockFile as exc:
            raise LaunchError(str(exc)) from exc
        except OSError as exc:
            raise LaunchError(f"runs dir {runs_dir} is not writable: {exc.strerror}") from exc
        yield


def queue_lock_timeout() -> float:
    """``$HW2_QUEUE_LOCK_TIMEOUT_S``: seconds :func:`queue_lock` waits for the lock (default 60)."""
    return env_float("HW2_QUEUE_LOCK_TIMEOUT_S", DEFAULT_QUEUE_LOCK_TIMEOUT_S, minimum=0.0)


# --------------------------------------------------------------------------- trainer modules


def trainer_module(trainer: str) -> str:
    """Python module that runs ``trainer`` (:mod:`hw2.registry`: built-ins and ``$HW2_EXTRA_TRAINERS``)."""
    try:
        module = registry.trainer_module(trainer)
    except registry.UnknownTrainer as exc:
        raise LaunchError(f"{exc}; {exc.hint}") from exc
    _check_module_name(module, f"trainer {trainer!r} maps to {module!r}")
    return module


def _check_module_name(module: str, what: str) -> None:
    if not registry.MODULE_NAME_RE.fullmatch(module):
        raise LaunchError(f"{what}, which is not a Python module name")


def run_trainer_module(meta: contract.RunMeta) -> str:
    """The module a run's trainer runs as: meta.json's ``trainer_module`` (recorded by the
    launch that started it) or its trainer's from the registry; checked to be a module name
    either way (a run folder's meta.json is a file, and the launcher puts it on a command line).
    Every launcher asks here: :func:`start_trainer`, the Slurm job and its submission."""
    recorded = meta.extra.get("trainer_module")
    if not recorded:
        return trainer_module(meta.trainer)
    module = str(recorded)
    _check_module_name(module, f"meta.json trainer_module {module[:80]!r}")
    return module


# --------------------------------------------------------------------------- starting


def trainer_env(cuda_visible_devices: str | None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a trainer: ours plus GPU pinning and the log-redirect flag.

    ``cuda_visible_devices`` None keeps the caller's setting (foreground runs); ``""`` hides
    every GPU (CPU slots).
    """
    env = dict(os.environ if base is None else base)
    if cuda_visible_devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = cuda_visible_devices
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"  # number GPUs as NVML does
    env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    env["HW2_LOG_REDIRECTED"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def trainer_command(run_dir: Path, module: str, data_dir: str | None = None) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        module,
        "--config",
        str(run_dir / contract.CONFIG_FILE),
        "--run-dir",
        str(run_dir),
    ]
    if data_dir:
        cmd += ["--data-dir", str(data_dir)]
    return cmd


def start_trainer(
    run_dir: Path,
    meta: contract.RunMeta,
    *,
    cuda_visible_devices: str | None,
    gpu: int | None = None,
    launched_by: str = "scheduler",
    cwd: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start the trainer of a queued run and mark it running (call with :func:`queue_lock` held).

    The launcher's transitions (:mod:`hw2.runs.lifecycle`): the meta says ``running`` before the
    process starts (so no other launcher can take the run) and gets the pid right after. If the
    process cannot start, the run is marked failed and :class:`LaunchError` is raised; a run that
    is no longer queued is left alone (LaunchError too).
    """
    run_dir = Path(run_dir)
    try:
        module = run_trainer_module(meta)
    except LaunchError as exc:
        lifecycle.fail_launch(run_dir, str(exc))
        raise
    data_dir = meta.extra.get("data_dir")
    cmd = trainer_command(run_dir, module, data_dir if isinstance(data_dir, str) else None)
    try:
        lifecycle.mark_running(run_dir, launched_by=launched_by, gpu=gpu, trainer_module=module)
    except lifecycle.TransitionError as exc:
        raise LaunchError(str(exc)) from exc
    try:
        log = open(run_dir / contract.LOG_FILE, "ab")  # noqa: SIM115 - handed to the child, closed below
    except OSError as exc:
        lifecycle.fail_launch(run_dir, f"cannot open {contract.LOG_FILE}: {exc.strerror}")
        raise LaunchError(f"{run_dir}: cannot open {contract.LOG_FILE}: {exc.strerror}") from exc
    try:
        log.write(f"--- hw2: launching {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=trainer_env(cuda_visible_devices),
            start_new_session=True,
            close_fds=True,
            cwd=cwd,
        )
    except OSError as exc:
        lifecycle.fail_launch(run_dir, f"could not start trainer: {exc}")
        raise LaunchError(f"could not start trainer for {run_dir.name}: {exc}") from exc
    finally:
        log.close()
    lifecycle.record_pid(run_dir, proc.pid)
    return proc


# --------------------------------------------------------------------------- reaping


def finalize_exit(run_dir: Path, returncode: int) -> str:
    """Record how a trainer this process waited for ended, if it could not say so itself; returns
    the final status (:func:`hw2.runs.lifecycle.reap_exit`), and notes the exit in ``train.log``.

    The harness records done/failed/killed itself; this only writes what it could not (SIGKILL,
    segfault, the OOM killer, a crash before the harness ran), and never changes a final status.
    """
    meta = lifecycle.reap_exit(run_dir, returncode)
    if meta is None:
        return "failed"
    _log_exit(run_dir, returncode, meta.status, meta.error)
    return meta.status


def _log_exit(run_dir: Path, returncode: int, status: str, error: str | None) -> None:
    """Append how the trainer ended to ``train.log``: the one place a SIGKILL leaves a trace that
    the TUI's log pane (and ``tail train.log``) shows, next to the traceback of a failure."""
    line = f"trainer exited with code {returncode}: {status}"
    if error:
        line += f" ({error})"
    contract.append_log_line(run_dir, line)


def mark_dead_run(run_dir: Path) -> bool:
    """Mark a ``running`` run whose process is gone, with no launcher left to reap it, as failed
    (:func:`hw2.runs.lifecycle.mark_vanished`). True if marked."""
    return lifecycle.mark_vanished(run_dir)


# --------------------------------------------------------------------------- signalling


def signal_group(pid: int, create_time: float | None, sig: int) -> bool:
    """Send ``sig`` to the process group led by ``pid`` (the trainer's own session).

    Checks the creation time first so a reused pid is never signalled. True if sent.
    """
    if not contract.pid_alive(pid, create_time):
        return False
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return False
    try:
        if pgid == pid:
            os.killpg(pgid, sig)
        else:  # not a group leader (started by hand): signal the process alone
            os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def spawn_detached(argv: list[str], log_path: Path | None = None, cwd: str | None = None) -> None:
    """Start ``python -m ...`` fully detached from the caller (new session, no inherited stdio).

    The child forks once more and its first process exits at once (``--fork`` handled by
    :func:`daemonize_if_asked`), so the caller reaps it immediately and no zombie is left behind
    in a long-lived TUI; the grandchild is adopted by init.
    """
    out: Any = subprocess.DEVNULL
    if log_path is not None:
        try:  # a state file of the runs dir: 0600, never through a link
            out = os.fdopen(locks.open_private(log_path, os.O_WRONLY | os.O_APPEND), "ab")
        except OSError:
            out = subprocess.DEVNULL
    try:
        proc = subprocess.Popen(
            [sys.executable, *argv, "--fork"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=out,
            start_new_session=True,
            close_fds=True,
            cwd=cwd,
        )
    finally:
        if out is not subprocess.DEVNULL:
            out.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)


def daemonize_if_asked(fork: bool) -> None:
    """Second half of :func:`spawn_detached`: fork, and let the parent exit at once."""
    if fork and os.fork() > 0:
        os._exit(0)


def escalate(pid: int, create_time: float | None, grace: float) -> bool:
    """Wait up to ``grace`` seconds for ``pid`` to exit, then SIGKILL its group. True if killed."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not contract.pid_alive(pid, create_time):
            return False
        time.sleep(0.2)
    return signal_group(pid, create_time, signal.SIGKILL)


def kill_grace() -> float:
    """``$HW2_KILL_GRACE``: seconds between SIGTERM and SIGKILL (default 10)."""
    return env_float("HW2_KILL_GRACE", DEFAULT_KILL_GRACE_S, minimum=0.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hw2.launch", description="hw2 process helpers")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("escalate", help="SIGKILL a trainer's process group if it outlives a grace period")
    e.add_argument("--pid", type=int, required=True)
    e.add_argument("--create-time", type=float, default=None)
    e.add_argument("--grace", type=float, default=DEFAULT_KILL_GRACE_S)
    e.add_argument("--fork", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    daemonize_if_asked(args.fork)
    escalate(args.pid, args.create_time, args.grace)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
