"""The real ``hw2-tui`` in a pseudo-terminal tells the user when work ends, once per event.

The pty is the fake terminal: everything the app writes is read back as bytes. A study of two
fake runs (one fails at its first epoch, one ends done) is queued while the app is open, as from
another shell, and the scheduler runs them. The terminal must get, per event (the failure, the study's
end), the bell and one OSC 9 and one OSC 777 sequence, never twice; the toasts show;
``$HW2_NOTIFY_CMD`` gets each summary. An old failed run of the same study, already final when
the app starts, fires nothing. With ``HW2_NOTIFY=toast`` only the toasts remain.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bench.bench_tui import hw2_tui_cmd, spawn_in_pty, stop_pty_app, tui_env
from hw2.daemon import ensure_scheduler, scheduler_lock_held
from tests.reliability.conftest import enqueue_config, wait_until
from tests.tui.conftest import make_fixed_run

pytestmark = pytest.mark.usefixtures("fake_env", "cleanup_runs")

STUDY = "Notify study"
OSC = re.compile(rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>78]")
APPEND_ARGV = "import json, sys; open(sys.argv[1], 'a').write(json.dumps(sys.argv[2:]) + chr(10))"


class Terminal:
    """The app in a pty, its output read in a thread (a full pty would block the app)."""

    def __init__(self, runs_dir: Path, configs_dir: Path, env: dict[str, str]) -> None:
        argv = [*hw2_tui_cmd(runs_dir), "--configs-dir", str(configs_dir)]
        self.proc, self.master = spawn_in_pty(argv, 120, 36, env)
        self.out = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self.out += chunk

    def bytes(self) -> bytes:
        with self._lock:
            return bytes(self.out)

    def text(self) -> str:
        """What was written, escape sequences removed (toast texts are plain runs of characters)."""
        return ANSI.sub(b"", OSC.sub(b"", self.bytes())).decode("utf-8", "replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            os.write(self.master, b"q")
            try:
                self.proc.wait(20)
            except Exception:
                stop_pty_app(self.proc, self.master)
                return
        self._reader.join(5)
        os.close(self.master)


def _study(configs_dir: Path) -> Path:
    path = configs_dir / "notify-study.yaml"
    variants = [{"name": "good"}, {"name": "bad", "set": {"model.name": "fail"}}]
    path.write_text(yaml.safe_dump({"study": STUDY, "base": "fake-one.yaml", "variants": variants}))
    return path


@pytest.fixture
def terminal_env(runs_dir: Path, tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    told = tmp_path / "told.jsonl"
    env = tui_env(runs_dir)
    env["HW2_NOTIFY_CMD"] = f"{sys.executable} -c {APPEND_ARGV!r} {told}"
    env.pop("HW2_NOTIFY", None)
    yield env, told


def _run_study(runs_dir: Path, configs_dir: Path, env: dict[str, str], until: str) -> Terminal:
    """Start the app, queue the study once its first frame is up, wait for ``until`` on screen and
    for the scheduler to have exited (its runs over, several polls later), then quit the app."""
    make_fixed_run(runs_dir, "old-bad", "old-bad", "failed", epochs=3, done=1, study=STUDY)
    term = Terminal(runs_dir, configs_dir, env)
    try:
        wait_until(lambda: "old-bad" in term.text(), 60, "the app's first frame with the old run")
        enqueue_config(runs_dir, _study(configs_dir))
        ensure_scheduler(runs_dir)  # as `hw2-tui sweep --detach` from another shell
        wait_until(lambda: until in term.text(), 120, f"{until!r} on screen")
        wait_until(lambda: not scheduler_lock_held(runs_dir), 60, "the scheduler to exit")
    finally:
        term.close()
    return term


def _assert_toasts(text: str) -> None:
    assert "Run failed" in text and "Study ended" in text, text[-3000:]


def test_each_event_rings_and_notifies_once(
    runs_dir: Path, configs_dir: Path, terminal_env: tuple[dict[str, str], Path]
) -> None:
    env, told = terminal_env
    term = _run_study(runs_dir, configs_dir, env, until="Study ended")
    raw = term.bytes()
    osc9 = re.findall(rb"\x1b\]9;([^\x07]*)\x07", raw)
    osc777 = re.findall(rb"\x1b\]777;notify;([^\x07]*)\x07", raw)
    summary = f"{STUDY}: all 2 runs ended · 1 done, 1 failed"
    assert len(osc9) == 2 and len(osc777) == 2, (osc9, osc777)
    failure = osc9[0].decode()
    assert failure.startswith("hw2-tui: run ") and f"failed ({STUDY}): RuntimeError" in failure, failure
    assert osc9[1].decode() == f"hw2-tui: {summary}"
    assert osc777[0].decode() == f"hw2-tui: Run failed;{failure.removeprefix('hw2-tui: ')}"
    assert osc777[1].decode() == f"hw2-tui: Study ended;{summary}"
    assert OSC.sub(b"", raw).count(b"\x07") == 2  # one bell per event, nothing else rang
    _assert_toasts(term.text())
    wait_until(lambda: told.exists() and len(told.read_text().splitlines()) == 2, 30, "HW2_NOTIFY_CMD twice")
    lines = [json.loads(line) for line in told.read_text().splitlines()]
    assert lines == [[failure.removeprefix("hw2-tui: ")], [summary]]


def test_terminal_channels_off_write_nothing(
    runs_dir: Path, configs_dir: Path, terminal_env: tuple[dict[str, str], Path]
) -> None:
    env, told = terminal_env
    env["HW2_NOTIFY"] = "toast"
    term = _run_study(runs_dir, configs_dir, env, until="Study ended")
    raw = term.bytes()
    assert b"\x1b]9;" not in raw and b"\x1b]777;" not in raw
    assert OSC.sub(b"", raw).count(b"\x07") == 0
    _assert_toasts(term.text())
    assert not told.exists()
