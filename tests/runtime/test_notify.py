"""hw2.notify without a UI: which events fire (once each, none for old runs at startup), their words,
the escape sequences (clean, each once), the settings, and ``$HW2_NOTIFY_CMD`` run for real."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest
import yaml

from bench.bench_tui import drain, hw2_tui_cmd, spawn_in_pty
from hw2 import notify
from hw2.notify import Event, EventDetector, NotifySettings
from hw2.runs.summary import RunSummary
from tests.reliability.conftest import cli
from tests.runtime.conftest import WriteConfig, wait_for

STUDY = "2.1.4 Optimizers"


def _s(
    run_id: str, status: str, *, study: str | None = STUDY, error: str | None = None, **kw: object
) -> RunSummary:
    return RunSummary(run_id, run_id, status, study=study, error=error, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- events


def test_old_final_runs_fire_nothing_at_startup() -> None:
    det = EventDetector(since=time.time())
    old = [_s(f"r{i}", ("done", "failed", "killed")[i % 3], created=1e9) for i in range(10_000)]
    assert det.feed(old) == []
    assert det.feed(old) == []  # and not on the next poll either


def test_a_run_that_fails_fires_once_and_its_study_ends_with_counts() -> None:
    det = EventDetector()
    runs = [_s(f"adam-s{i}", "running") for i in range(6)]
    assert det.feed(runs) == []
    failed = _s("adam-s1", "failed", error="RuntimeError: boom\nTraceback ...")
    events = det.feed([failed])
    assert [e.kind for e in events] == ["run_failed"]
    assert events[0].text == f"run adam-s1 failed ({STUDY}): RuntimeError: boom Traceback ..."
    assert events[0].bad
    assert det.feed([failed]) == []  # the same status again: nothing
    done = [_s(f"adam-s{i}", "done") for i in (0, 2, 3, 4)]
    assert det.feed(done) == []  # adam-s5 still runs
    events = det.feed([_s("adam-s5", "done"), failed])
    assert [e.text for e in events] == [f"{STUDY}: all 6 runs ended · 5 done, 1 failed"]
    assert events[0].kind == "study_ended" and events[0].counts == {"done": 5, "failed": 1}
    assert det.feed([_s(f"adam-s{i}", "done") for i in range(6)]) == []  # told once


def test_only_runs_seen_live_count_and_a_new_batch_starts_after_the_end() -> None:
    det = EventDetector()
    det.feed([_s("old1", "done"), _s("old2", "failed"), _s("new1", "queued")])
    events = det.feed([_s("new1", "killed")])
    assert [e.text for e in events] == [f"{STUDY}: its run ended · 0 done, 0 failed, 1 killed"]
    assert events[0].bad  # a killed run is worth a warning
    assert det.feed([_s("new2", "running")]) == []
    assert [e.text for e in det.feed([_s("new2", "done")])] == [f"{STUDY}: its run ended · 1 done, 0 failed"]
    assert not Event("study_ended", "", STUDY, {"done": 1}).bad


def test_a_run_created_in_this_session_that_failed_between_two_polls_still_fires() -> None:
    since = time.time()
    det = EventDetector(since=since)
    events = det.feed([_s("fast", "failed", created=since + 1, error="ImportError: no")])
    assert [e.kind for e in events] == ["run_failed", "study_ended"]
    assert events[1].counts == {"failed": 1}


def test_a_resumed_run_that_fails_again_is_told_again() -> None:
    det = EventDetector()
    det.feed([_s("r", "running")])
    assert len(det.feed([_s("r", "failed")])) == 2  # the run, and its study (of one run)
    det.feed([_s("r", "running", resumed=1)])
    assert [e.kind for e in det.feed([_s("r", "failed", resumed=1)])] == ["run_failed", "study_ended"]


def test_smoke_runs_are_the_smoke_tests_to_tell() -> None:
    det = EventDetector()
    det.feed([_s("smoke-a", "running", smoke=True)])
    assert det.feed([_s("smoke-a", "failed", smoke=True)]) == []


def test_runs_without_a_study_tell_failures_only_and_removed_runs_leave_their_batch() -> None:
    det = EventDetector()
    det.feed([_s("solo", "running", study=None)])
    events = det.feed([_s("solo", "failed", study=None)])
    assert [e.text for e in events] == ["run solo failed: no error recorded"]
    det.feed([_s("a", "running"), _s("b", "running")])
    assert det.feed([_s("a", "done")]) == []
    assert [e.counts for e in det.forget(["b"])] == [{"done": 1}]


# ---------------------------------------------------------------------- words and sequences


def test_texts_are_one_clean_line_and_osc_fields_have_no_separator() -> None:
    hostile = "boom\x1b]9;pwned\x07\r\nnext; line\x9b31m" + "x" * 1000
    text = notify.run_failed_text("a;b", "S;1", hostile)
    assert "\x1b" not in text and "\x07" not in text and "\n" not in text and "\x9b" not in text
    assert len(text) == notify.MAX_TEXT and text.endswith("…")
    event = Event("run_failed", text)
    seq = notify.terminal_sequence(event, NotifySettings())
    assert seq.count("\x07") == 3  # the bell and the end of each of the two OSC sequences
    assert seq.startswith("\x07\x1b]9;hw2-tui: run a,b failed (S,1): boom")
    osc777 = seq[seq.index("\x1b]777;") :]
    assert osc777.startswith("\x1b]777;notify;hw2-tui: Run failed;run a,b failed")
    assert osc777.count(";") == 3 and osc777.count("\x1b") == 1 and osc777.endswith("\x07")


@pytest.mark.parametrize(
    ("value", "channels"),
    [
        (None, set(notify.CHANNELS)),
        ("", set(notify.CHANNELS)),
        ("off", set()),
        ("none", set()),
        ("toast,bell", {"toast", "bell"}),
        (" Toast , osc ", {"toast", "osc9", "osc777"}),
        ("osc777,cmd", {"osc777", "cmd"}),
    ],
)
def test_settings_name_the_channels(value: str | None, channels: set[str]) -> None:
    env = {} if value is None else {"HW2_NOTIFY": value}
    settings = NotifySettings.from_env(env)
    assert set(settings.channels) == channels and settings.warning() is None


def test_each_channel_can_be_turned_off() -> None:
    event = notify.study_ended(STUDY, ["done", "failed"])
    assert notify.terminal_sequence(event, NotifySettings.from_env({"HW2_NOTIFY": "off"})) == ""
    assert notify.terminal_sequence(event, NotifySettings.from_env({"HW2_NOTIFY": "bell"})) == "\x07"
    only9 = notify.terminal_sequence(event, NotifySettings.from_env({"HW2_NOTIFY": "osc9"}))
    assert only9 == f"\x1b]9;hw2-tui: {STUDY}: all 2 runs ended · 1 done, 1 failed\x07"
    cmd = NotifySettings.from_env({"HW2_NOTIFY": "toast", "HW2_NOTIFY_CMD": "true"})
    assert cmd.command == "true" and not cmd.runs_command
    assert NotifySettings.from_env({"HW2_NOTIFY_CMD": "true"}).runs_command


def test_a_misspelt_channel_is_one_line_naming_the_fix() -> None:
    settings = NotifySettings.from_env({"HW2_NOTIFY": "tost,bell"})
    assert settings.channels == {"bell"}
    line = settings.warning()
    assert line is not None and "\n" not in line
    assert "HW2_NOTIFY" in line and "'tost'" in line and "fix:" in line


# ---------------------------------------------------------------------- HW2_NOTIFY_CMD

ARGV_WRITER = "import json, sys; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"


def test_the_command_gets_the_summary_as_one_argument_without_a_shell(tmp_path: Path) -> None:
    out, canary = tmp_path / "argv.json", tmp_path / "pwned"
    summary = f"S: all 2 runs ended · 1 done; touch {canary} $(touch {canary}) `id` | cat"
    command = f"{sys.executable} -c {ARGV_WRITER!r} '{out}'"
    errors: list[str] = []
    notify.run_command(command, summary, on_error=errors.append).join(30)
    assert wait_for(out.exists, timeout=30)
    assert json.loads(out.read_text()) == [summary]
    assert not canary.exists() and errors == []


def test_a_failing_command_is_one_line_never_an_exception(tmp_path: Path) -> None:
    errors: list[str] = []
    notify.run_command(str(tmp_path / "no-such-program"), "x", on_error=errors.append).join(30)
    assert len(errors) == 1 and errors[0].startswith("HW2_NOTIFY_CMD: cannot run") and "fix:" in errors[0]
    errors.clear()
    command = f"{sys.executable} -c 'raise SystemExit(3)'"
    notify.run_command(command, "x", on_error=errors.append).join(30)
    assert errors == [f"HW2_NOTIFY_CMD: {command!r} exited with status 3"]
    errors.clear()
    notify.run_command("'unbalanced", "x", on_error=errors.append).join(30)
    assert len(errors) == 1 and "cannot run" in errors[0]


# ---------------------------------------------------------------------- the CLI's foreground sweep

OSC = re.compile(rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def _fake_study(tmp_path: Path, write_config: WriteConfig) -> Path:
    base = write_config("notify-base", epochs=2, batches=3)
    path = tmp_path / "configs" / "notify-study.yaml"
    variants = [{"name": "ok"}, {"name": "bad", "set": {"model.name": "fail"}}]
    path.write_text(yaml.safe_dump({"study": "Fake study", "base": base.name, "variants": variants}))
    return path


def test_a_foreground_sweep_ends_with_one_line_and_one_bell_in_a_terminal(
    runs_dir: Path, tmp_path: Path, write_config: WriteConfig
) -> None:
    told = tmp_path / "told.json"
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "HW2_NOTIFY_CMD": f"{sys.executable} -c {ARGV_WRITER!r} {told}",
    }
    env.pop("HW2_NOTIFY", None)
    argv = [*hw2_tui_cmd(runs_dir), "sweep", str(_fake_study(tmp_path, write_config)), "--yes"]
    proc, master = spawn_in_pty(argv, 120, 30, env)
    out = b""
    try:
        while proc.poll() is None or not out.endswith(b"\n"):
            chunk, _ = drain(master, timeout=1.0)
            out += chunk
            if not chunk and proc.poll() is not None:
                break
        assert proc.wait(120) == 1  # one run failed
    finally:
        os.close(master)
    summary = "Fake study: all 2 runs ended · 1 done, 1 failed"
    assert re.findall(rb"\x1b\]9;([^\x07]*)\x07", out) == [f"hw2-tui: {summary}".encode()]
    assert re.findall(rb"\x1b\]777;notify;([^\x07]*)\x07", out) == [
        f"hw2-tui: Study ended;{summary}".encode()
    ]
    assert OSC.sub(b"", out).count(b"\x07") == 1  # the bell, once
    (line,) = [ln for ln in out.decode("utf-8", "replace").splitlines() if ln.startswith(summary)]
    assert re.fullmatch(re.escape(summary) + r" · in \d+:\d\d\s*", line), line
    assert wait_for(told.exists, timeout=30)
    assert json.loads(told.read_text()) == [line.strip()]


def test_a_piped_sweep_rings_nothing(runs_dir: Path, tmp_path: Path, write_config: WriteConfig) -> None:
    proc = cli("--runs-dir", str(runs_dir), "sweep", str(_fake_study(tmp_path, write_config)), "--yes")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("Fake study: all 2 runs ended · 1 done, 1 failed · in ")
    assert "\x07" not in proc.stdout + proc.stderr and "\x1b]" not in proc.stdout + proc.stderr
