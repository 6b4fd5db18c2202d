"""The sections of ``bench/gpu_check.sh``: CNN speed on a GPU, one time-boxed section per call.

    python bench/gpu_bench.py SECTION --data-dir D --out DIR --budget-s S [--tiny]

Each section appends one JSON object per measurement to ``DIR/results.jsonl`` as soon as it has
it (a section killed at its time box keeps what it measured) and prints a human line. Sections:

* ``warm``    decode CIFAR-10 into the cache once (every later process reads the cache).
* ``epochs``  base CNN epoch time at batch 4 (the tutorial's) and at the default batch (base.yaml),
              and GPU-resident data vs data on the host (pinned, copied per batch).
* ``knobs``   bf16 autocast, channels_last and torch.compile on/off (deeper net, default recipe).
* ``pack``    1, 2, 4 and 8 small runs at once on one GPU, each a real ``python -m trainers.cnn``
              subprocess: wall time and runs/hour against one at a time.
* ``study``   wall time of the CNN homework study set (configs/studies/2.2.*) with packing, through
              the project's own queue + scheduler daemon (``HW2_SLOTS_PER_GPU``), else a local pool.
* ``summary`` the table of everything measured.

``--tiny`` (the CPU dry run) shrinks every section to a 2 000-image subset and one epoch, so the
whole script is known to work before its one real run on the device.

``epochs`` and ``knobs`` call :func:`trainers.cnn.train` in-process (one torch import, data from
the cache) with a real run folder; timings are the trainer's own epoch ``seconds``. Epoch 1 pays
cuDNN autotuning / compilation, so steady-state figures are epoch 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hw2 import contract  # noqa: E402
from hw2.config import expand_study, load_experiment  # noqa: E402

TINY = ["data.subset=2000", "data.test_subset=500"]
BASE = ROOT / "configs/cnn/base.yaml"
STUDIES = sorted((ROOT / "configs/studies").glob("2.2.*.yaml"))


class Section:
    """Results file + deadline of one section."""

    def __init__(self, name: str, out: Path, budget_s: float, tiny: bool, data_dir: str | None) -> None:
        self.name, self.out, self.tiny, self.data_dir = name, out, tiny, data_dir
        self.t0 = time.monotonic()
        self.deadline = self.t0 + budget_s
        out.mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def record(self, **fields: Any) -> None:
        fields = {"section": self.name, "tiny": self.tiny, **fields}
        with open(self.out / "results.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(fields, default=str) + "\n")

    def say(self, text: str) -> None:
        print(f"[{self.name} {time.monotonic() - self.t0:6.1f}s] {text}", flush=True)


# ------------------------------------------------------------------------------ in-process runs


def _cfg(config: Path, overrides: list[str], tiny: bool) -> Any:
    return load_experiment(config, overrides + (TINY if tiny else []))


def train_in_process(sec: Section, label: str, config: Path, overrides: list[str]) -> dict[str, Any] | None:
    """One ``trainers.cnn.train`` call in this process; records its epoch times."""
    from trainers import cnn
    from trainers.common import RunContext

    cfg = _cfg(config, overrides, sec.tiny)
    run_dir = Path(tempfile.mkdtemp(prefix=f"gpu-{label}-"))
    contract.write_meta(run_dir, contract.RunMeta(run_id=run_dir.name, name=label, status="running"))
    metrics = contract.MetricsWriter(run_dir / contract.METRICS_FILE)
    log = logging.getLogger(f"gpu.{label}")
    ctx = RunContext(cfg=cfg, run_dir=run_dir, metrics=metrics, log=log, data_dir=sec.data_dir)
    t = time.time()
    try:
        result = cnn.train(ctx)
    except Exception as exc:  # one failing variant must not hide the others
        sec.say(f"{label}: FAILED {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
        sec.record(label=label, error=f"{type(exc).__name__}: {exc}"[:1000], overrides=overrides)
        return None
    finally:
        metrics.close()
    epochs = [x for x in contract.iter_metrics(run_dir / contract.METRICS_FILE) if x["type"] == "epoch"]
    secs = [round(e["seconds"], 3) for e in epochs]
    steps = -(-result["n_train"] // cfg.train.batch_size)
    steady = secs[-1]
    sec.record(
        label=label,
        overrides=overrides,
        epoch_seconds=secs,
        steady_epoch_s=steady,
        step_ms=1000 * steady / steps,
        steps_per_epoch=steps,
        test_acc=result["test_acc"],
        peak_mem_mb=result["peak_mem_mb"],
        device=result["device"],
        wall_s=time.time() - t,
    )
    sec.say(
        f"{label}: epochs {secs} s (steady {steady:.2f}s, {1000 * steady / steps:.3f} ms/step x {steps}), "
        f"test acc {result['test_acc']:.3f}, peak {result['peak_mem_mb']:.0f} MB"
    )
    return result


def section_warm(sec: Section) -> None:
    from trainers.data import load

    res = load("cifar10", sec.data_dir)
    info = res.info
    sec.record(
        label="cache", seconds=info.seconds, decode_seconds=info.decode_seconds, from_cache=info.from_cache
    )
    sec.say(
        f"CIFAR-10 ready in {info.seconds:.1f}s (decoded: {info.decode_seconds}, cache {info.cache_path})"
    )
    import torch

    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        sec.record(label="gpu", name=p.name, mem_gb=p.total_memory / 2**30, torch=torch.__version__)
        sec.say(f"GPU {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}")
    else:
        sec.say(f"no CUDA GPU: running on CPU (torch {torch.__version__})")


def section_epochs(sec: Section) -> None:
    plan = [
        # (label, overrides, rough seconds needed on an H100 - skip when less is left)
        ("base-default-batch-gpu-data", ["train.epochs=2"], 20),
        ("base-default-batch-host-data", ["train.epochs=2", "perf.data_on_device=false"], 20),
        ("base-b4-gpu-data", ["train.epochs=1", "train.batch_size=4"], 40),
    ]
    for label, overrides, need in plan:
        if sec.left() < need and not sec.tiny:
            sec.say(f"{label}: skipped, {sec.left():.0f}s left in the time box")
            sec.record(label=label, skipped=True)
            continue
        train_in_process(sec, label, BASE, overrides)


def section_knobs(sec: Section) -> None:
    import torch

    on_gpu = torch.cuda.is_available()
    common = ["model.name=deeper", "train.epochs=2"]
    plan = [
        ("deeper-fp32", []),
        ("deeper-bf16", ["perf.amp=true"]),
        ("deeper-channels_last", ["perf.channels_last=true"]),
        ("deeper-bf16-channels_last", ["perf.amp=true", "perf.channels_last=true"]),
        ("deeper-compile", ["perf.compile=true"]),
        (
            "deeper-compile-bf16-channels_last",
            ["perf.compile=true", "perf.amp=true", "perf.channels_last=true"],
        ),
        ("base-compile", ["model.name=base", "perf.compile=true"]),
    ]
    for label, extra in plan:
        compiling = "perf.compile=true" in extra
        if compiling and not on_gpu:
            sec.say(f"{label}: skipped (torch.compile is only measured on the GPU)")
            sec.record(label=label, skipped=True, reason="no GPU")
            continue
        need = 60 if compiling else 15
        if sec.left() < need and not sec.tiny:
            sec.say(f"{label}: skipped, {sec.left():.0f}s left in the time box")
            sec.record(label=label, skipped=True)
            continue
        train_in_process(sec, label, BASE, common + extra)


# ------------------------------------------------------------------------------ subprocess runs


def _write_cfg(cfg: Any, path: Path) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return path


def _launch(cfg_path: Path, run_dir: Path, data_dir: str | None) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "trainers.cnn", "--config", str(cfg_path), "--run-dir", str(run_dir)]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    log = open(run_dir.parent / f"{run_dir.name}.out", "wb")  # noqa: SIM115 - closed when the child exits
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def section_pack(sec: Section) -> None:
    """k copies of a small run (base recipe, 2 epochs) launched together, for k = 1, 2, 4, 8."""
    cfg = _cfg(BASE, ["train.epochs=1" if sec.tiny else "train.epochs=2"], sec.tiny)
    tmp = Path(tempfile.mkdtemp(prefix="gpu-pack-"))
    cfg_path = _write_cfg(cfg, tmp / "small.yaml")
    single: float | None = None
    last_wall = 0.0
    for k in (1, 2) if sec.tiny else (1, 2, 4, 8):
        if last_wall and sec.left() < 2.0 * last_wall + 10:
            sec.say(f"k={k}: skipped, {sec.left():.0f}s left (k={k // 2} took {last_wall:.0f}s)")
            sec.record(label=f"pack-{k}", skipped=True)
            break
        run_dirs = [tmp / f"k{k}-{i}" for i in range(k)]
        t = time.time()
        procs = [_launch(cfg_path, d, sec.data_dir) for d in run_dirs]
        try:
            while any(p.poll() is None for p in procs):
                if sec.left() < 5:
                    sec.say(f"k={k}: time box reached, stopping the runs")
                    _stop(procs)
                    break
                time.sleep(0.2)
        finally:
            _stop(procs)
        wall = time.time() - t
        last_wall = wall
        metas = [contract.read_meta(d) for d in run_dirs]
        done = sum(1 for m in metas if m and m.status == "done")
        epoch_s = [
            e["seconds"]
            for d in run_dirs
            for e in contract.iter_metrics(d / contract.METRICS_FILE)
            if e["type"] == "epoch"
        ]
        per_hour = 3600 * done / wall if done else 0.0
        if k == 1 and done:
            single = wall
        gain = (k * single / wall) if single and done == k else None
        sec.record(
            label=f"pack-{k}",
            k=k,
            done=done,
            wall_s=wall,
            runs_per_hour=per_hour,
            gain_vs_serial=gain,
            mean_epoch_s=sum(epoch_s) / len(epoch_s) if epoch_s else None,
        )
        sec.say(
            f"k={k}: {done}/{k} done in {wall:.1f}s -> {per_hour:.0f} runs/hour"
            + (f", {gain:.2f}x one-at-a-time throughput" if gain else "")
            + (f", mean epoch {sum(epoch_s) / len(epoch_s):.2f}s" if epoch_s else "")
        )


def _best_pack(out: Path) -> int:
    best, k_best = 0.0, 4
    for r in _results(out):
        if r.get("section") == "pack" and r.get("runs_per_hour", 0) > best and r.get("done") == r.get("k"):
            best, k_best = r["runs_per_hour"], r["k"]
    return k_best


def section_study(sec: Section, slots: int | None) -> None:
    """Every run of configs/studies/2.2.* through the queue + scheduler with ``slots`` per GPU."""
    overrides = (TINY + ["train.epochs=1"]) if sec.tiny else []
    planned = [run for study in STUDIES for run in expand_study(study, overrides)]
    k = slots or _best_pack(sec.out)
    total_epochs = sum(p.cfg.train.epochs for p in planned)
    sec.say(f"{len(planned)} runs ({total_epochs} epochs) from {len(STUDIES)} studies, {k} at a time")
    runs_dir = Path(tempfile.mkdtemp(prefix="gpu-study-"))
    os.environ.update(
        {
            "HW2_SLOTS_PER_GPU": str(k),
            "HW2_CPU_SLOTS": str(k),
            "HW2_GPU_MEM_AWARE": "0",
            "HW2_SCHEDULER_IDLE": "1",
        }
    )
    if sec.data_dir:
        os.environ["HW2_DATA_DIR"] = str(Path(sec.data_dir).resolve())
    # Longest first (more epochs, deeper nets): the pack finishes sooner.
    planned.sort(key=lambda p: (p.cfg.train.epochs, p.cfg.model.name != "base"), reverse=True)
    t = time.time()
    via = "scheduler"
    procs: list[subprocess.Popen[bytes]] = []
    run_dirs: list[Path] = []
    try:
        from hw2 import queue

        for p in planned:
            run_dirs.append(runs_dir / queue.enqueue(runs_dir, p, data_dir=sec.data_dir))
        queue.ensure_scheduler(runs_dir)
    except Exception as exc:  # the queue is someone else's code: fall back to a local pool, say so
        sec.say(f"queue/scheduler unavailable ({type(exc).__name__}: {exc}); using a local pool of {k}")
        via, run_dirs = "pool", []
    pending = list(planned) if via == "pool" else []
    finished = False
    while sec.left() > 8:
        if via == "pool":
            procs = [p for p in procs if p.poll() is None]
            while pending and len(procs) < k:
                p = pending.pop(0)
                d = runs_dir / f"pool-{len(run_dirs):02d}-{contract.safe_name(p.name)}"
                d.mkdir()
                run_dirs.append(d)
                procs.append(_launch(_write_cfg(p.cfg, d / "config.yaml"), d, sec.data_dir))
        metas = [contract.read_meta(d) for d in run_dirs]
        if (
            not pending
            and len(metas) == len(planned)
            and all(m and m.status in contract.FINAL_STATUSES for m in metas)
        ):
            finished = True
            break
        time.sleep(0.5)
    wall = time.time() - t
    if not finished:
        sec.say("time box reached: stopping the remaining runs")
        if via == "scheduler":
            from hw2 import queue

            with_suppress(lambda: queue.stop_scheduler(runs_dir))
            for d in run_dirs:
                with_suppress(lambda d=d: queue.kill_run(runs_dir, d.name, grace=5))
        _stop(procs)
    metas = [contract.read_meta(d) for d in run_dirs]
    statuses = [m.status if m else "?" for m in metas]
    epochs_done = sum(
        1 for d in run_dirs for e in contract.iter_metrics(d / contract.METRICS_FILE) if e["type"] == "epoch"
    )
    serial = sum(m.ended - m.started for m in metas if m and m.started and m.ended and m.status == "done")
    est = wall * total_epochs / epochs_done if (not finished and epochs_done) else None
    sec.record(
        label="study-set",
        via=via,
        slots=k,
        runs=len(planned),
        finished=finished,
        wall_s=wall,
        epochs_done=epochs_done,
        epochs_total=total_epochs,
        statuses={s: statuses.count(s) for s in set(statuses)},
        sum_of_run_seconds=serial,
        est_full_wall_s=est,
    )
    sec.say(
        f"study set via {via}, {k} per GPU: {'finished' if finished else 'NOT finished'} in {wall:.1f}s; "
        f"{epochs_done}/{total_epochs} epochs; statuses {dict((s, statuses.count(s)) for s in set(statuses))}; "
        f"done runs took {serial:.0f}s summed"
        + (f" (packing gain {serial / wall:.2f}x)" if finished else "")
        + (f"; full set estimated at {est:.0f}s" if est else "")
    )


def with_suppress(fn: Any) -> None:
    with contextlib.suppress(Exception):  # best-effort cleanup
        fn()


# ------------------------------------------------------------------------------ summary


def _results(out: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines() if x.strip()]
    except FileNotFoundError:
        return []


def section_summary(sec: Section) -> None:
    rows = _results(sec.out)
    lines = [
        "",
        "=== GPU check summary" + (" (TINY dry run: numbers mean nothing)" if sec.tiny else "") + " ===",
    ]
    by = {r.get("label"): r for r in rows}
    gpu = by.get("gpu")
    lines.append(f"device: {gpu['name'] if gpu else 'CPU'}; torch {gpu['torch'] if gpu else ''}")
    for r in rows:
        if r.get("skipped"):
            lines.append(f"{r['section']:>6} {r['label']:<36} skipped ({r.get('reason', 'time box')})")
        elif r.get("error"):
            lines.append(f"{r['section']:>6} {r['label']:<36} FAILED {r['error'][:120]}")
        elif "epoch_seconds" in r:
            lines.append(
                f"{r['section']:>6} {r['label']:<36} epoch s {r['epoch_seconds']}  steady {r['steady_epoch_s']:.2f}s "
                f"({r['step_ms']:.3f} ms/step)  acc {r['test_acc']:.3f}  peak {r['peak_mem_mb']:.0f} MB"
            )
        elif r.get("section") == "pack":
            gain = f"  {r['gain_vs_serial']:.2f}x vs one at a time" if r.get("gain_vs_serial") else ""
            lines.append(
                f"{r['section']:>6} {r['label']:<36} {r['done']}/{r['k']} in {r['wall_s']:.1f}s = "
                f"{r['runs_per_hour']:.0f} runs/h{gain}"
            )
        elif r.get("label") == "study-set":
            lines.append(
                f"{r['section']:>6} {'study set 2.2.* (' + r['via'] + ', ' + str(r['slots']) + '/GPU)':<36} "
                f"{'done' if r['finished'] else 'NOT done'} {r['wall_s']:.1f}s wall, {r['epochs_done']}/{r['epochs_total']} epochs, "
                f"runs summed {r['sum_of_run_seconds']:.0f}s"
                + (f", full set est. {r['est_full_wall_s']:.0f}s" if r.get("est_full_wall_s") else "")
            )
        elif r.get("label") == "cache":
            lines.append(
                f"{r['section']:>6} {'data cache':<36} {r['seconds']:.1f}s (decoded: {r['decode_seconds']})"
            )
    b4, dflt, host = (
        by.get("base-b4-gpu-data"),
        by.get("base-default-batch-gpu-data"),
        by.get("base-default-batch-host-data"),
    )
    if dflt and host and "steady_epoch_s" in dflt and "steady_epoch_s" in host:
        lines.append(
            f"GPU-resident data vs host: {host['steady_epoch_s'] / dflt['steady_epoch_s']:.2f}x faster epochs"
        )
    if b4 and dflt and "steady_epoch_s" in b4 and "steady_epoch_s" in dflt:
        lines.append(
            f"default batch vs batch 4 epoch: {b4['steady_epoch_s'] / dflt['steady_epoch_s']:.2f}x faster"
        )
    text = "\n".join(lines)
    print(text, flush=True)
    (sec.out / "summary.txt").write_text(text + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("section", choices=["warm", "epochs", "knobs", "pack", "study", "summary"])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--budget-s", type=float, default=60.0, help="this section's time box")
    p.add_argument("--tiny", action="store_true", help="CPU dry run: 2 000-image subset, 1 epoch")
    p.add_argument("--slots", type=int, default=None, help="study: runs per GPU (default: best of pack)")
    args = p.parse_args(argv)
    os.environ.setdefault("HW2_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING, format="    %(name)s %(levelname)s %(message)s")
    sec = Section(args.section, args.out, args.budget_s, args.tiny, args.data_dir)

    # The shell's `timeout` sends SIGTERM to the whole process group: stop cleanly (children too).
    def _term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"time box ({signal.Signals(signum).name})")

    signal.signal(signal.SIGTERM, _term)
    try:
        if args.section == "warm":
            section_warm(sec)
        elif args.section == "epochs":
            section_epochs(sec)
        elif args.section == "knobs":
            section_knobs(sec)
        elif args.section == "pack":
            section_pack(sec)
        elif args.section == "study":
            section_study(sec, args.slots)
        else:
            section_summary(sec)
    except KeyboardInterrupt as exc:
        sec.say(f"stopped: {exc}")
        sec.record(label=f"{args.section}-stopped", error=str(exc))
        return 124
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown (seconds with torch loaded): every result is on disk
