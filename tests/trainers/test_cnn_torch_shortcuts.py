"""The torch-internals start-up shortcuts (``trainers/torch_shortcuts.py``), per torch version.

On a torch in ``VERIFIED_TORCH`` the shortcuts must engage (or the start-up gain measured in
bench/RESULTS.md silently disappears); on any torch they must give torch's own results, and a
run that compiles nothing must never import the compiler where they engage.

The file name sorts before test_mlp.py on purpose: comparing with torch's own ``optimizer.step``
imports ``torch._dynamo`` (and triton), which crashes a process that has loaded TensorFlow (the
MLP tests load it into the pytest process).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from hw2.schema import ExperimentConfig
from tests.conftest import PROJECT_ROOT, modules_after
from tests.trainers.test_cnn import _cfg_dict
from trainers import cnn
from trainers.torch_shortcuts import VERIFIED_TORCH, eager_step, torch_minor

VERIFIED = torch_minor() in VERIFIED_TORCH


@pytest.mark.parametrize("version", VERIFIED_TORCH)
def test_the_shortcuts_engage_on_a_verified_torch(version: str) -> None:
    """One test per verified torch version; it runs where that version is installed."""
    if torch_minor() != version:
        pytest.skip(f"torch {torch.__version__} installed, not {version}")
    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    assert eager_step(opt) != opt.step  # the wrappers look as expected: the shortcut is taken
    code = "from trainers.torch_shortcuts import skip_lazy_dynamo_import\nprint(skip_lazy_dynamo_import())\n"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "4"  # add_param_group, zero_grad, state_dict, load_state_dict


@pytest.mark.parametrize(("name", "wd"), [("sgd", 0.0), ("momentum", 0.0), ("adam", 0.0), ("adam", 0.01)])
def test_eager_step_is_the_same_step(name: str, wd: float) -> None:
    cfg = ExperimentConfig.model_validate(_cfg_dict(optimizer={"name": name, "lr": 0.05, "weight_decay": wd}))
    torch.manual_seed(0)
    a, b = torch.nn.Linear(6, 3), torch.nn.Linear(6, 3)
    b.load_state_dict(a.state_dict())
    opt_a, opt_b = (
        cnn.make_optimizer(a.parameters(), cfg.optimizer),
        cnn.make_optimizer(b.parameters(), cfg.optimizer),
    )
    step_a = eager_step(opt_a)
    if VERIFIED:  # elsewhere the fallback (torch's own step) is allowed: results must match either way
        assert step_a != opt_a.step
    x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
    for _ in range(4):
        for model, opt, step in ((a, opt_a, step_a), (b, opt_b, opt_b.step)):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            step()
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert not torch.equal(a.weight, torch.nn.Linear(6, 3).weight)


def test_eager_step_keeps_hooks() -> None:
    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    opt.register_step_post_hook(lambda *a: None)
    assert eager_step(opt) == opt.step  # a hook must run: the normal step is used


def test_a_run_that_compiles_nothing_never_imports_the_compiler() -> None:
    """torch.optim imports torch._dynamo (2-3 s of CPU start-up) unless the trainer avoids it."""
    if not VERIFIED:
        pytest.skip(
            f"torch {torch.__version__}: the shortcuts are verified on {', '.join(VERIFIED_TORCH)} only"
        )
    code = (
        "import torch\n"
        "from trainers import cnn\n"
        "from hw2.schema import ExperimentConfig\n"
        f"cfg = ExperimentConfig.model_validate({_cfg_dict(optimizer={'name': 'momentum', 'lr': 0.1})!r})\n"
        "from trainers.torch_shortcuts import skip_lazy_dynamo_import\n"
        "skip_lazy_dynamo_import()\n"
        "m = torch.nn.Linear(4, 2)\n"
        "opt = cnn.make_optimizer(m.parameters(), cfg.optimizer)\n"
        "step = cnn.eager_step(opt)\n"
        "for _ in range(2):\n"
        "    opt.zero_grad()\n"
        "    m(torch.randn(3, 4)).sum().backward()\n"
        "    step()\n"
        "opt.state_dict()\n"
    )
    loaded = modules_after(code)
    assert "torch.optim" in loaded  # the probe works
    assert "torch._dynamo" not in loaded
