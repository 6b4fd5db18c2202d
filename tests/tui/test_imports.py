"""The TUI process never imports a training framework, and starts light."""

from __future__ import annotations

from tests.conftest import modules_after, top_level

FRAMEWORKS = ("torch", "tensorflow", "keras", "torchvision", "trainers")


def _imported_after(code: str) -> set[str]:
    return top_level(modules_after(code))


def test_importing_tui_app_imports_no_framework() -> None:
    mods = _imported_after("import tui.app")
    assert "textual" in mods  # the probe works
    assert not mods & set(FRAMEWORKS), mods & set(FRAMEWORKS)


def test_plotext_is_loaded_lazily() -> None:
    # plotext loads when the plots mount (after the first frame), not at import time
    mods = _imported_after("import tui.app")
    assert "plotext" not in mods and "textual_plotext" not in mods


def test_running_the_app_headless_imports_no_framework(tmp_path) -> None:
    code = (
        "import asyncio\n"
        "from pathlib import Path\n"
        "from tui.app import make_app\n"
        f"app = make_app(Path({str(tmp_path / 'runs')!r}), Path('configs'), start_scheduler=False)\n"
        "async def main():\n"
        "    async with app.run_test() as pilot:\n"
        "        while not (app.first_poll_done.is_set() and app.configs_loaded.is_set() and app.plots.ready):\n"
        "            await pilot.pause(0.05)\n"
        "        await pilot.pause(2.5)\n"  # a GPU poll and a tick
        "asyncio.run(main())"
    )
    mods = _imported_after(code)
    assert {"textual_plotext", "hw2"} <= mods
    assert not mods & set(FRAMEWORKS), mods & set(FRAMEWORKS)


def test_the_cli_loads_nothing_the_first_frame_does_not_need() -> None:
    # `hw2-tui` parses its arguments, then opens the app: neither may load the queue/launch
    # modules (and YAML with them) or importlib.metadata (for --version), ~90 ms of cold start.
    code = "import hw2.cli as cli\ncli.open_tui = lambda args: 0\nassert cli.main([]) == 0\nimport tui.app"
    mods = modules_after(code)
    assert {"hw2.cli", "hw2.contract", "tui.app", "textual"} <= mods  # the probe works
    eager = {"hw2.queue", "hw2.launch", "yaml", "importlib.metadata"} & mods
    assert not eager, eager
