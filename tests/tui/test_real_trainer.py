"""One real launch through the TUI: the Keras MLP trainer on a tiny MNIST, one epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.data.fixtures import write_mnist_idx
from tests.tui.conftest import put_tree_cursor, run_pilot, wait_for
from tui.app import make_app
from tui.widgets import NodeData

MLP_TINY = """\
name: mlp-tiny
trainer: mlp
seed: 0
data: {val_split: 0.25}
model: {name: mlp, hidden: [16]}
optimizer: {name: adam, lr: 0.01}
train: {epochs: 1, batch_size: 8, progress_every: 1}
perf: {threads: 1, jit_compile: false}
"""


@pytest.mark.slow
@pytest.mark.usefixtures("cleanup_runs")
def test_real_mlp_trainer_launched_from_the_tui_finishes(
    runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    write_mnist_idx(data / "mnist", n_train=64, n_test=16)
    monkeypatch.setenv("HW2_OFFLINE", "1")
    monkeypatch.setenv("HW2_DATA_DIR", str(data))
    monkeypatch.setenv("HW2_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HW2_CPU_SLOTS", "1")
    monkeypatch.setenv("HW2_SCHEDULER_IDLE", "1")
    monkeypatch.delenv("HW2_LOG_REDIRECTED", raising=False)
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "mlp-tiny.yaml").write_text(MLP_TINY)
    app = make_app(runs_dir, configs, poll_interval=0.2, gpu_stats=lambda: [])

    async def body(pilot: Any) -> None:
        await wait_for(pilot, app.configs_loaded.is_set, 30, "configs")
        node = next(n for n in app.tree.root.children if isinstance(n.data, NodeData))
        assert node.data.kind == "experiment", node.label
        await put_tree_cursor(pilot, app, node)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.runs) == 1, 15, "the new run")
        (st,) = app.runs.values()
        await wait_for(pilot, lambda: st.status in ("done", "failed", "killed"), 300, "the trainer")
        log = (Path(st.path) / "train.log").read_text(errors="replace")[-3000:]
        assert st.status == "done", (st.error, log)
        assert st.epochs_done == 1 and st.test_acc() is not None and 0.0 <= st.test_acc() <= 1.0
        assert str(app.table.get_cell(st.run_id, "status")) == "done"

    run_pilot(app, body)
