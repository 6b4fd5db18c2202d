"""Scale: a semester of finished runs (issues 9 and 20). Fabricates N copies of ONE real run
folder and measures what a user waits for, against the targets (issue 20, 10 000 runs):

1. ``hw2-tui ls`` wall time (the real CLI in a subprocess, output to a pipe): cold (no summary
   cache yet: every run folder is read once and the cache written) and warm (with the cache).
   Target ≤ 1 s warm (the everyday case; cold is printed for reference).
2. ``hw2-tui export`` wall time (results.csv + metrics.csv, streamed). No time target; it must
   stream (memory does not grow with the number of runs).
3. The TUI (the real ``hw2-tui`` in a 120x36 pseudo-terminal): time from ``exec`` until the runs
   table shows a fabricated run's name (target ≤ 2 s warm, ≤ 4 s cold); the time until every
   run is read (its CPU falls under 10 % of a core over 2 s); then, with nothing running, its CPU
   share over ``--idle`` seconds (% of one core, user+sys over wall; target ≤ 2 %) and its
   memory (RSS, target ≤ 200 MB). Measured with the summary cache warm (as after any earlier
   ``ls`` or TUI session) and cold.
4. ``hw2-tui rm --smoke --yes`` of ``--smoke-runs`` fabricated smoke runs (meta ``smoke: true``)
   among the N: target ≤ 5 s for 1000.

The copies get fresh run ids and names (``scl0000-<name>`` …) in meta.json; files are copied, not
linked. Make the source run once with the real MLP trainer on real MNIST::

    HW2_DATA_DIR=/work/shared/data hw2-tui --runs-dir /tmp/scale-src run configs/mlp/baseline.yaml \\
        --set train.epochs=20

then, from the repository root::

    python bench/bench_scale.py --from /tmp/scale-src/<run id> [--runs 10000] [--idle 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_tui import drain, hw2_tui_cmd, spawn_in_pty, stop_pty_app, tui_env  # noqa: E402
from hw2 import contract  # noqa: E402
from hw2.runs.index import CACHE_FILE  # noqa: E402

TARGET_LS_S = 1.0
TARGET_FIRST_ROWS_S = 2.0
TARGET_FIRST_ROWS_COLD_S = 4.0
TARGET_IDLE_CPU_PCT = 2.0
TARGET_RSS_MB = 200.0
TARGET_RM_SMOKE_S = 5.0  # for 1000 smoke runs
SETTLED_CPU_PCT = 10.0  # the TUI has read every run once its CPU falls under this over 2 s
MARKER = b"scl"  # every fabricated run's name has scl<4 digits>


def find_source(path: Path | None) -> Path:
    """The run folder to copy: ``--from`` (a run folder, or a runs folder: its newest finished run)."""
    if path is None:
        raise SystemExit("bench_scale: give --from RUN_DIR (a finished run folder); see the module doc")
    if (path / contract.META_FILE).is_file():
        return path
    for d in reversed(contract.list_run_dirs(path)):
        meta = contract.read_meta(d)
        if meta is not None and meta.status in contract.FINAL_STATUSES:
            return d
    raise SystemExit(f"bench_scale: {path}: no finished run folder there")


def fabricate(src: Path, runs_dir: Path, n: int, *, smoke: bool = False) -> list[str]:
    """``n`` copies of ``src`` with fresh run ids and names (``smoke``: marked as smoke runs, named
    ``smoke-…``); returns the ids."""
    meta = json.loads((src / contract.META_FILE).read_text())
    base = float(meta.get("created") or time.time()) - n
    files = [p for p in src.iterdir() if p.is_file() and p.name != contract.META_FILE]
    ids = []
    for i in range(n):
        name = f"{'smoke-' if smoke else ''}scl{i:04d}-{meta.get('name') or 'run'}"
        run_id = contract.new_run_id(name, now=base + i)
        d = runs_dir / run_id
        d.mkdir(parents=True)
        for f in files:
            shutil.copyfile(f, d / f.name)
        fields = {**meta, "run_id": run_id, "name": name, **({"smoke": True} if smoke else {})}
        (d / contract.META_FILE).write_text(json.dumps(fields, indent=2))
        ids.append(run_id)
    return ids


def _cli(runs_dir: Path, *args: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one ``hw2-tui`` command. CPU (user+sys of the child) is
    printed beside wall time because this shared 2-core box's load swings wall time by 2-5x."""
    import resource

    env = {**os.environ, "COLUMNS": "200"}
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "hw2.cli", "--runs-dir", str(runs_dir), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
    )
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"hw2-tui {' '.join(args)} failed: {proc.stderr.decode()[-2000:]}")
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


