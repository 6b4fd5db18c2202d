"""Running Slurm's commands, and reading what they print. Every failure is one :class:`SlurmError` line.

Only whole-cluster questions are asked: :func:`squeue` lists all of this user's jobs in one call;
:func:`ended_jobs` asks about the jobs that left ``squeue`` (``sacct`` when accounting is on, else
``scontrol show job``, which slurmctld answers for ``MinJobAge`` seconds after a job ended: one call
per job or job array, made once per ended job).
"""

from __future__ import annotations

import getpass
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

DEFAULT_TIMEOUT_S: Final = 60.0


class SlurmError(Exception):
    """A Slurm command could not be run or failed (one line, with a fix where there is one)."""


class SlurmMissing(SlurmError):
    """Slurm's commands are not installed on this machine (not a login node of a cluster)."""


@dataclass(frozen=True)
class JobInfo:
    """What Slurm says about one job (or array task)."""

    job_id: str  # "123" or "123_4"
    state: str  # PENDING, RUNNING, COMPLETED, CANCELLED, TIMEOUT, FAILED, NODE_FAIL, OUT_OF_MEMORY, ...
    reason: str = ""
    node: str = ""
    exit_code: str = ""  # "code:signal" as Slurm prints it


JOB_ID_RE: Final = re.compile(r"[0-9]+(_[0-9]+)?", re.ASCII)
"""A job id as meta.json records it: ``123``, or ``123_4`` for an array task."""


def job_id(value: object, where: str = "slurm_job_id") -> str:
    """``value`` as a job id for Slurm's commands; :class:`SlurmError` (one line) for anything
    else: a run folder's meta.json is a file anyone who can write the runs dir may edit."""
    text = str(value)
    if not JOB_ID_RE.fullmatch(text):
        raise SlurmError(f"{where} {text[:40]!r} is not a Slurm job id (digits, or digits_digits)")
    return text


def valid_job_id(value: object) -> bool:
    return bool(JOB_ID_RE.fullmatch(str(value)))


def check_path(path: object, what: str) -> str:
    """A path that goes to Slurm (an ``sbatch`` option, a line of the job script) as text;
    :class:`SlurmError` for a control character (a newline would end the option or the line and
    start a command of its own)."""
    text = str(path)
    bad = next((c for c in text if ord(c) < 32 or ord(c) == 127 or c in "\u2028\u2029\x85"), None)
    if bad is not None:
        raise SlurmError(
            f"{what} {text!r} holds a control character ({bad!r}): refused for Slurm; "
            "fix: use a folder whose name has none"
        )
    return text


def run(argv: list[str], *, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """stdout of a Slurm command; :class:`SlurmError` when it is missing, fails or hangs."""
    if shutil.which(argv[0]) is None:
        raise SlurmMissing(
            f"{argv[0]} not found: Slurm's commands are not installed here; "
            "fix: run hw2-tui on the cluster's login node (or use the local executor)"
        )
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{argv[0]} did not answer within {timeout:.0f} s (slurmctld down?)") from None
    except OSError as exc:
        raise SlurmError(f"cannot run {argv[0]}: {exc}") from None
    if done.returncode != 0:
        err = " ".join((done.stderr or done.stdout or "").split()) or f"exit code {done.returncode}"
        raise SlurmError(f"{argv[0]} failed: {err[:300]}")
    return done.stdout


def user() -> str:
    return getpass.getuser()


def squeue() -> dict[str, JobInfo]:
    """All of this user's jobs Slurm still lists, array tasks one by one (one call)."""
    out = run(["squeue", "--noheader", "--array", "--user", user(), "--format", "%i|%T|%r|%N"])
    jobs: dict[str, JobInfo] = {}
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 4:
            continue
        job_id, state, reason, node = parts
        jobs[job_id] = JobInfo(job_id, state, reason, node)
    return jobs


def _task_ids(text: str) -> list[str]:
    """Array task ids in Slurm's notation: ``"4"``, ``"1-3%1"``, ``"1,3,5-7"``."""
    text = text.split("%", 1)[0]
    out: list[str] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        if lo.isdigit() and hi.isdigit():
            out += [str(i) for i in range(int(lo), int(hi) + 1)]
        elif lo.isdigit() and not hi:
            out.append(lo)
    return out


def _fields(line: str) -> dict[str, str]:
    return dict(m.groups() for m in re.finditer(r"(\w[\w/:]*)=(\S*)", line))


def parse_scontrol(out: str) -> dict[str, JobInfo]:
    """``scontrol show job --oneliner`` output → job id (``123`` / ``123_4``) → info."""
    jobs: dict[str, JobInfo] = {}
    for line in out.splitlines():
        f = _fields(line)
        if "JobId" not in f:
            continue
        state = f.get("JobState", "")
        info = dict(
            state=state,
            reason=f.get("Reason", ""),
            node=f.get("NodeList", ""),
            exit_code=f.get("ExitCode", ""),
        )
        tasks = _task_ids(f.get("ArrayTaskId", "")) if f.get("ArrayJobId") else []
        if tasks:
            for t in tasks:
                key = f"{f['ArrayJobId']}_{t}"
                jobs[key] = JobInfo(job_id=key, **info)
        else:
            jobs[f["JobId"]] = JobInfo(job_id=f["JobId"], **info)
    return jobs


_accounting: bool | None = None


def _sacct(job_ids: list[str]) -> dict[str, JobInfo] | None:
    """Ended jobs from accounting (None when this cluster has none)."""
    global _accounting
    if _accounting is False or shutil.which("sacct") is None:
        return None
    try:
        out = run(
            ["sacct", "--noheader", "--parsable2", "--allocations", "--jobs", ",".join(job_ids),
             "--format", "JobID,State,Reason,NodeList,ExitCode"]
        )  # fmt: skip
    except SlurmError as exc:
        if "accounting storage is disabled" in str(exc).lower():
            _accounting = False
        return None
    _accounting = True
    jobs: dict[str, JobInfo] = {}
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) != 5:
            continue
        job_id, state, reason, node, code = parts
        state = state.split()[0] if state else ""  # "CANCELLED by 0"
        jobs[job_id] = JobInfo(job_id, state, reason, node, code)
    return jobs


