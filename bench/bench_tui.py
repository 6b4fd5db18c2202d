"""Benchmark 4 (issue 5): how light and how live the TUI is.

Measures, and prints against the targets:

1. **cold start → first frame**: ``hw2-tui`` (the real CLI entry) started in a pseudo-terminal
   (80x24), timed from ``exec`` until the first frame's text reaches the terminal. Target ≤ 0.5 s.
   Side by side, Textual's floors, started the same way: the smallest app showing the same word,
   and the same with the stock widgets the screen needs (header, tree, table, footer).
2. **write → screen latency**: a headless app (``App.run_test``) highlights a live run; the bench
   appends an epoch line to its ``metrics.jsonl`` and times until the plot widget has re-rendered
   with it. With 1 live run and with 16 live runs (all writing progress lines at 20 Hz).
   Target ≤ 0.5 s at 16 runs.
3. **CPU share and memory**: the real ``hw2-tui`` in a pseudo-terminal (120x36) while 16 runs
   write progress lines at 20 Hz (plus an epoch line every 2 s each) for ``--duration`` seconds;
   CPU is the TUI process's user+sys time over wall time (% of one core), memory its RSS at the
   start, middle and end of the window (bounded: no growth over the second half). Target ≤ 10 %
   of one core.

The runs are written by ONE separate writer process (not 16 trainers), so the figures are the
TUI's own cost, not the trainers'. Run from the repository root::

    python bench/bench_tui.py [--duration 30] [--runs 16] [--hz 20]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hw2.contract import RunMeta, atomic_write_text, write_meta  # noqa: E402

TARGET_COLD_S = 0.5
TARGET_LATENCY_S = 0.5
TARGET_CPU_PCT = 10.0
BATCHES = 40  # progress lines per epoch: one epoch line every BATCHES / hz seconds


# ---------------------------------------------------------------------- fake live runs


def make_live_runs(
    runs_dir: Path, n: int, pid: int, epochs: int = 10_000, prefix: str = "bench"
) -> list[str]:
    """``n`` run folders marked running by process ``pid`` (so they count as live)."""
    from hw2.contract import process_create_time

    ids = []
    for i in range(n):
        rid = f"{prefix}-{i:02d}"
        d = runs_dir / rid
        d.mkdir(parents=True, exist_ok=True)
        cfg = {
            "name": rid,
            "trainer": "fake",
            "model": {"name": "m"},
            "optimizer": {"lr": 0.01 * (i + 1)},
            "train": {"epochs": epochs, "batch_size": BATCHES},
        }
        atomic_write_text(d / "config.yaml", json.dumps(cfg))
        write_meta(
            d,
            RunMeta(
                run_id=rid,
                name=rid,
                status="running",
                trainer="fake",
                study="bench",
                started=time.time(),
                pid=pid,
                pid_create_time=process_create_time(pid),
                device="cpu",
                epochs=epochs,
            ),
        )
        (d / "metrics.jsonl").touch()
        (d / "train.log").write_text(f"{rid} started\n")
        ids.append(rid)
    return ids


WRITER = r"""
import json, sys, time, os
from pathlib import Path
runs, hz, batches = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
ids = sys.argv[4:]
fhs = {r: open(runs / r / "metrics.jsonl", "a", buffering=1) for r in ids}
print("ready", flush=True)
step, t0 = 0, time.monotonic()
while True:
    step += 1
    epoch, batch = step // batches + 1, step % batches
    now = time.time()
    for i, r in enumerate(ids):
        fh = fhs[r]
        if batch == 0:
            e = epoch - 1
            fh.write(json.dumps({"type": "epoch", "epoch": e, "epochs": 10000, "train_loss": 2 / (e + 1),
                "train_acc": 1 - 1 / (e + 2), "val_loss": 2.1 / (e + 1), "val_acc": 1 - 1.1 / (e + 2),
                "lr": 0.01, "seconds": batches / hz, "time": now}) + "\n")
        else:
            fh.write(json.dumps({"type": "progress", "epoch": epoch, "epochs": 10000, "batch": batch,
                "batches": batches, "loss": 1.0 / epoch, "acc": 0.5, "time": now}) + "\n")
    time.sleep(max(0.0, t0 + step / hz - time.monotonic()))
