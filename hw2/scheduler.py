"""The scheduler daemon: ``python -m hw2.scheduler --runs-dir D``.

Why a daemon: queued runs must start (and finished ones be reaped) even when no TUI is open and
the SSH session that queued them is gone. It is started by :func:`hw2.daemon.ensure_scheduler`
fully detached and holds an exclusive ``flock`` on ``runs/.scheduler.lock`` for its lifetime (one
scheduler per runs dir, so no run is launched twice). :meth:`Scheduler.run` first marks
``running`` runs whose process vanished while no scheduler watched as ``failed``
(:func:`hw2.runs.lifecycle.mark_vanished`), then loops every ~0.2 s:

1. reap: sample its GPU children's memory, then record how each finished child ended when its
   harness could not (SIGKILL, segfault: ``killed`` "killed by SIGKILL" or ``failed`` with the exit
   code; :func:`hw2.runs.lifecycle.reap_exit`) and its NVML memory peak;
2. launch: start the oldest queued runs while slots are free; a run started elsewhere whose
   process is found gone on the way is marked ``failed`` (no launcher left to reap it);
3. watch Slurm runs (executor ``slurm``: queued and running in Slurm, never launched here): the
   Slurm monitor (:class:`hw2.slurm.monitor.SlurmMonitor`) polls Slurm once for all of them every
   ``$HW2_SLURM_POLL_S`` seconds (default 30) and records the ends their harness could not;
4. exit when nothing is queued, none of its children is alive and no Slurm run is watched for
   ``$HW2_SCHEDULER_IDLE`` seconds (default 2), after one last look for a run queued meanwhile.

Slots: GPUs (NVML; restricted to the daemon's own ``CUDA_VISIBLE_DEVICES`` if set) x
``$HW2_SLOTS_PER_GPU`` (default 1), or ``$HW2_CPU_SLOTS`` (default 1) when there is no GPU. Each
GPU run gets ``CUDA_VISIBLE_DEVICES=<its GPU>`` (with ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` so CUDA and
NVML number GPUs alike); CPU runs get ``""``.
Runs started elsewhere (``hw2-tui run`` in the foreground, a previous scheduler) count against the
slots while alive; Slurm runs never do (they run on Slurm's nodes, whatever ``host`` says).

Memory-aware packing (when ``$HW2_SLOTS_PER_GPU`` > 1, unless ``$HW2_GPU_MEM_AWARE=0``): a run
joins a GPU that already has runs only if NVML's free memory, minus what the runs already there
are still expected to grow by, leaves room for the new run's expected peak plus
``$HW2_GPU_MEM_MARGIN_MB`` (default 1024). The expected peak is the largest of ``peak_mem_mb`` in
``result.json`` and the NVML-observed ``gpu_mem_peak_mb`` the scheduler records in meta, over
earlier runs with the same memory key (:func:`hw2.run_keys.memory_key`: runs that differ only in
seed, learning rate or epochs share it; runs queued before it existed fall back to their config
hash); a run never measured only gets an empty GPU. An empty GPU is always admitted.

SIGTERM stops it; the trainers it started keep running and record their own status.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hw2 import contract, gpu, launch, locks
from hw2.daemon import SCHEDULER_INFO, SCHEDULER_LOCK
from hw2.env import env_flag, env_float, env_int
from hw2.runs import lifecycle, liveness
from hw2.statcache import StatCache

log = logging.getLogger("hw2.scheduler")

POLL_S = 0.2


@dataclass
class Child:
    run_id: str
    path: Path
    proc: subprocess.Popen[bytes]
    gpu: int | None
    memory_key: str | None
    started: float = field(default_factory=time.monotonic)
    gpu_peak_mb: float = 0.0  # largest NVML-reported memory of its process (0: never seen)


@dataclass
class Occupant:
    """A live run on a device slot (ours or adopted), for admission decisions."""

    pid: int | None
    gpu: int | None
    expected_peak_mb: float | None


def admit_on_gpu(
    free_mb: float,
    occupants: list[tuple[float | None, float | None]],
    need_mb: float | None,
    margin_mb: float,
) -> bool:
    """Whether a run expected to peak at ``need_mb`` fits on a GPU with ``free_mb`` free.

    ``occupants`` are (expected peak, memory in use now) of the runs already there; each may
    still grow by ``peak - used`` (its whole peak when its usage is unknown). A GPU with no
    occupant always admits. An unmeasured newcomer (``need_mb`` None), or an occupant with an
    unknown peak, never shares a GPU: we cannot tell whether both fit.
    """
    if not occupants:
        return True
    if need_mb is None:
        return False
    growth = 0.0
    for peak, used in occupants:
        if peak is None:
            return False
        growth += max(0.0, peak - (used or 0.0))
    return free_mb - growth - margin_mb >= need_mb


def visible_gpu_ids(count: int, cuda_visible_devices: str | None) -> list[int]:
    """NVML indices the scheduler may use: all of them, or those named in its own
    ``CUDA_VISIBLE_DEVICES`` (``""`` means none: CPU slots). Non-numeric entries (UUIDs) are
    ignored with the rest, i.e. all GPUs are used."""
    if cuda_visible_devices is None:
        return list(range(count))
    text = cuda_visible_devices.strip()
    if not text:
        return []
    parts = [x.strip() for x in text.split(",")]
    if not all(x.isdigit() for x in parts):
        return list(range(count))
    return [i for i in dict.fromkeys(int(x) for x in parts) if i < count]


def memory_key_of(meta: contract.RunMeta) -> str | None:
    """The key under which ``meta``'s run shares measured memory peaks: its ``memory_key``, or, for a
    run queued before memory keys existed, its ``config_hash`` (prefixed, so the two never mix)."""
    key = meta.extra.get("memory_key")
    if isinstance(key, str) and key:
        return key
    chash = meta.extra.get("config_hash")
    return f"config:{chash}" if isinstance(chash, str) and chash else None


class Scheduler:
    def __init__(self, runs_dir: Path, *, poll_s: float = POLL_S, idle_s: float | None = None) -> None:
        self.runs_dir = Path(runs_dir).resolve()
        self.poll_s = poll_s
        self.idle_s = env_float("HW2_SCHEDULER_IDLE", 2.0) if idle_s is None else idle_s
        self.gpu_ids = visible_gpu_ids(gpu.gpu_count(), os.environ.get("CUDA_VISIBLE_DEVICES"))
        self.n_gpus = len(self.gpu_ids)
        self.slots_per_gpu = env_int("HW2_SLOTS_PER_GPU", 1, minimum=1)
        self.cpu_slots = contract.cpu_slots()
        self.mem_aware = self.n_gpus > 0 and self.slots_per_gpu > 1 and env_flag("HW2_GPU_MEM_AWARE", True)
        self.margin_mb = env_float("HW2_GPU_MEM_MARGIN_MB", 1024.0)
        self.children: dict[str, Child] = {}
        self.slurm_runs: list[tuple[Path, contract.RunMeta]] = []  # watched by the Slurm monitor
        self._slurm_monitor: Any = None  # hw2.slurm.monitor.SlurmMonitor, made when a Slurm run shows up
        self._lock_fd: int | None = None
        self._stop = False
        # meta.json by its path, re-read only when its stat changed (the loop runs 5x a second)
        self._metas: StatCache[contract.RunMeta | None] = StatCache(lambda p: contract.read_meta(p.parent))

    @property
    def total_slots(self) -> int:
        return self.n_gpus * self.slots_per_gpu if self.n_gpus else self.cpu_slots

    # ----------------------------------------------------------------- lock

    def acquire(self, tries_s: float = 2.0) -> bool:
        """Take the scheduler lock (retrying briefly: a probe may hold it for microseconds)."""
        fd = locks.try_lock(self.runs_dir / SCHEDULER_LOCK, wait_s=tries_s)
        if fd is None:
            return False
        self._lock_fd = fd
        contract.atomic_write_json(
            self.runs_dir / SCHEDULER_INFO,
            {
                "pid": os.getpid(),
                "pid_create_time": contract.process_create_time(os.getpid()),
                "started": time.time(),
                "host": contract.host_name(),
                "gpus": self.n_gpus,
                "gpu_ids": self.gpu_ids,
                "slots": self.total_slots,
                "slots_per_gpu": self.slots_per_gpu,
                "cpu_slots": self.cpu_slots,
                "mem_aware": self.mem_aware,
            },
        )
        return True

    def release(self) -> None:
        if self._lock_fd is None:
            return
        info = contract.read_json(self.runs_dir / SCHEDULER_INFO) or {}
        if info.get("pid") == os.getpid():
            with contextlib.suppress(OSError):
                os.unlink(self.runs_dir / SCHEDULER_INFO)
        locks.release(self._lock_fd)
        self._lock_fd = None

    # ----------------------------------------------------------------- reading runs

    def _meta(self, path: Path) -> contract.RunMeta | None:
        return self._metas.get(path / contract.META_FILE)

    def _scan(self) -> tuple[list[tuple[float, Path, contract.RunMeta]], list[tuple[Path, contract.RunMeta]]]:
        """(queued oldest first, running-on-this-host not ours); Slurm runs still watched go to
        :attr:`slurm_runs`."""
        queued, foreign, slurm = [], [], []
        host = contract.host_name()
        for path in contract.list_run_dirs(self.runs_dir):
            meta = self._meta(path)
            if meta is None:
                continue
            executor = meta.extra.get("executor", liveness.LOCAL)
            if executor != liveness.LOCAL:  # another executor's run: never launched here
                if (
                    executor == liveness.SLURM
                    and meta.extra.get("slurm_job_id")
                    and (meta.status in ("queued", "running") or meta.extra.get("slurm_state") is not None)
                ):
                    slurm.append((path, meta))
                continue
            if meta.status == "queued":
                queued.append((float(meta.created or 0.0), path, meta))
            elif meta.status == "running" and meta.host == host and path.name not in self.children:
                foreign.append((path, meta))
        queued.sort(key=lambda t: (t[0], t[1].name))
        self.slurm_runs = slurm
        return queued, foreign

    def expected_peak(self, key: str | None) -> float | None:
        """Largest measured ``peak_mem_mb`` of earlier runs with this memory key (see
        :func:`memory_key_of`), if any."""
        if not key:
            return None
        best: float | None = None
        for path in contract.list_run_dirs(self.runs_dir):
            meta = self._meta(path)
            if meta is None or memory_key_of(meta) != key:
                continue
            result = contract.read_result(path) or {}
            for peak in (result.get("peak_mem_mb"), meta.extra.get("gpu_mem_peak_mb")):
                if isinstance(peak, (int, float)) and not isinstance(peak, bool) and peak > 0:
                    best = max(best or 0.0, float(peak))
        return best

    # ----------------------------------------------------------------- loop steps

    def reconcile(self) -> int:
        """Mark runs whose process died while nobody watched as failed; returns how many."""
        n = 0
        for path in contract.list_run_dirs(self.runs_dir):
            if path.name in self.children:
                continue
            if lifecycle.mark_vanished(path):
                log.info("%s: process gone, marked failed", path.name)
                self.auto_resume(path)
                n += 1
        return n

    def auto_resume(self, path: Path) -> None:
        """With ``$HW2_AUTO_RESUME=1``, a run found vanished (a reboot, a killed daemon) that has a
        checkpoint goes back to the queue in its own folder (:func:`hw2.resume.reopen`); without
        it, the run stays ``failed`` (``failed · resumable``) for ``hw2-tui resume``."""
        if os.environ.get("HW2_AUTO_RESUME") != "1" or contract.checkpoint_file(path) is None:
            return
        from hw2 import resume

        try:
            meta = resume.reopen(self.runs_dir, path.name)
        except resume.ResumeError as exc:
            log.info("%s: not resumed: %s", path.name, exc)
            return
        contract.append_log_line(
            path, "resume: by the scheduler ($HW2_AUTO_RESUME=1): the run's process was gone"
        )
        log.info("%s: resumed (attempt %s, $HW2_AUTO_RESUME=1)", path.name, meta.attempt)

    def sample_gpu_memory(self) -> None:
        """Track each GPU child's peak memory as NVML sees it (CUDA context and allocator cache
        included, which a framework's own counter misses); recorded in meta at exit."""
        for g in {c.gpu for c in self.children.values() if c.gpu is not None}:
            used = gpu.gpu_processes(g)
            for c in self.children.values():
                if c.gpu == g and c.proc.pid in used:
                    c.gpu_peak_mb = max(c.gpu_peak_mb, used[c.proc.pid])

    def reap(self) -> None:
        if self.n_gpus:
            self.sample_gpu_memory()
        for run_id, child in list(self.children.items()):
            rc = child.proc.poll()
            if rc is None:
                continue
            if child.gpu_peak_mb > 0:
                with contextlib.suppress(contract.ContractError, OSError):
                    lifecycle.add_fields(child.path, gpu_mem_peak_mb=round(child.gpu_peak_mb, 1))
            status = launch.finalize_exit(child.path, rc)
            log.info("%s: exited with %s -> %s", run_id, rc, status)
            del self.children[run_id]

    def _gpu_of(self, meta: contract.RunMeta) -> int | None:
        g = meta.extra.get("gpu")
        if isinstance(g, int):
            return g
        cvd = (meta.cuda_visible_devices or "").strip()
        return int(cvd) if cvd.isdigit() else None

    def occupants(self, foreign: list[tuple[Path, contract.RunMeta]]) -> list[Occupant]:
        occ = [
            Occupant(pid=c.proc.pid, gpu=c.gpu, expected_peak_mb=self.expected_peak(c.memory_key))
            for c in self.children.values()
        ]
        for path, meta in foreign:
            if liveness.is_alive(meta) is False:
                if lifecycle.mark_vanished(path):
                    log.info("%s: process gone, marked failed", path.name)
                    self.auto_resume(path)
                if not liveness.exit_will_be_recorded(meta):
                    continue  # gone: its slot is free (a launcher about to reap it still holds it)
            peak = self.expected_peak(memory_key_of(meta)) if meta.pid else None
            occ.append(Occupant(pid=meta.pid, gpu=self._gpu_of(meta), expected_peak_mb=peak))
        return occ

    def pick_gpu(self, occupants: list[Occupant], need_mb: float | None) -> int | None:
        """The GPU for the next run (fewest occupants first), or None if none admits it."""
        per_gpu: dict[int, list[Occupant]] = {i: [] for i in self.gpu_ids}
        for o in occupants:
            if o.gpu in per_gpu:
                per_gpu[o.gpu].append(o)
        stats = {s.index: s for s in gpu.gpu_stats()} if self.mem_aware else {}
        for i in sorted(per_gpu, key=lambda i: (len(per_gpu[i]), i)):
            here = per_gpu[i]
            if len(here) >= self.slots_per_gpu:
                continue
            if not self.mem_aware or not here:
                return i
            stat = stats.get(i)
            if stat is None:
                continue
            used_by = gpu.gpu_processes(i)
            occ = [(o.expected_peak_mb, used_by.get(o.pid) if o.pid else None) for o in here]
            if admit_on_gpu(stat.mem_free, occ, need_mb, self.margin_mb):
                return i
        return None

    def launch_ready(self) -> int:
        """Start queued runs while slots are free; returns how many started."""
        queued, foreign = self._scan()
        if not queued:
            return 0
        occupants = self.occupants(foreign)
        started = 0
        for _created, path, meta in queued:
            if len(occupants) >= self.total_slots:
                break
            key = memory_key_of(meta)
            need = self.expected_peak(key) if self.mem_aware else None
            gpu_index: int | None = None
            if self.n_gpus:
                gpu_index = self.pick_gpu(occupants, need)
                if gpu_index is None:
                    break  # first in, first out: do not let later runs overtake the head
            cuda = "" if gpu_index is None else str(gpu_index)
            with launch.queue_lock(self.runs_dir):
                fresh = contract.read_meta(path)
                if (
                    fresh is None
                    or fresh.status != "queued"
                    or fresh.extra.get("executor", liveness.LOCAL) != liveness.LOCAL
                ):
                    continue  # taken, cancelled, or handed to another executor (a requeue) meanwhile
                try:
                    proc = launch.start_trainer(path, fresh, cuda_visible_devices=cuda, gpu=gpu_index)
                except (launch.LaunchError, contract.ContractError, OSError) as exc:
                    log.error("%s: %s", path.name, exc)
                    continue
            self.children[path.name] = Child(path.name, path, proc, gpu_index, key)
            occupants.append(Occupant(pid=proc.pid, gpu=gpu_index, expected_peak_mb=need))
            log.info(
                "%s: started pid %d on %s", path.name, proc.pid, f"GPU {gpu_index}" if self.n_gpus else "CPU"
            )
            started += 1
        return started

    def has_queued(self) -> bool:
        return bool(self._scan()[0])

    def watch_slurm(self) -> int:
        """Poll Slurm for the Slurm runs of the last scan when the poll interval has passed (the
        monitor decides which runs it still watches); returns how many runs it ended."""
        if not self.slurm_runs:
            return 0
        if self._slurm_monitor is None:
            from hw2.slurm.monitor import SlurmMonitor  # only a runs dir with Slurm runs needs it

            self._slurm_monitor = SlurmMonitor()
        return int(self._slurm_monitor.maybe_poll(self.slurm_runs))

    def slurm_active(self) -> bool:
        """Whether a Slurm run is still watched (keeps the daemon alive to record its end)."""
        if not self.slurm_runs or (self._slurm_monitor is not None and self._slurm_monitor.unavailable):
            return False  # none, or no Slurm on this machine to ask about them
        from hw2.slurm.monitor import watched

        return any(watched(meta) for _path, meta in self.slurm_runs)

    # ----------------------------------------------------------------- main loop

    def _on_signal(self, signum: int, _frame: Any) -> None:
        log.info("received %s, stopping (running trainers keep running)", signal.Signals(signum).name)
        self._stop = True

    def run(self) -> int:
        if not self.acquire():
            log.info("another scheduler holds %s; exiting", self.runs_dir / SCHEDULER_LOCK)
            return 0
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        log.info(
            "scheduler pid %d on %s: %d slot(s) (%s)",
            os.getpid(),
            self.runs_dir,
            self.total_slots,
            f"{self.n_gpus} GPU x {self.slots_per_gpu}" if self.n_gpus else "CPU",
        )
        self.reconcile()
        idle_since: float | None = None
        try:
            while not self._stop:
                try:
                    self.reap()
                    self.launch_ready()
                    self.watch_slurm()
                except Exception:  # one odd run folder (deleted mid-launch, ...) must not stop the queue
                    log.exception("scheduler step failed; retrying")
                    time.sleep(1.0)
                    continue
                if self.children or self.has_queued() or self.slurm_active():
                    idle_since = None
                else:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since >= self.idle_s:
                        # Let go, then look once more: a run queued while we were deciding to
                        # quit found the lock held and started no scheduler; take it back.
                        self.release()
                        if self.has_queued() and self.acquire(tries_s=0.0):
                            idle_since = None
                            continue
                        log.info("queue empty; exiting")
                        return 0
                time.sleep(self.poll_s)
        finally:
            self.release()
        return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hw2.scheduler", description="hw2 run scheduler daemon")
    p.add_argument("--runs-dir", type=Path, default=contract.default_runs_dir())
    p.add_argument("--fork", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    launch.daemonize_if_asked(args.fork)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s scheduler[%(process)d] %(levelname)s %(message)s",
    )
    runs_dir: Path = args.runs_dir
    try:
        contract.make_runs_dir(runs_dir)
        return Scheduler(runs_dir).run()
    except OSError as exc:
        log.error("cannot use runs dir %s: %s", runs_dir, exc)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
