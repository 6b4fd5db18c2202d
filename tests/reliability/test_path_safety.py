"""Names from configs never become paths outside the runs dir (through the real CLI, end to end).

Hostile names come in every way a user can give one: an experiment's ``name:``, a study variant's
``name:``, and ``--set name=...`` on the command line. Each run is queued *and trained* (the fake
trainer writes its files) and exported; afterwards no file may exist outside the runs dir and the
export folder that was not there before, and every run folder sits directly inside the runs dir.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest
import yaml

from hw2 import contract
from tests.reliability.conftest import Reaper, all_final, cli, wait_until, write_fake_config

pytestmark = pytest.mark.usefixtures("fake_env")


def _tree(root: Path, skip: set[Path]) -> set[str]:
    out: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        out.update(str((here / f).relative_to(root)) for f in filenames)
        out.update(str((here / d).relative_to(root)) + "/" for d in dirnames)
    return out


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_hostile_names_stay_inside_the_runs_dir(
    tmp_path: Path, reaper: Reaper, fake_env: dict[str, str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    work = tmp_path / "work"
    runs = work / "deep" / "er" / "runs"
    reaper.runs_dirs.append(runs)
    configs = tmp_path / "configs"
    exps = [
        write_fake_config(configs, "rel", epochs=1, batches=2),
        write_fake_config(configs, "abs", epochs=1, batches=2),
    ]
    # the file names are safe; the names inside are not
    for path, name in zip(exps, ["../../x", "/etc/passwd"], strict=True):
        data = yaml.safe_load(path.read_text())
        data["name"] = name
        path.write_text(yaml.safe_dump(data))
    study = configs / "study.yaml"
    study.write_text(
        yaml.safe_dump(
            {
                "study": "../../escape study",
                "base": "rel.yaml",
                "variants": [
                    {"name": "../../../evil", "set": {"seed": 1}},
                    {"name": "..", "set": {"seed": 2}},
                    {"name": "a/../../b", "set": {"seed": 3}},
                    {"name": f"/tmp/abs-{tag}/v", "set": {"seed": 4}},
                ],
            },
            sort_keys=False,
        )
    )
    study2 = configs / "study2.yaml"  # safe variant names, hostile study title
    study2.write_text(
        yaml.safe_dump(
            {
                "study": "../../../etc/title",
                "base": "abs.yaml",
                "variants": [{"name": "v1", "set": {"seed": 5}}],
            }
        )
    )
    passwd = Path("/etc/passwd")
    passwd_before = _digest(passwd) if passwd.exists() else None
    before = _tree(tmp_path, {runs})
    env = {**fake_env, "HW2_RUNS_DIR": str(runs)}

    queued: list[str] = []
    refused: list[str] = []
    for args in (
        ["run", str(exps[0]), "--detach"],
        ["run", str(exps[1]), "--detach"],
        ["run", str(exps[0]), "--detach", "--set", f"name=../../../pwned-{tag}"],
        ["run", str(exps[0]), "--detach", "--set", f"name=/tmp/abs-{tag}/x"],
        ["run", str(exps[0]), "--detach", "--set", "name=.."],
        ["sweep", str(study), "--yes", "--detach"],
        ["sweep", str(study2), "--yes", "--detach"],
    ):
        proc = cli(*args, cwd=work if work.exists() else tmp_path, env=env)
        if proc.returncode != 0:  # refusing a name is fine too, if it says so in one line
            assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
            refused.append(args[1])
            continue
        queued += [ln for ln in proc.stdout.split() if ln.strip()]
    # the config layer refuses path-like variant names (one line, naming the field); the rest
    # are accepted and sanitised into safe run ids
    assert refused == [str(study)], refused
    assert len(queued) == 6, queued
    wait_until(lambda: all_final(runs), 90, "every hostile run final")
    proc = cli("export", "--out", str(work / "export"), cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr

    # Every run folder is a direct child of the runs dir, named only with safe characters.
    dirs = contract.list_run_dirs(runs)
    assert sorted(d.name for d in dirs) == sorted(queued)
    for d in dirs:
        assert d.resolve().parent == runs.resolve()
        assert d.name == contract.safe_name(d.name, max_len=200)
        meta = contract.read_meta(d)
        assert meta is not None and meta.status == "done", (d.name, meta)
        assert sorted(p.name for p in d.iterdir()) == sorted(
            [
                contract.CONFIG_FILE,
                contract.META_FILE,
                contract.METRICS_FILE,
                contract.LOG_FILE,
                contract.RESULT_FILE,
            ]
        )
    # Nothing appeared anywhere else: not beside the runs dir, not in /tmp, not in /etc.
    after = _tree(tmp_path, {runs})
    new = {p for p in after - before if not p.startswith("work/export")}
    assert new <= {"work/", "work/deep/", "work/deep/er/"}, sorted(new)
    assert not list(Path("/tmp").glob(f"*{tag}*"))
    assert not list(Path("/").glob(f"*{tag}*"))
    assert not Path("/x").exists() and not Path("/evil").exists() and not Path("/b").exists()
    if passwd_before is not None:
        assert _digest(passwd) == passwd_before


def test_unsafe_run_ids_are_refused_by_every_command(runs_dir: Path, fake_env: dict[str, str]) -> None:
    outside = runs_dir.parent / "victim"
    outside.mkdir()
    (outside / contract.META_FILE).write_text('{"run_id": "victim", "name": "v", "status": "running"}')
    for ref in ("../victim", "..", "/etc", "../../etc/passwd"):
        for cmd in ("kill", "requeue"):
            proc = cli(cmd, ref, "--runs-dir", str(runs_dir))
            assert proc.returncode != 0 and "Traceback" not in proc.stderr, (cmd, ref, proc.stderr)
    assert sorted(p.name for p in outside.iterdir()) == [contract.META_FILE]
    assert [p.name for p in runs_dir.iterdir() if not p.name.startswith(".")] == []
