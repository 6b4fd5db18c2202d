"""MLP speed benchmark (issue 5, benchmark 3): Keras backends and XLA on the real MNIST.

The default MLP recipe (``configs/mlp/baseline.yaml``) is trained by the real trainer,
``python -m trainers.mlp``, once per variant, each in its own process (Keras fixes its backend when
it is imported, so a backend cannot be switched inside one process):

* ``tf``      TensorFlow backend, ``perf.jit_compile: false`` (plain tf.function graphs)
* ``tf-xla``  TensorFlow backend, ``perf.jit_compile: true`` (XLA-compiled train/eval steps)
* ``torch``   torch backend (Keras runs it eagerly; ``jit_compile`` ``auto`` means eager there)

Printed per variant: the first epoch's seconds (tracing / XLA compilation land there), the mean of
epochs 2..N (the steady state, what a long run costs per epoch), that mean relative to the
default, the fastest of epochs 2..N (robust to a busy machine), the start-up time (launch to the first epoch starting: imports, data, model build), the
test accuracy, and the device. The shipped default is ``keras_backend: tensorflow`` with
``jit_compile: auto``; which variant that is on this machine (Keras turns XLA on only when a GPU is
visible) and why it is the default are printed underneath.

Usage::

    python bench/bench_mlp.py                        # 3 epochs per variant on the full data
    python bench/bench_mlp.py --epochs 5 --data-dir ../shared/data
    python bench/bench_mlp.py --subset 10000 --epochs 2   # a quick smoke check
    python bench/bench_mlp.py --only tf torch --json out.json

Timings on a shared machine move with its load: the 1-minute load average is printed with them.
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
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hw2 import contract  # noqa: E402
from hw2.config import load_experiment  # noqa: E402

VARIANTS: dict[str, dict[str, Any]] = {
    "tf": {"perf.keras_backend": "tensorflow", "perf.jit_compile": False},
    "tf-xla": {"perf.keras_backend": "tensorflow", "perf.jit_compile": True},
    "torch": {"perf.keras_backend": "torch", "perf.jit_compile": False},
}


def run_variant(
    name: str,
    config: Path,
    epochs: int,
    data_dir: str | None,
    subset: int | None,
    extra: list[str],
    workdir: Path,
    timeout: float,
) -> dict[str, Any]:
    """Train one variant as a real trainer subprocess; returns its timings and result."""
    overrides = [f"train.epochs={epochs}", *(f"{k}={str(v).lower()}" for k, v in VARIANTS[name].items())]
    if subset:
        overrides.append(f"data.subset={subset}")
    cfg = load_experiment(config, [*overrides, *extra])
    cfg_path = workdir / f"{name}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    run_dir = workdir / f"run-{name}"
    cmd = [sys.executable, "-m", "trainers.mlp", "--config", str(cfg_path), "--run-dir", str(run_dir)]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    env = {**os.environ, "HW2_LOG_REDIRECTED": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    t0 = time.time()
    with open(workdir / f"{name}.out", "wb") as out:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    wall = time.time() - t0
    epochs_lines = [m for m in contract.iter_metrics(run_dir / contract.METRICS_FILE) if m["type"] == "epoch"]
    result = contract.read_result(run_dir) or {}
    meta = contract.read_meta(run_dir)
    row: dict[str, Any] = {
        "variant": name,
        "exit_code": proc.returncode,
        "wall_seconds": wall,
        "epoch_seconds": [e["seconds"] for e in epochs_lines],
        "test_acc": result.get("test_acc"),
        "jit_compile": result.get("jit_compile"),
        "backend": result.get("backend"),
        "device": result.get("device") or (meta.device if meta else None),
        "params": result.get("params"),
    }
    if epochs_lines:
        # first epoch line time - its duration = when training started; minus launch = start-up
        row["startup_seconds"] = epochs_lines[0]["time"] - epochs_lines[0]["seconds"] - t0
    if proc.returncode != 0:
        tail = (workdir / f"{name}.out").read_text(errors="replace")[-1500:]
        row["error"] = (meta.error if meta else None) or tail
    return row


def steady(row: dict[str, Any]) -> float | None:
    """Mean epoch time over epochs 2..N (None with fewer than 2 epochs)."""
    secs = row["epoch_seconds"]
    return statistics.fmean(secs[1:]) if len(secs) >= 2 else None


def default_variant(rows: list[dict[str, Any]]) -> str:
    """The variant the shipped default (tensorflow, jit_compile auto) resolves to on this machine."""
    on_gpu = any(str(r.get("device") or "").startswith("cuda") for r in rows)
    return "tf-xla" if on_gpu else "tf"


def print_table(rows: list[dict[str, Any]], epochs: int) -> None:
    default = default_variant(rows)
    base = next((steady(r) for r in rows if r["variant"] == default), None)
    head = (
        f"{'variant':<8} {'backend':<10} {'xla':<5} {'epoch 1 s':>9} {f'ep 2..{epochs} s':>10} "
        f"{'min 2.. s':>9} {'vs default':>10} {'start-up s':>10} {'test acc':>8}  device"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        if r["exit_code"] != 0:
            print(
                f"{r['variant']:<8} FAILED (exit {r['exit_code']}): {str(r.get('error', '')).splitlines()[-1:]}"
            )
            continue
        mean = steady(r)
        first = r["epoch_seconds"][0] if r["epoch_seconds"] else float("nan")
        ratio = f"{mean / base:.2f}x" if mean and base else "-"
        fastest = f"{min(r['epoch_seconds'][1:]):.2f}" if mean else "-"
        mark = " *" if r["variant"] == default else ""
        print(
            f"{r['variant'] + mark:<8} {r['backend']:<10} {str(r['jit_compile']):<5} {first:>9.2f} "
            f"{(f'{mean:.2f}' if mean else '-'):>10} {fastest:>9} {ratio:>10} {r.get('startup_seconds', float('nan')):>10.1f} "
            f"{r['test_acc']:>8.4f}  {r['device']}"
        )
    print()
    print(
        f"* = the shipped default on this machine: keras_backend tensorflow, jit_compile auto -> {default}."
    )
    for line in why_default(rows):
        print(line)


def why_default(rows: list[dict[str, Any]]) -> list[str]:
    """The reasons for the default, with this run's own numbers where it has them."""
    by = {r["variant"]: r for r in rows if r["exit_code"] == 0}
    out = [
        "Why: TensorFlow is Keras' reference backend (the homework's), and jit_compile 'auto' lets Keras",
        "decide XLA: on when a GPU is visible (fused kernels), off on CPU-only hosts.",
    ]
    tf, xla, torch = by.get("tf"), by.get("tf-xla"), by.get("torch")
    tf_s, xla_s, torch_s = (steady(r) if r else None for r in (tf, xla, torch))
    if tf and xla and tf_s and xla_s:
        compile_s = xla["epoch_seconds"][0] - tf["epoch_seconds"][0]
        out.append(
            f"Measured here: XLA's steady epoch is {xla_s / tf_s:.2f}x the plain graph's "
            f"and its first epoch costs {compile_s:+.1f} s more (compilation)."
        )
    if tf_s and torch_s:
        out.append(
            f"The torch backend (Keras runs it eagerly, op by op) takes {torch_s / tf_s:.2f}x "
            "the TensorFlow epoch: an option, not the default."
        )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=3, help="epochs per variant (>= 2 for a steady-state mean)")
    p.add_argument("--data-dir", default=None, help="folder holding mnist/ (default: the usual resolution)")
    p.add_argument("--config", type=Path, default=ROOT / "configs" / "mlp" / "baseline.yaml")
    p.add_argument("--only", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--subset", type=int, default=None, help="train on this many images (quick check)")
    p.add_argument("--set", dest="extra", action="append", default=[], help="extra key=value override")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per variant")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be >= 1")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"MLP benchmark: {args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config}, "
        f"{args.epochs} epochs per variant{f', subset {args.subset}' if args.subset else ''}; "
        f"{os.cpu_count()} CPUs, load average {load:.2f}",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-mlp-") as tmp:
        for name in args.only:
            print(f"  running {name} ...", flush=True)
            row = run_variant(
                name,
                args.config,
                args.epochs,
                args.data_dir,
                args.subset,
                args.extra,
                Path(tmp),
                args.timeout,
            )
            secs = ", ".join(f"{s:.2f}" for s in row["epoch_seconds"])
            print(
                f"    exit {row['exit_code']}, epochs [{secs}] s, wall {row['wall_seconds']:.1f} s",
                flush=True,
            )
            rows.append(row)
    print()
    print_table(rows, args.epochs)
    if args.json:
        args.json.write_text(json.dumps({"epochs": args.epochs, "load": load, "rows": rows}, indent=2))
    return 0 if all(r["exit_code"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