"""


def start_writer(runs_dir: Path, ids: list[str], hz: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(runs_dir), str(hz), str(BATCHES), *ids],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


# ---------------------------------------------------------------------- pty helpers


def spawn_in_pty(
    argv: list[str], cols: int, rows: int, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=ROOT,
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    return proc, master


def drain(master: int, until: bytes | None = None, timeout: float = 0.0) -> tuple[bytes, float | None]:
    """Read what the app wrote; returns (bytes, time ``until`` was first seen or None)."""
    buf = b""
    seen: float | None = None
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        r, _, _ = select.select([master], [], [], max(0.0, min(left, 0.05)))
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            if until is not None and seen is None and until in buf:
                seen = time.monotonic()
                if timeout and left > 0:
                    return buf, seen
        elif left <= 0:
            break
    return buf, seen


def stop_pty_app(proc: subprocess.Popen[bytes], master: int) -> None:
    try:
        os.write(master, b"q")
        t = time.monotonic()
        while proc.poll() is None and time.monotonic() - t < 5:
            drain(master, timeout=0.1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(5)
        os.close(master)


def tui_env(runs_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "HW2_RUNS_DIR": str(runs_dir),
            "TERM": "xterm-256color",
            "COLUMNS": "",
            "LINES": "",
            "TEXTUAL_ANIMATIONS": "none",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
        }
    )
    return env


def hw2_tui_cmd(runs_dir: Path) -> list[str]:
    return [sys.executable, "-m", "hw2.cli", "--runs-dir", str(runs_dir)]


# ---------------------------------------------------------------------- 1. cold start


# The floor: the smallest Textual app that shows the same word, started the same way.
FLOOR_APP = r"""
from textual.app import App
from textual.widgets import Label


class Floor(App):
    def compose(self):
        yield Label("Configs")

    def on_key(self, event):
        if event.key == "q":
            self.exit()