PEAK_RSS = """
import resource, runpy, sys
sys.argv = ["hw2-tui", *sys.argv[1:]]
try:
    runpy.run_module("hw2.cli", run_name="__main__")
except SystemExit:
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def _peak_rss_cli(runs_dir: Path, *args: str) -> float:
    """Peak RSS (MB) of one CLI command (its own ``ru_maxrss``, printed as it exits)."""
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, "--runs-dir", str(runs_dir), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return int(proc.stderr.strip().splitlines()[-1]) * 1024 / 1e6


def _settle(p: object, master: int, t0: float, limit: float = 120.0) -> float:
    """Seconds from ``t0`` until the app's CPU over a 2 s window falls under SETTLED_CPU_PCT (it
    has read every run folder and drawn the rows), at most ``limit``."""
    while time.monotonic() - t0 < limit:
        c0, w0 = p.cpu_times(), time.monotonic()  # type: ignore[attr-defined]
        drain(master, timeout=2.0)
        c1, w1 = p.cpu_times(), time.monotonic()  # type: ignore[attr-defined]
        if 100 * ((c1.user - c0.user) + (c1.system - c0.system)) / (w1 - w0) < SETTLED_CPU_PCT:
            return w0 - t0
    return limit


def bench_tui(runs_dir: Path, idle: float) -> dict[str, float]:
    import psutil

    t0 = time.monotonic()
    proc, master = spawn_in_pty(hw2_tui_cmd(runs_dir), 120, 36, tui_env(runs_dir))
    try:
        out, seen = drain(master, until=MARKER, timeout=120)
        if seen is None:
            raise SystemExit(f"hw2-tui showed no run row in 120 s; it printed: {out[-2000:]!r}")
        first_rows = seen - t0
        ct = psutil.Process(proc.pid).cpu_times()
        first_rows_cpu = ct.user + ct.system
        p = psutil.Process(proc.pid)
        settled = _settle(p, master, t0)  # every run read and shown, workers idle
        c0, w0 = p.cpu_times(), time.monotonic()
        drain(master, timeout=idle)
        c1, w1 = p.cpu_times(), time.monotonic()
        rss = p.memory_info().rss / 1e6
    finally:
        stop_pty_app(proc, master)
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    return {
        "first_rows_s": first_rows,
        "first_rows_cpu_s": first_rows_cpu,
        "settled_s": settled,
        "idle_cpu_pct": 100 * cpu / (w1 - w0),
        "rss_mb": rss,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="src", type=Path, help="a finished run folder (or a runs folder)")
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--idle", type=float, default=20.0, help="TUI idle CPU window in seconds")
    ap.add_argument("--no-cold-tui", action="store_true", help="skip the TUI with a cold cache")
    ap.add_argument("--smoke-runs", type=int, default=1000, help="smoke runs fabricated, then rm --smoke")
    args = ap.parse_args()
    src = find_source(args.src)
    size = (src / contract.METRICS_FILE).stat().st_size
    print(
        f"bench_scale: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}; {args.runs} copies of {src.name} ({size / 1024:.0f} KiB of metrics)"
    )
    with tempfile.TemporaryDirectory(prefix="hw2-bench-runs-") as t:
        tmp = Path(t)
        runs_dir = tmp / "runs"
        fabricate(src, runs_dir, args.runs)
        cache = runs_dir / CACHE_FILE
        ls_cold = _cli(runs_dir, "ls")
        ls_warm = min(_cli(runs_dir, "ls") for _ in range(3))
        ls_json = min(_cli(runs_dir, "ls", "--json") for _ in range(3))
        export_s = _cli(runs_dir, "export", "--out", str(tmp / "out"))
        export_rss = _peak_rss_cli(runs_dir, "export", "--out", str(tmp / "out2"))
        warm = bench_tui(runs_dir, args.idle)
        cold = None
        if not args.no_cold_tui:
            cache.unlink(missing_ok=True)
            cold = bench_tui(runs_dir, min(args.idle, 10.0))
        with open(tmp / "out" / "metrics.csv") as fh:
            rows = sum(1 for _ in fh) - 1
        rm_smoke = None
        if args.smoke_runs:
            fabricate(src, runs_dir, args.smoke_runs, smoke=True)
            _cli(runs_dir, "ls")  # their summaries cached, as after any look at the folder
            rm_smoke = _cli(runs_dir, "rm", "--smoke", "--yes")
            left = len(contract.list_run_dirs(runs_dir))
            if left != args.runs:
                raise SystemExit(f"rm --smoke left {left} runs, expected {args.runs}")

    def row(label: str, value: str, target: str = "", ok: bool | None = None) -> None:
        print(f"{label:44} {value:>28}  {target:10} {'' if ok is None else ('OK' if ok else 'MISS')}")

    def wc(x: tuple[float, float]) -> str:
        return f"{x[0]:.2f} s (CPU {x[1]:.2f} s)"

    print()
    row("metric", "value", "target")
    row(
        "hw2-tui ls, warm (summary cache), best of 3",
        wc(ls_warm),
        f"<= {TARGET_LS_S:g} s",
        ls_warm[0] <= TARGET_LS_S,
    )
    row("hw2-tui ls, cold (first run: no cache)", wc(ls_cold))
    row("hw2-tui ls --json, warm, best of 3", wc(ls_json))
    row("hw2-tui export (streamed)", wc(export_s))
    row("  export peak RSS", f"{export_rss:.0f} MB")
    row("  metrics.csv rows", f"{rows}")
    if rm_smoke is not None:
        row(
            f"hw2-tui rm --smoke --yes ({args.smoke_runs} smoke runs)",
            wc(rm_smoke),
            f"<= {TARGET_RM_SMOKE_S * args.smoke_runs / 1000:g} s",
            rm_smoke[0] <= TARGET_RM_SMOKE_S * args.smoke_runs / 1000,
        )
    for label, r in (("warm cache", warm), ("cold: no cache", cold)):
        if r is None:
            continue
        target = TARGET_FIRST_ROWS_S if r is warm else TARGET_FIRST_ROWS_COLD_S
        row(
            f"TUI exec -> first rows ({label})",
            f"{r['first_rows_s']:.2f} s (CPU {r['first_rows_cpu_s']:.2f} s)",
            f"<= {target:g} s",
            r["first_rows_s"] <= target,
        )
        row(f"  every run read, CPU < {SETTLED_CPU_PCT:g} % ({label})", f"{r['settled_s']:.1f} s")
        row(
            f"  then idle CPU, nothing running ({label})",
            f"{r['idle_cpu_pct']:.1f} % of a core",
            f"<= {TARGET_IDLE_CPU_PCT:g} %",
            r["idle_cpu_pct"] <= TARGET_IDLE_CPU_PCT,
        )
        row(
            f"  TUI memory RSS ({label})",
            f"{r['rss_mb']:.0f} MB",
            f"<= {TARGET_RSS_MB:g} MB",
            r["rss_mb"] <= TARGET_RSS_MB,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
