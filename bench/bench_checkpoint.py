"""What the end-of-epoch checkpoint costs (issue 18 §2): seconds per write against seconds per epoch.

Trains each shipped CNN config (``configs/cnn/base.yaml``, ``configs/cnn/regularized.yaml``, on a
seeded subset of the real CIFAR-10) and the tuned MLP (``configs/mlp/tuned.yaml``, on MNIST), each
in a process of its own, for a few epochs on the CPU, and reads the
trainer's own figures: each epoch line's ``seconds`` (the epoch's training and validation, the
checkpoint not included), the result's ``checkpoint_seconds`` (the epoch loop's time in
``save_checkpoint``: serialising ``checkpoint.pt``, and ``best.pt`` when the epoch was the best,
to memory and handing the bytes to the background writer, plus any wait for the previous write)
and ``checkpoint_write_seconds`` (the writer thread's time: the files written and fsync-ed while
the next epoch trains). The cost to training is the first; the second is shown for the record.

A checkpoint's cost does not depend on the subset (its size is the model's and the optimizer's),
an epoch's grows with it, so the share is also given for a full epoch (45 000 training images at
``data.val_split: 0.1``), extrapolated linearly from the subset's epoch.

Usage::

    python bench/bench_checkpoint.py                         # subset 2000, 3 epochs, 1 thread
    python bench/bench_checkpoint.py --subset 5000 --epochs 2 --threads 2

Data: ``--data-dir`` or the usual resolution (``$HW2_DATA_DIR``, ./data, ../shared/data).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hw2 import contract  # noqa: E402
from hw2.config import load_experiment  # noqa: E402
from hw2.schema import ExperimentConfig  # noqa: E402

CONFIGS = ("configs/cnn/base.yaml", "configs/cnn/regularized.yaml", "configs/mlp/tuned.yaml")
"""Each measured in a process of its own (TensorFlow and torch are never loaded together)."""
TARGET = 0.03  # of an epoch


def measure(config: str, subset: int, epochs: int, threads: int, data_dir: str | None) -> dict[str, Any]:
    from trainers import checkpoint as ckpt
    from trainers.common import RunContext

    d = load_experiment(ROOT / config).model_dump(mode="json")
    d["data"]["subset"] = subset
    d["data"]["test_subset"] = min(1000, subset)
    d["train"]["epochs"] = epochs
    d["train"]["early_stopping"]["enabled"] = False
    d["perf"]["threads"] = threads
    cfg = ExperimentConfig.model_validate(d)
    mlp = cfg.trainer == "mlp"
    full_train = round((60_000 if mlp else 50_000) * (1 - cfg.data.val_split))
    if mlp:
        from trainers import mlp as trainer

        files = (ckpt.KERAS_CHECKPOINT, ckpt.KERAS_BEST)
    else:
        from trainers import cnn as trainer  # type: ignore[no-redef]

        files = (ckpt.TORCH_CHECKPOINT, ckpt.TORCH_BEST)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        contract.write_meta(run_dir, contract.RunMeta(run_id="bench", name="bench", status="running"))
        metrics = contract.MetricsWriter(run_dir / contract.METRICS_FILE)
        ctx = RunContext(
            cfg=cfg, run_dir=run_dir, metrics=metrics, log=logging.getLogger("bench"), data_dir=data_dir
        )
        try:
            result = trainer.train(ctx)
        finally:
            metrics.close()
        epoch_s = [
            e["seconds"]
            for e in contract.iter_metrics(run_dir / contract.METRICS_FILE)
            if e["type"] == "epoch"
        ]
        sizes = {name: (run_dir / name).stat().st_size for name in files}
    per_write = result["checkpoint_seconds"] / result["epochs_run"]
    background = result["checkpoint_write_seconds"] / result["epochs_run"]
    per_epoch = statistics.median(epoch_s)
    full_epoch = per_epoch * full_train / result["n_train"]
    return {
        "config": config,
        "n_train": result["n_train"],
        "params": result["params"],
        "write_s": per_write,
        "background_s": background,
        "epoch_s": per_epoch,
        "share": per_write / per_epoch,
        "full_epoch_s": full_epoch,
        "full_share": per_write / full_epoch,
        "sizes": sizes,
    }


def report(r: dict[str, Any], epochs: int) -> str:
    sizes = ", ".join(f"{k} {v / 2**20:.2f} MiB" for k, v in r["sizes"].items())
    return (
        f"{r['config']}: {r['params']:,} params; checkpoint {r['write_s'] * 1000:.1f} ms on the "
        f"training thread (mean of {epochs}; writer thread {r['background_s'] * 1000:.1f} ms "
        f"beside training), epoch {r['epoch_s']:.2f} s on {r['n_train']} images (median) "
        f"-> {100 * r['share']:.2f} % of an epoch; full epoch ~{r['full_epoch_s']:.0f} s "
        f"(extrapolated) -> {100 * r['full_share']:.3f} %; {sizes}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subset", type=int, default=2000, help="training images drawn (default 2000)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per config (default 3)")
    p.add_argument("--threads", type=int, default=1, help="perf.threads (default 1)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--config", default=None, help="measure this config only, in this process")
    args = p.parse_args()
    if args.config:  # one config, its share printed last as JSON for the parent
        r = measure(args.config, args.subset, args.epochs, args.threads, args.data_dir)
        print(report(r, args.epochs), flush=True)
        print(json.dumps({"share": r["share"]}))
        return 0
    worst = 0.0
    for config in CONFIGS:
        argv = [sys.executable, __file__, "--config", config, "--subset", str(args.subset)]
        argv += ["--epochs", str(args.epochs), "--threads", str(args.threads)]
        if args.data_dir:
            argv += ["--data-dir", args.data_dir]
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip().splitlines()
        print(out[-2], flush=True)
        worst = max(worst, json.loads(out[-1])["share"])
    verdict = "under" if worst < TARGET else "OVER"
    print(
        f"worst share on the subset {100 * worst:.2f} %: {verdict} the {100 * TARGET:.0f} % target; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
