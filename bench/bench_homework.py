"""The whole homework study set through the real CLI and scheduler: wall time from sweep to last result.

    python bench/bench_homework.py [--repeat N] [--epochs N] [--subset N] [--test-subset N]
                                   [--studies GLOB] [--cpu-slots K] [--slots-per-gpu 1,2,4,8]
                                   [--runs-dir DIR] [--data-dir D] [--out FILE]

Every shipped study (``configs/studies/*.yaml``, or those matching ``--studies``) is queued with
``hw2-tui sweep STUDY --repeat N --yes --detach`` (``--repeat``, default 1) into one runs folder
(a fresh temporary one, or ``--runs-dir``: then ``hw2-tui report --all`` can read it afterwards),
one study after the other. Run identities keep twins apart: the base net of 2.2.2 is the ``relu``,
``max-pool`` and ``base`` arm of 2.2.3-2.2.5 too, and runs once per seed, and the script waits until every run of the set has a final status. It prints
what was capped (the ``--set`` overrides passed to every sweep), per study the number of runs, when
its last run ended (seconds after the first sweep) and the sum of its runs' own seconds, and the
total wall time from the first sweep to the last result. The scheduler runs ``--cpu-slots`` runs at
once without a GPU (``$HW2_CPU_SLOTS``); with a GPU the whole set is run once per packing given
by ``--slots-per-gpu`` (``$HW2_SLOTS_PER_GPU``, a fresh runs folder each time).

Caps: ``--epochs N`` is ``--set train.epochs=N``, ``--subset N`` is ``--set data.subset=N`` (training
examples, before the validation split), ``--test-subset N`` is ``--set data.test_subset=N``; 0 or
unset leaves the studies' own values. ``--out`` appends one JSON object per set to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hw2 import contract  # noqa: E402


def cli(runs_dir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hw2.cli", "--runs-dir", str(runs_dir), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def run_set(
    studies: list[Path],
    overrides: list[str],
    env: dict[str, str],
    data_dir: str | None,
    timeout_s: float,
    repeat: int = 1,
    runs_dir: Path | None = None,
) -> dict[str, Any]:
    runs_dir = runs_dir or Path(tempfile.mkdtemp(prefix="hw2-bench-homework-"))
    per_study: dict[str, list[str]] = {}
    sets = [a for o in overrides for a in ("--set", o)]
    extra = ["--data-dir", data_dir] if data_dir else []
    t0 = time.time()
    for study in studies:
        before = {d.name for d in contract.list_run_dirs(runs_dir)}
        proc = cli(
            runs_dir,
            *extra,
            "sweep",
            str(study),
            "--repeat",
            str(repeat),
            "--yes",
            "--detach",
            *sets,
            env=env,
        )
        if proc.returncode != 0:
            raise SystemExit(
                f"sweep {study.name} failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}"
            )
        per_study[study.stem] = sorted(
            d.name for d in contract.list_run_dirs(runs_dir) if d.name not in before
        )
    queued_s = time.time() - t0
    all_ids = [rid for ids in per_study.values() for rid in ids]
    finished = False
    while time.time() - t0 < timeout_s:
        metas = [contract.read_meta(runs_dir / rid) for rid in all_ids]
        if all(m is not None and m.status in contract.FINAL_STATUSES for m in metas):
            finished = True
            break
        time.sleep(1.0)
    wall = time.time() - t0
    if not finished:
        cli(runs_dir, "scheduler", "stop", env=env)
        for rid in all_ids:
            cli(runs_dir, "kill", rid, env=env)
    rows = []
    for name, ids in per_study.items():
        metas = [contract.read_meta(runs_dir / rid) for rid in ids]
        ended = [m.ended for m in metas if m and m.ended]
        statuses = [m.status if m else "?" for m in metas]
        rows.append(
            {
                "study": name,
                "runs": len(ids),
                "last_result_s": round(max(ended) - t0, 1) if ended else None,
                "run_seconds": round(
                    sum(m.ended - m.started for m in metas if m and m.started and m.ended), 1
                ),
                "statuses": {s: statuses.count(s) for s in sorted(set(statuses))},
            }
        )
    return {
        "runs_dir": str(runs_dir),
        "runs": len(all_ids),
        "queue_s": round(queued_s, 1),
        "wall_s": round(wall, 1),
        "finished": finished,
        "studies": rows,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=1, help="seeds per variant (hw2-tui sweep --repeat)")
    p.add_argument(
        "--runs-dir", type=Path, default=None, help="runs folder to fill (default: a fresh temporary one)"
    )
    p.add_argument("--epochs", type=int, default=0, help="cap: train.epochs for every run (0: the studies')")
    p.add_argument("--subset", type=int, default=0, help="cap: data.subset (training examples; 0: all)")
    p.add_argument("--test-subset", type=int, default=0, help="cap: data.test_subset (0: all)")
    p.add_argument("--studies", default="*", help="glob inside configs/studies (default: every study)")
    p.add_argument("--cpu-slots", type=int, default=1, help="$HW2_CPU_SLOTS: runs at once without a GPU")
    p.add_argument("--slots-per-gpu", default="1", help="comma list of $HW2_SLOTS_PER_GPU values (GPU only)")
    p.add_argument("--data-dir", default=None, help="dataset folder (default: the trainers' own search)")
    p.add_argument("--timeout-s", type=float, default=3600, help="per set; unfinished runs are killed")
    p.add_argument("--out", type=Path, default=None, help="append one JSON object per set to this file")
    args = p.parse_args(argv)

    studies = sorted((ROOT / "configs" / "studies").glob(f"{args.studies}.yaml"))
    if not studies:
        raise SystemExit(f"--studies {args.studies!r}: no study in configs/studies matches")
    overrides = []
    if args.epochs:
        overrides.append(f"train.epochs={args.epochs}")
    if args.subset:
        overrides.append(f"data.subset={args.subset}")
    if args.test_subset:
        overrides.append(f"data.test_subset={args.test_subset}")
    from hw2 import gpu

    n_gpus = gpu.gpu_count()
    packings = [int(k) for k in args.slots_per_gpu.split(",")] if n_gpus else [0]
    print(f"studies: {', '.join(s.stem for s in studies)} (repeat {args.repeat})")
    print(f"capped: {' '.join(overrides) or 'nothing (the studies as shipped)'}")
    print(f"machine: {n_gpus} GPU(s), {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}")
    for k in packings:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "HW2_CPU_SLOTS": str(args.cpu_slots),
            "HW2_SCHEDULER_IDLE": "1",
        }
        if k:
            env["HW2_SLOTS_PER_GPU"] = str(k)
        label = f"{k} runs per GPU" if k else f"CPU, {args.cpu_slots} run(s) at once"
        runs_dir = args.runs_dir / (f"{k}-per-gpu" if len(packings) > 1 else "") if args.runs_dir else None
        res = run_set(studies, overrides, env, args.data_dir, args.timeout_s, args.repeat, runs_dir)
        res.update(packing=label, capped=overrides, date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
        print(f"\n== {label}: {res['runs']} runs, queued in {res['queue_s']}s")
        print("(runs: those a study added; a twin of an earlier study's run is not queued twice)")
        print(f"{'study':<28} {'runs':>4} {'last result s':>14} {'sum of run s':>13}  statuses")
        for r in res["studies"]:
            print(
                f"{r['study']:<28} {r['runs']:>4} {r['last_result_s'] or '-':>14} {r['run_seconds']:>13}  "
                f"{r['statuses']}"
            )
        verdict = "finished" if res["finished"] else f"NOT finished (timeout {args.timeout_s:.0f}s)"
        print(f"total wall, first sweep to last result: {res['wall_s']}s ({verdict})")
        if args.out:
            with args.out.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
