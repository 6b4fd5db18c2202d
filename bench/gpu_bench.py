"""The sections of ``bench/gpu_check.sh``: CNN speed on a GPU, one time-boxed section per call.

    python bench/gpu_bench.py SECTION --data-dir D --out DIR --budget-s S [--tiny]

Each section appends one JSON object per measurement to ``DIR/results.jsonl`` as soon as it has
it (a section killed at its time box keeps what it measured) and prints a human line. Sections:

* ``warm``    decode CIFAR-10 into the cache once (every later process reads the cache).
* ``epochs``  base CNN epoch time, eager (``perf.capture=false``) vs captured as one CUDA graph
              (``perf.capture=true``), at the default batch (base.yaml) and at batch 4 (the
              tutorial's); captured with data on the host (pinned, copied per batch). Each pair
              prints its speed-up and both test accuracies (the same math: within noise).
* ``knobs``   the deeper and the regularised nets eager vs captured; bf16 autocast, channels_last and
              torch.compile (deeper net, default recipe).
* ``mlp``     the MLP's epoch time per Keras backend (``bench/bench_mlp.py``), where TensorFlow is
              installed; a line saying it was skipped otherwise.
* ``pack``    1, 2, 4 and 8 small runs at once on one GPU, each a real ``python -m trainers.cnn``
              subprocess: wall time and runs/hour against one at a time.
* ``homework`` every shipped study through ``hw2-tui sweep`` (``bench/bench_homework.py``), epochs
              capped, with 8, 4, 2 then 1 runs per GPU while the time box lasts (the MLP studies
              only where TensorFlow is installed).
* ``summary`` the table of everything measured.

``--tiny`` (the CPU dry run) shrinks every section to a 2 000-image subset and one epoch, so the
whole script is known to work before its one real run on the device.

``epochs`` and ``knobs`` call :func:`trainers.cnn.train` in-process (one torch import, data from
the cache) with a real run folder; timings are the trainer's own epoch ``seconds``. Epoch 1 pays
cuDNN autotuning / compilation, so steady-state figures are epoch 2.
"""

from __future__ import annotations

import argparse
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
from hw2.config import load_experiment  # noqa: E402