Floor().run()
"""

# A second floor: the stock widgets the main screen cannot do without (header, configs tree, runs
# table, footer), empty, no CSS of ours. What Textual costs for this screen before any of our code.
WIDGETS_FLOOR_APP = FLOOR_APP.replace(
    "from textual.widgets import Label",
    "from textual.widgets import DataTable, Footer, Header, Label, Tree",
).replace(
    'yield Label("Configs")',
    'yield Header()\n        yield Label("Configs")\n        yield Tree("configs")\n'
    "        yield DataTable()\n        yield Footer()",
)


def _first_frame(argv: list[str], runs: Path) -> float | None:
    t0 = time.monotonic()
    proc, master = spawn_in_pty(argv, 80, 24, tui_env(runs))
    out, seen = drain(master, until=b"Configs", timeout=30)
    if seen is None:
        print(f"cold start: no frame in 30 s; {argv[-1]} printed: {out[-2000:]!r}")
    stop_pty_app(proc, master)
    return None if seen is None else seen - t0


def bench_cold_start(tmp: Path, repeats: int = 7) -> tuple[list[float], list[float], list[float]]:
    """hw2-tui's cold start and Textual's two floors, interleaved (this box's speed drifts).

    The project's modules are byte-compiled first, as any second start finds them: an editable
    install does not compile them, and this sandbox sets PYTHONDONTWRITEBYTECODE, which would
    otherwise make every start compile ~5 000 lines of source (~0.07 s here).
    """
    subprocess.run([sys.executable, "-m", "compileall", "-q", "hw2", "tui"], cwd=ROOT, check=True)
    runs = tmp / "cold-runs"
    runs.mkdir()
    ours: list[float] = []
    floor: list[float] = []
    widgets: list[float] = []
    for _ in range(repeats):
        for argv, out in (
            (hw2_tui_cmd(runs), ours),
            ([sys.executable, "-c", FLOOR_APP], floor),
            ([sys.executable, "-c", WIDGETS_FLOOR_APP], widgets),
        ):
            t = _first_frame(argv, runs)
            if t is not None:
                out.append(t)
    return ours, floor, widgets


# ---------------------------------------------------------------------- 2. latency


async def _latency(runs_dir: Path, ids: list[str], samples: int) -> list[float]:
    from tui.app import make_app

    app = make_app(
        runs_dir, ROOT / "configs", poll_interval=0.25, gpu_stats=lambda: [], start_scheduler=False
    )
    renders: list[float] = []
    async with app.run_test(size=(120, 36)) as pilot:
        while not (app.first_poll_done.is_set() and app.plots.ready and app.table.row_count == len(ids)):
            await pilot.pause(0.05)
        plot = app.plots.acc
        orig = plot.render

        def render() -> Any:
            renders.append(time.monotonic())
            return orig()

        plot.render = render  # type: ignore[method-assign]
        rid = "probe-00"
        app.table.move_cursor(row=app.table.get_row_index(rid))
        await pilot.pause(0.5)
        out = []
        path = runs_dir / rid / "metrics.jsonl"
        for i in range(samples):
            await pilot.pause(0.137 * (i % 5) + 0.2)  # sample at different poll phases
            st = app.runs[rid]
            want = st.epochs_done + 1
            line = {
                "type": "epoch",
                "epoch": want,
                "epochs": 10_000,
                "train_loss": 0.5,
                "train_acc": 0.8,
                "val_loss": 0.6,
                "val_acc": 0.7,
                "lr": 0.01,
                "seconds": 1.0,
                "time": time.time(),
            }
            t0 = time.monotonic()
            with open(path, "a") as fh:
                fh.write(json.dumps(line) + "\n")
            while True:
                await asyncio.sleep(0.002)
                if (
                    st.epochs_done >= want
                    and app.plots.last_draw_versions.get(rid) == st.version
                    and renders
                    and renders[-1] > t0
                ):
                    out.append(renders[-1] - t0)
                    break
                if time.monotonic() - t0 > 5:
                    out.append(float("inf"))
                    break
    return out


def bench_latency(tmp: Path, live: int, hz: float, samples: int = 15) -> list[float]:
    """The probe run gets the timed epoch lines; ``live - 1`` others are written at ``hz``."""
    runs = tmp / f"lat-{live}"
    runs.mkdir()
    # Runs count as live while their pid is alive: this bench process stands in for the trainers.
    make_live_runs(runs, 1, os.getpid(), prefix="probe")
    others = make_live_runs(runs, live - 1, os.getpid()) if live > 1 else []
    writer = start_writer(runs, others, hz) if others else None
    try:
        return asyncio.run(_latency(runs, ["probe-00", *others], samples))
    finally:
        if writer is not None:
            writer.terminate()
            writer.wait()


# ---------------------------------------------------------------------- 3. CPU and memory


def bench_cpu(tmp: Path, live: int, hz: float, duration: float) -> dict[str, float]:
    import psutil

    runs = tmp / "cpu-runs"
    runs.mkdir()
    ids = make_live_runs(runs, live, os.getpid())
    writer = start_writer(runs, ids, hz)
    proc, master = spawn_in_pty(hw2_tui_cmd(runs), 120, 36, tui_env(runs))
    try:
        out, seen = drain(master, until=b"Configs", timeout=30)
        if seen is None:
            raise SystemExit(f"hw2-tui showed no frame in 30 s; it printed: {out[-2000:]!r}")
        drain(master, timeout=3.0)  # settle: plots mounted, first polls done
        p = psutil.Process(proc.pid)
        c0, t0, rss0 = p.cpu_times(), time.monotonic(), p.memory_info().rss
        nbytes = 0
        rss: list[int] = [rss0]
        while time.monotonic() - t0 < duration:
            buf, _ = drain(master, timeout=0.5)
            nbytes += len(buf)
            rss.append(p.memory_info().rss)
        c1, t1, rss1 = p.cpu_times(), time.monotonic(), p.memory_info().rss
        lines = 0
        for r in ids:
            with open(runs / r / "metrics.jsonl", "rb") as fh:
                lines += sum(1 for _ in fh)
    finally:
        stop_pty_app(proc, master)
        writer.terminate()
        writer.wait()
    wall = t1 - t0
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    return {
        "cpu_pct": 100 * cpu / wall,
        "wall_s": wall,
        "rss0_mb": rss0 / 2**20,
        "rss1_mb": rss1 / 2**20,
        "rss_mid_mb": rss[len(rss) // 2] / 2**20,
        "rss_q3_mb": rss[3 * len(rss) // 4] / 2**20,
        "out_kb_s": nbytes / 1024 / wall,
        "lines_written": lines,
    }


# ---------------------------------------------------------------------- main


def _fmt(ok: bool) -> str:
    return "OK  " if ok else "MISS"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=30.0, help="CPU/memory window in seconds")
    ap.add_argument("--runs", type=int, default=16)
    ap.add_argument("--hz", type=float, default=20.0)
    ap.add_argument("--samples", type=int, default=15)
    args = ap.parse_args()

    print(f"bench_tui: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="hw2-bench-tui-") as t:
        tmp = Path(t)
        cold, floor, widgets_floor = bench_cold_start(tmp)
        lat1 = bench_latency(tmp, 1, args.hz, args.samples)
        lat16 = bench_latency(tmp, args.runs, args.hz, args.samples)
        cpu = bench_cpu(tmp, args.runs, args.hz, args.duration)

    med = statistics.median

    def row(label: str, value: str, target: str = "", ok: bool | None = None) -> None:
        print(f"{label:46} {value:>30}  {target:9} {'' if ok is None else _fmt(ok)}")

    print()
    row("metric", "value", "target")
    if cold:
        row(
            "cold start -> first frame (hw2-tui, 80x24 pty)",
            f"median {med(cold):.2f} s (min {min(cold):.2f})",
            f"<= {TARGET_COLD_S} s",
            med(cold) <= TARGET_COLD_S,
        )
    else:
        row("cold start -> first frame", "no frame within 30 s", f"<= {TARGET_COLD_S} s", False)
    if floor:
        row(
            "  Textual's floor: a one-Label app, same way",
            f"median {med(floor):.2f} s (min {min(floor):.2f})",
        )
        if cold:
            row("  hw2-tui / floor", f"{med(cold) / med(floor):.2f}x")
    if widgets_floor:
        row(
            "  same with header, tree, table, footer",
            f"median {med(widgets_floor):.2f} s (min {min(widgets_floor):.2f})",
        )
    for n, lat, target in ((1, lat1, 1.0), (args.runs, lat16, TARGET_LATENCY_S)):
        row(
            f"metrics line -> plot redrawn, {n} live run(s)",
            f"median {med(lat):.2f} s, max {max(lat):.2f}",
            f"<= {target} s",
            max(lat) <= target,
        )
    row(
        f"TUI CPU, {args.runs} runs x {args.hz:g} Hz, {cpu['wall_s']:.0f} s",
        f"{cpu['cpu_pct']:.1f} % of one core",
        f"<= {TARGET_CPU_PCT:g} %",
        cpu["cpu_pct"] <= TARGET_CPU_PCT,
    )
    # Bounded: little growth over the last half of the window (the first part includes warm-up).
    grow = cpu["rss1_mb"] - cpu["rss_mid_mb"]
    row(
        "TUI memory RSS (start, 1/2, 3/4, end)",
        f"{cpu['rss0_mb']:.0f}, {cpu['rss_mid_mb']:.0f}, {cpu['rss_q3_mb']:.0f}, {cpu['rss1_mb']:.0f} MiB",
        "bounded",
        grow < 4,
    )
    row("terminal output", f"{cpu['out_kb_s']:.1f} KiB/s")
    row("metric lines written during the run", f"{int(cpu['lines_written'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
