"""Start-up cost of the CNN trainer's torch-internals shortcuts (issue 16 §6).

``trainers/cnn.py`` has two shortcuts that touch private torch state to save start-up time:
``skip_lazy_dynamo_import`` (torch.optim's eager-only methods without importing
``torch._dynamo``) and ``eager_step`` (``optimizer.step`` without the per-call dynamo import of its
wrapper). This measures what they buy today: wall time from process launch to the first epoch line
of a real ``python -m trainers.cnn`` run, with the shortcuts (the trainer as shipped) and without
them (the same trainer started through this script's ``--plain`` mode, which replaces both with
torch's own path before training), alternating A/B so both see the same machine load.

The run is the base net on a small CIFAR-10 subset (one short epoch), so start-up dominates.

Usage::

    python bench/bench_startup.py                  # 5 alternating runs each
    python bench/bench_startup.py --runs 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _plain_main(argv: list[str]) -> int:
    """The trainer with both shortcuts replaced by torch's own path."""
    sys.path.insert(0, str(ROOT))
    from trainers import cnn
    from trainers.common import main

    cnn.skip_lazy_dynamo_import = lambda: 0  # type: ignore[assignment]
    cnn.eager_step = lambda optimizer: optimizer.step  # type: ignore[assignment]
    return main(cnn.train, framework_versions=cnn.framework_versions, argv=argv)


def _first_epoch_seconds(kind: str, tmp: Path, i: int, data_dir: str | None) -> float:
    import yaml

    cfg = {
        "name": "startup",
        "trainer": "cnn",
        "model": {"name": "base"},
        "data": {"subset": 2000, "test_subset": 500, "val_split": 0.1},
        "optimizer": {"name": "momentum", "lr": 0.02},
        "train": {"epochs": 1, "batch_size": 64},
        "perf": {"threads": 1, "device": "cpu"},
    }
    cfg_path = tmp / f"{kind}-{i}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    run_dir = tmp / f"{kind}-{i}"
    args = ["--config", str(cfg_path), "--run-dir", str(run_dir)]
    if data_dir:
        args += ["--data-dir", data_dir]
    cmd = (
        [sys.executable, "-m", "trainers.cnn", *args]
        if kind == "shortcuts"
        else [sys.executable, __file__, "--plain-run", *args]
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.time()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = run_dir / "metrics.jsonl"
    try:
        while proc.poll() is None or metrics.exists():
            if metrics.exists():
                for line in metrics.read_text(encoding="utf-8").splitlines():
                    try:
                        entry = json.loads(line)
                    except ValueError:  # a line still being written
                        continue
                    if entry.get("type") == "epoch":
                        return entry["time"] - t0
            if proc.poll() is not None:
                break
            time.sleep(0.02)
    finally:
        proc.wait(timeout=120)
    raise RuntimeError(f"{kind} run {i} wrote no epoch line (exit {proc.returncode}); see {run_dir}")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--plain-run":
        return _plain_main(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="runs of each kind, alternating (default 5)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args()
    times: dict[str, list[float]] = {"shortcuts": [], "plain": []}
    with tempfile.TemporaryDirectory() as tmp:
        _first_epoch_seconds("shortcuts", Path(tmp), -1, args.data_dir)  # warm the decode cache
        for i in range(args.runs):
            for kind in ("shortcuts", "plain") if i % 2 == 0 else ("plain", "shortcuts"):
                times[kind].append(_first_epoch_seconds(kind, Path(tmp), i, args.data_dir))
                print(f"{kind:9s} run {i}: launch to first epoch {times[kind][-1]:.2f} s", flush=True)
    s, pl = times["shortcuts"], times["plain"]
    gain = statistics.median(pl) - statistics.median(s)
    spread = max(max(s) - min(s), max(pl) - min(pl))
    print(
        f"\nlaunch to first epoch, median of {args.runs}: with shortcuts {statistics.median(s):.2f} s "
        f"(min {min(s):.2f}, max {max(s):.2f}); without {statistics.median(pl):.2f} s "
        f"(min {min(pl):.2f}, max {max(pl):.2f}); gain {gain:+.2f} s; largest spread within a kind "
        f"{spread:.2f} s; load average {os.getloadavg()[0]:.2f}"
    )
    verdict = "within noise" if abs(gain) <= spread else "above noise"
    print(f"verdict: the gain is {verdict}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"times": times, "gain_s": gain, "spread_s": spread, "verdict": verdict})
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