def ended_jobs(job_ids: Iterable[str]) -> dict[str, JobInfo]:
    """What Slurm still knows about jobs that left ``squeue``: accounting, else slurmctld's memory.
    A job absent from the answer is forgotten (ended more than ``MinJobAge`` ago, no accounting)."""
    ids = sorted({job_id(j) for j in job_ids})
    if not ids:
        return {}
    found = _sacct(ids) or {}
    missing = [j for j in ids if j not in found]
    for base in sorted({j.split("_", 1)[0] for j in missing}):
        try:
            found.update(parse_scontrol(run(["scontrol", "--oneliner", "show", "job", base])))
        except SlurmError:
            continue  # "Invalid job id": purged
    return {j: found[j] for j in ids if j in found}


def sbatch(script: str, *, chdir: str | None = None, output: str | None = None) -> str:
    """Submit a job script (its text, on stdin); returns the job id. The working directory and
    the output file go to ``sbatch`` as argv items, never as script text (a path is data: a space,
    a ``#`` or a newline in it cannot change the script), after :func:`check_path`; a ``%`` in a
    path is written ``%%`` (Slurm's filename patterns)."""
    if shutil.which("sbatch") is None:
        run(["sbatch"])  # raises the "not installed" error
    argv = ["sbatch", "--parsable"]
    if chdir is not None:
        argv.append(f"--chdir={check_path(chdir, 'working directory')}")
    if output is not None:
        argv.append(f"--output={check_path(output, 'job output file')}")
    try:
        done = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=DEFAULT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SlurmError(
            f"sbatch did not answer within {DEFAULT_TIMEOUT_S:.0f} s (slurmctld down?)"
        ) from None
    if done.returncode != 0:
        err = " ".join((done.stderr or done.stdout).split()) or f"exit code {done.returncode}"
        raise SlurmError(f"sbatch refused the job: {err[:300]}")
    job_id = done.stdout.strip().split(";", 1)[0]  # "123" or "123;cluster"
    if not job_id.isdigit():
        raise SlurmError(f"sbatch answered {done.stdout.strip()!r}, not a job id")
    return job_id


def scancel(job_ids: Iterable[str]) -> None:
    ids = sorted({job_id(j) for j in job_ids})
    if ids:
        run(["scancel", *ids])


_DURATION_RE: Final = re.compile(r"(?:([0-9]+)-)?([0-9]+)(?::([0-9]+))?(?::([0-9]+))?", re.ASCII)


def duration_s(text: str) -> int | None:
    """Seconds in a Slurm duration, as ``--time`` takes it (``M``, ``M:S``, ``H:M:S``, ``D-H``,
    ``D-H:M``, ``D-H:M:S``) and ``squeue``'s ``%L`` prints it; None for anything else
    (``UNLIMITED``, ``INVALID``, ``NOT_SET``)."""
    m = _DURATION_RE.fullmatch(text.strip())
    if m is None:
        return None
    days, first, second, third = (int(g) if g else None for g in m.groups())
    assert first is not None
    if days is not None:  # D-H[:M[:S]]
        h, mins, sec = first, second or 0, third or 0
    elif third is not None:  # H:M:S
        h, mins, sec = first, second or 0, third
    else:  # M or M:S
        h, mins, sec = 0, first, second or 0
    return (((days or 0) * 24 + h) * 60 + mins) * 60 + sec


def time_left_s(job: str) -> int | None:
    """Seconds until one job's time limit (``squeue``'s ``%L``); None when it has none."""
    return duration_s(run(["squeue", "--noheader", "--jobs", job_id(job), "--format", "%L"], timeout=10))


def requeue(job: str) -> None:
    """``scontrol requeue`` of one job (a job may requeue itself: hw2.slurm.requeue)."""
    run(["scontrol", "requeue", job_id(job)], timeout=30)
