"""``python -m trainers.data check``: find, decode (or load from the cache) and summarise the
datasets."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from trainers.data.api import load
from trainers.data.base import _TITLES, NUM_CLASSES, DataError, LoadResult
from trainers.data.download import _offline


def _describe(res: LoadResult) -> dict[str, Any]:
    a, info = res
    return {
        "dataset": info.dataset,
        "ok": True,
        "source": str(info.source) if info.source else None,
        "format": info.format,
        "origin": info.origin,
        "x_train": list(a.x_train.shape),
        "x_test": list(a.x_test.shape),
        "dtype": str(a.x_train.dtype),
        "train_counts": np.bincount(a.y_train, minlength=NUM_CLASSES).tolist(),
        "test_counts": np.bincount(a.y_test, minlength=NUM_CLASSES).tolist(),
        "cache": str(info.cache_path) if info.cache_path else None,
        "from_cache": info.from_cache,
        "seconds": round(info.seconds, 3),
        "decode_seconds": None if info.decode_seconds is None else round(info.decode_seconds, 3),
        "notes": info.notes,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainers.data", description="Check the local datasets.")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="find, decode (or load from cache) and summarise the datasets")
    c.add_argument(
        "--data-dir", default=None, help="data folder (default: $HW2_DATA_DIR, ./data, ../shared/data)"
    )
    c.add_argument(
        "--cache-dir", default=None, help="decode cache (default: $HW2_CACHE_DIR or ~/.cache/hw2-tui)"
    )
    c.add_argument("--dataset", choices=("mnist", "cifar10", "all"), default="all")
    c.add_argument("--no-download", action="store_true", help="never fall back to a framework downloader")
    c.add_argument("--json", action="store_true", help="print one JSON object per dataset")
    args = p.parse_args(argv)

    if args.dataset == "all" and not args.no_download and not _offline():
        return _check_each_in_own_process(args)
    datasets = ["mnist", "cifar10"] if args.dataset == "all" else [args.dataset]
    rc = 0
    for ds in datasets:
        try:
            res = load(ds, args.data_dir, args.cache_dir, download=False if args.no_download else None)
        except DataError as e:
            rc = 1
            if args.json:
                print(json.dumps({"dataset": ds, "ok": False, "error": str(e)}))
            else:
                print(f"{_TITLES[ds]}: error: {e}")
            continue
        d = _describe(res)
        if args.json:
            print(json.dumps(d))
            continue
        how = "cache hit" if d["from_cache"] else f"decoded in {d['decode_seconds']:.1f}s"
        print(f"{_TITLES[ds]}: {d['format']} at {d['source'] or 'framework download'} (from {d['origin']})")
        print(f"  train {tuple(d['x_train'])} test {tuple(d['x_test'])} {d['dtype']}")
        print(f"  train per class {' '.join(map(str, d['train_counts']))}")
        print(f"  test per class  {' '.join(map(str, d['test_counts']))}")
        print(f"  cache {d['cache'] or '(none)'} ({how}; load {d['seconds']:.2f}s)")
        for note in d["notes"]:
            print(f"  note: {note}")
    return rc


def _check_each_in_own_process(args: argparse.Namespace) -> int:
    """Check MNIST and CIFAR-10 in separate child processes.

    Why: the last-resort downloaders import keras (TensorFlow) for MNIST and torchvision for
    CIFAR-10, and importing torchvision into a process that already loaded TensorFlow segfaults
    (seen with TF 2.21 + torch 2.x): one process per dataset never loads both.
    """
    import subprocess

    rc = 0
    for ds in ("mnist", "cifar10"):
        cmd = [sys.executable, "-m", "trainers.data", "check", "--dataset", ds]
        for flag, value in (("--data-dir", args.data_dir), ("--cache-dir", args.cache_dir)):
            if value:
                cmd += [flag, str(value)]
        if args.json:
            cmd.append("--json")
        sys.stdout.flush()
        code = subprocess.run(cmd, check=False).returncode
        if code < 0:
            print(f"{_TITLES[ds]}: error: the check crashed (signal {-code})")
        rc = rc or (1 if code else 0)
    return rc