TINY = ["data.subset=2000", "data.test_subset=500"]
BASE = ROOT / "configs/cnn/base.yaml"
REGULARISED = ROOT / "configs/cnn/regularized.yaml"


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
    eager, captured = "perf.capture=false", "perf.capture=true"
    plan = [
        # (label, overrides, rough seconds needed on an H100 - skip when less is left)
        ("base-default-batch-eager", ["train.epochs=2", eager], 15),
        ("base-default-batch-captured", ["train.epochs=2", captured], 10),
        (
            "base-default-batch-captured-host-data",
            ["train.epochs=2", captured, "perf.data_on_device=false"],
            10,
        ),
        ("base-b4-captured", ["train.epochs=1", "train.batch_size=4", captured], 20),
        ("base-b4-eager", ["train.epochs=1", "train.batch_size=4", eager], 40),
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
    epochs = "train.epochs=1" if sec.tiny else "train.epochs=2"
    common = ["model.name=deeper", epochs]
    plan = [
        ("deeper-eager", ["perf.capture=false"]),
        ("deeper-captured", ["perf.capture=true"]),
        ("regularised-eager", ["--config", "perf.capture=false"]),
        ("regularised-captured", ["--config", "perf.capture=true"]),
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
    if sec.tiny:  # the dry run: the eager/captured pairs and one combination of the knobs
        plan = [x for x in plan if x[0].endswith(("-eager", "-captured", "bf16-channels_last"))]
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
        if extra[:1] == ["--config"]:  # the regularised study's own recipe, not the deeper net's
            train_in_process(sec, label, REGULARISED, [epochs, *extra[1:]])
        else:
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


def _has_tensorflow() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


def section_mlp(sec: Section) -> None:
    """The MLP per Keras backend through ``bench/bench_mlp.py`` (each variant its own process)."""
    if not _has_tensorflow():
        sec.say("mlp: skipped, TensorFlow is not installed on this machine (torch only)")
        sec.record(label="mlp", skipped=True, reason="no TensorFlow")
        return
    out = sec.out / "mlp.json"
    cmd = [sys.executable, str(ROOT / "bench/bench_mlp.py"), "--json", str(out)]
    cmd += ["--subset", "2000", "--epochs", "1", "--only", "tf", "tf-xla"] if sec.tiny else ["--epochs", "3"]
    if sec.data_dir:
        cmd += ["--data-dir", sec.data_dir]
    sec.say(" ".join(cmd[1:]))
    try:
        proc = subprocess.run(cmd, cwd=ROOT, timeout=max(sec.left() - 5, 10), capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        sec.say("mlp: time box reached")
        sec.record(label="mlp", skipped=True, reason="time box")
        return
    print(proc.stdout[-3000:], flush=True)
    if proc.returncode != 0 or not out.exists():
        sec.record(label="mlp", error=f"bench_mlp.py exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
        return
    sec.record(label="mlp", per_backend=json.loads(out.read_text()))


def section_homework(sec: Section) -> None:
    """Every shipped study through the real CLI, epochs capped, 8/4/2/1 runs per GPU while time lasts."""
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_homework

    studies = sorted((ROOT / "configs/studies").glob("*.yaml"))
    if not _has_tensorflow() or sec.tiny:
        studies = [s for s in studies if s.name.startswith("2.2.")]
        why = "the dry run" if sec.tiny else "TensorFlow is not installed"
        sec.say(f"homework: the CNN studies (2.2.*) only ({why})")
    overrides = ["train.epochs=1"] + (TINY if sec.tiny else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HW2_SCHEDULER_IDLE": "1", "HW2_CPU_SLOTS": "2"}
    last = 0.0
    for k in (2, 1) if sec.tiny else (8, 4, 2, 1):
        # fewer runs at once take longer: skip when the last set's time, scaled, no longer fits
        if last and sec.left() < last * 2 + 15:
            sec.say(f"homework {k}/GPU: skipped, {sec.left():.0f}s left (the last set took {last:.0f}s)")
            sec.record(label=f"homework-{k}", skipped=True)
            continue
        env["HW2_SLOTS_PER_GPU"] = str(k)
        res = bench_homework.run_set(studies, overrides, env, sec.data_dir, timeout_s=max(sec.left() - 10, 5))
        last = res["wall_s"]
        sec.record(label=f"homework-{k}", k=k, capped=overrides, **res)
        sec.say(
            f"homework, {k}/GPU: {res['runs']} runs {'finished' if res['finished'] else 'NOT finished'} "
            f"in {res['wall_s']}s (capped: {' '.join(overrides)})"
        )


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
        elif str(r.get("label", "")).startswith("homework-"):
            lines.append(
                f"{r['section']:>6} {'whole set, ' + str(r['k']) + '/GPU, ' + str(r['runs']) + ' runs':<36} "
                f"{'done' if r['finished'] else 'NOT done'} in {r['wall_s']:.1f}s (capped: {' '.join(r['capped'])})"
            )
        elif r.get("label") == "mlp":
            for v in r.get("per_backend", {}).get("rows", []):
                secs = [round(x, 2) for x in v.get("epoch_seconds", [])]
                lines.append(
                    f"{r['section']:>6} mlp {v.get('variant', v.get('name', '?')):<32} epoch s {secs}"
                )
        elif r.get("label") == "cache":
            lines.append(
                f"{r['section']:>6} {'data cache':<36} {r['seconds']:.1f}s (decoded: {r['decode_seconds']})"
            )
    for stem in ("base-default-batch", "base-b4", "deeper", "regularised"):
        e, c = by.get(f"{stem}-eager"), by.get(f"{stem}-captured")
        if e and c and "steady_epoch_s" in e and "steady_epoch_s" in c:
            lines.append(
                f"{stem}: captured {c['steady_epoch_s']:.2f}s vs eager {e['steady_epoch_s']:.2f}s per epoch "
                f"= {e['steady_epoch_s'] / c['steady_epoch_s']:.2f}x; test acc {c['test_acc']:.3f} vs {e['test_acc']:.3f}"
            )
    dflt, host = by.get("base-default-batch-captured"), by.get("base-default-batch-captured-host-data")
    if dflt and host and "steady_epoch_s" in dflt and "steady_epoch_s" in host:
        lines.append(
            f"GPU-resident data vs host (captured): {host['steady_epoch_s'] / dflt['steady_epoch_s']:.2f}x faster epochs"
        )
    text = "\n".join(lines)
    print(text, flush=True)
    (sec.out / "summary.txt").write_text(text + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("section", choices=["warm", "epochs", "knobs", "mlp", "pack", "homework", "summary"])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--budget-s", type=float, default=60.0, help="this section's time box")
    p.add_argument("--tiny", action="store_true", help="CPU dry run: 2 000-image subset, 1 epoch")
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
        elif args.section == "mlp":
            section_mlp(sec)
        elif args.section == "homework":
            section_homework(sec)
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
