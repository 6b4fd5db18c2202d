"""Incremental sweeps (issue 10 §5): run identity, twins, --force, requeue of failed runs, and two
launchers at once; the fake trainer on the real harness, queue and scheduler."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from hw2 import contract, daemon, locks, planning, queue, run_keys, sweep
from hw2.config import expand_study
from hw2.executors import local
from hw2.runs.readers import list_runs
from tests.conftest import PROJECT_ROOT
from tests.runtime.conftest import WriteConfig, all_final, wait_for


def _study(path: Path, base: Path, variants: dict[str, dict[str, object]], title: str = "S") -> Path:
    data = {
        "study": title,
        "base": str(base),
        "variants": [{"name": name, "set": sets} for name, sets in variants.items()],
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _meta(runs_dir: Path, run_id: str) -> contract.RunMeta:
    meta = contract.read_meta(runs_dir / run_id)
    assert meta is not None
    return meta


def _status_by_variant(runs_dir: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for d in contract.list_run_dirs(runs_dir):
        meta = contract.read_meta(d)
        assert meta is not None
        out.setdefault(str(meta.extra.get("variant")), []).append(meta.status)
    return out


def _drain(runs_dir: Path) -> None:
    """Run the queue to the end and wait for the scheduler to exit (so later runs stay queued)."""
    daemon.ensure_scheduler(runs_dir)
    assert wait_for(lambda: all_final(runs_dir), timeout=120)
    assert wait_for(lambda: not daemon.scheduler_lock_held(runs_dir), timeout=60)


def test_identity_ignores_name_description_and_data_dir_only(write_config: WriteConfig) -> None:
    [p] = expand_study(write_config("ident"))
    base = run_keys.identity(p.cfg)
    cfg = p.cfg.model_copy(deep=True)
    cfg.name, cfg.description, cfg.data.data_dir = "other", "other text", "/elsewhere"
    assert run_keys.identity(cfg) == base
    for change in ({"seed": 1}, {"optimizer": {"lr": 0.5}}, {"train": {"epochs": 3, "batch_size": 3}}):
        other = type(p.cfg).model_validate({**p.cfg.model_dump(mode="json"), **change})
        assert run_keys.identity(other) != base, change
    assert run_keys.identity(p.cfg, smoke=True) != base


def test_relaunch_queues_only_runs_without_a_live_twin(
    runs_dir: Path, write_config: WriteConfig, tmp_path: Path
) -> None:
    base = write_config("sweep-base", epochs=1, batches=2)
    study = _study(
        tmp_path / "study.yaml",
        base,
        {"ok1": {"seed": 1}, "ok2": {"seed": 2}, "bad": {"model.name": "fail"}, "gone": {"seed": 3}},
    )
    planned = expand_study(study)
    first = planning.enqueue_sweep(runs_dir, planned)
    assert len(first.queued) == 4 and not first.skipped
    assert first.summary() == "none of 4 done or queued yet: queue 4"
    ids = dict(zip([p.variant for p in planned], first.queued, strict=True))
    for variant, rid in ids.items():  # identity recorded at creation, the planned run's
        assert _meta(runs_dir, rid).extra["identity"] == run_keys.identity(
            planned[list(ids).index(variant)].cfg
        )
    assert local.kill_run(runs_dir, ids["gone"])  # queued -> killed
    _drain(runs_dir)
    assert _status_by_variant(runs_dir) == {
        "ok1": ["done"],
        "ok2": ["done"],
        "bad": ["failed"],
        "gone": ["killed"],
    }

    # relaunched: the failed and the killed run are queued again, the done ones are not
    second = planning.enqueue_sweep(runs_dir, expand_study(study))
    assert sorted(p.variant for p in second.to_queue) == ["bad", "gone"]
    assert len(second.queued) == 2
    assert {(t.planned.variant, t.run_id, t.status) for t in second.skipped} == {
        ("ok1", ids["ok1"], "done"),
        ("ok2", ids["ok2"], "done"),
    }
    assert second.summary() == "2 of 4 already done or queued: queue 2"

    # relaunched again while those are queued: nothing
    third = planning.enqueue_sweep(runs_dir, expand_study(study))
    assert third.queued == [] and third.summary() == "4 of 4 already done or queued: queue none"
    assert {t.status for t in third.skipped} == {"done", "queued"}

    # a config edit: the edited variant runs again, the others do not
    data = yaml.safe_load(study.read_text())
    data["variants"][1]["set"]["optimizer.lr"] = 0.05  # ok2
    study.write_text(yaml.safe_dump(data, sort_keys=False))
    fourth = planning.enqueue_sweep(runs_dir, expand_study(study))
    assert [p.variant for p in fourth.to_queue] == ["ok2"] and len(fourth.queued) == 1
    assert _meta(runs_dir, fourth.queued[0]).extra["variant"] == "ok2"

    # --force queues all
    forced = planning.enqueue_sweep(runs_dir, expand_study(study), force=True)
    assert len(forced.queued) == 4 and not forced.skipped
    assert len(contract.list_run_dirs(runs_dir)) == 4 + 2 + 1 + 4


def test_runs_queued_before_identities_existed_are_twins_by_their_config(
    runs_dir: Path, write_config: WriteConfig
) -> None:
    [p] = expand_study(write_config("old", epochs=1, batches=1))
    rid = queue.create_run(runs_dir, p)
    meta = contract.read_json(runs_dir / rid / contract.META_FILE)
    assert meta is not None
    del meta["identity"]
    contract.atomic_write_json(runs_dir / rid / contract.META_FILE, meta)
    plan = planning.plan_sweep(runs_dir, [p])
    assert plan.to_queue == [] and [t.run_id for t in plan.skipped] == [rid]


def test_smoke_runs_and_real_runs_are_never_twins(runs_dir: Path, write_config: WriteConfig) -> None:
    [p] = expand_study(write_config("both", epochs=1, batches=1))
    real = planning.enqueue_sweep(runs_dir, [p])
    smoke = planning.enqueue_sweep(runs_dir, [p], smoke=True)
    assert len(real.queued) == 1 and len(smoke.queued) == 1  # each blind to the other
    assert _meta(runs_dir, smoke.queued[0]).extra["smoke"] is True
    assert "smoke" not in _meta(runs_dir, real.queued[0]).extra
    assert planning.plan_sweep(runs_dir, [p]).to_queue == []
    assert planning.plan_sweep(runs_dir, [p], smoke=True).to_queue == []
    summaries = {s.run_id: s for s in list_runs(runs_dir, use_cache=False)}
    assert summaries[smoke.queued[0]].smoke and not summaries[real.queued[0]].smoke
    requeued = queue.requeue(runs_dir, smoke.queued[0])  # a smoke run requeued stays one
    assert _meta(runs_dir, requeued).extra["smoke"] is True
    assert _meta(runs_dir, requeued).extra["identity"] == _meta(runs_dir, smoke.queued[0]).extra["identity"]


def test_requeue_failed_requeues_each_failed_identity_once(
    runs_dir: Path, write_config: WriteConfig, tmp_path: Path
) -> None:
    base = write_config("rq-base", epochs=1, batches=1)
    study = _study(
        tmp_path / "rq.yaml", base, {"ok": {}, "bad": {"model.name": "fail"}, "gone": {"seed": 5}}, "RQ"
    )
    other = _study(tmp_path / "other.yaml", base, {"x": {"model.name": "fail", "seed": 9}}, "Other")
    plan = planning.enqueue_sweep(runs_dir, expand_study(study) + expand_study(other))
    ids = dict(zip(["ok", "bad", "gone", "x"], plan.queued, strict=True))
    assert local.kill_run(runs_dir, ids["gone"])
    _drain(runs_dir)
    again = queue.requeue(runs_dir, ids["bad"])  # "bad" fails twice: two failed runs, one identity
    _drain(runs_dir)
    assert _meta(runs_dir, again).status == "failed"

    # A scheduler "busy elsewhere" (its lock held): the requeued runs are handed to it and stay queued.
    fd = locks.try_lock(runs_dir / daemon.SCHEDULER_LOCK)
    assert fd is not None
    try:
        done = sweep.requeue_failed(runs_dir, "RQ")
        new = done.requeued
        assert len(new) == 2 and done.resumed == [] and done.refused == []  # no checkpoints: new runs
        metas = [_meta(runs_dir, rid) for rid in new]
        assert sorted(str(m.extra["variant"]) for m in metas) == ["bad", "gone"]
        assert all(m.status == "queued" and m.study == "RQ" for m in metas)
        bad_new = next(m for m in metas if m.extra["variant"] == "bad")
        assert bad_new.extra["requeued_from"] == again  # from the newest failed run of that identity
        assert bad_new.extra["identity"] == _meta(runs_dir, ids["bad"]).extra["identity"]
        assert sweep.requeue_failed(runs_dir, "RQ") == sweep.Requeued()  # their twins are queued now
    finally:
        locks.release(fd)
    # No scheduler: requeue_failed hands the new run to the local executor, which starts one.
    [x_new] = sweep.requeue_failed(runs_dir, str(other)).requeued  # by study file; "Other" only
    assert _meta(runs_dir, x_new).extra["variant"] == "x"
    assert wait_for(lambda: _meta(runs_dir, x_new).status in contract.FINAL_STATUSES, timeout=120)
    assert (
        _meta(runs_dir, x_new).status == "failed" and _meta(runs_dir, x_new).started
    )  # it ran, and failed again
    assert wait_for(lambda: not daemon.scheduler_lock_held(runs_dir), timeout=60)


def test_two_launchers_at_once_queue_each_run_once(
    runs_dir: Path, write_config: WriteConfig, tmp_path: Path
) -> None:
    base = write_config("race", epochs=1, batches=1)
    study = _study(tmp_path / "race.yaml", base, {f"v{i}": {"seed": i} for i in range(12)})
    go = tmp_path / "go"
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from hw2 import daemon, planning, queue, run_keys
        from hw2.config import expand_study
        planned = expand_study({str(study)!r})
        print("ready", flush=True)
        while not os.path.exists({str(go)!r}):
            time.sleep(0.001)
        print(len(planning.enqueue_sweep({str(runs_dir)!r}, planned).queued))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    go.touch()
    counts = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        counts.append(int(out.strip()))
    assert sum(counts) == 12
    metas = [contract.read_meta(d) for d in contract.list_run_dirs(runs_dir)]
    assert len(metas) == 12
    assert len({m.extra["identity"] for m in metas if m is not None}) == 12


@pytest.mark.parametrize("repeat", [1, 3])
def test_repeat_at_launch_is_seeds_per_variant(
    runs_dir: Path, write_config: WriteConfig, tmp_path: Path, repeat: int
) -> None:
    study = _study(tmp_path / "rep.yaml", write_config("rep"), {"a": {}, "b": {"optimizer.lr": 0.1}})
    plan = planning.enqueue_sweep(runs_dir, expand_study(study, repeat=repeat))
    metas = [_meta(runs_dir, rid) for rid in plan.queued]
    assert sorted((m.extra["variant"], m.extra["seed"]) for m in metas) == sorted(
        (v, s) for v in "ab" for s in range(repeat)
    )


def test_a_running_twin_blocks_and_a_killed_one_does_not(runs_dir: Path, write_config: WriteConfig) -> None:
    [p] = expand_study(write_config("long", epochs=2, batches=400, model="slow"))
    [rid] = planning.enqueue_sweep(runs_dir, [p]).queued
    daemon.ensure_scheduler(runs_dir)
    assert wait_for(lambda: _meta(runs_dir, rid).status == "running" and bool(_meta(runs_dir, rid).pid))
    plan = planning.plan_sweep(runs_dir, [p])
    assert plan.to_queue == [] and [(t.run_id, t.status) for t in plan.skipped] == [(rid, "running")]
    assert local.kill_run(runs_dir, rid, grace=0)
    assert wait_for(lambda: _meta(runs_dir, rid).status == "killed")
    assert planning.plan_sweep(runs_dir, [p]).to_queue == [p]


def test_smoke_test_reports_failures_and_runs_past_the_timeout(
    runs_dir: Path, write_config: WriteConfig, tmp_path: Path
) -> None:
    base = write_config("smoke-base", epochs=50, batches=2)
    study = _study(
        tmp_path / "smk.yaml",
        base,
        {
            "fine": {},
            "broken": {"model.name": "fail"},
            "stuck": {"model.name": "slow", "train.batch_size": 5000},
        },
    )
    smoke = planning.smoke_test(runs_dir, expand_study(study), timeout=30)
    failures = smoke.failures
    assert not smoke.passed and len(smoke.run_ids) == 3
    by_variant = {f.variant: f for f in failures}
    assert sorted(by_variant) == ["broken", "stuck"]
    assert all(f.file == str(study) for f in failures)
    assert by_variant["broken"].error == "RuntimeError: fake failure at epoch 1"
    assert by_variant["stuck"].error == "did not finish within 30 s (killed)"
    assert wait_for(lambda: _meta(runs_dir, by_variant["stuck"].run_id).status == "killed")
    metas = [contract.read_meta(d) for d in contract.list_run_dirs(runs_dir)]
    assert len(metas) == 3 and all(m is not None and m.extra["smoke"] and m.epochs == 1 for m in metas)
