"""Shapes and parameter counts of the homework-2.2 networks (no data, no training)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from trainers.cnn_models import (
    MODELS,
    DeeperNet,
    NoReLUNet,
    PoolConvNet,
    RegularizedNet,
    TutorialNet,
    build_model,
    count_params,
    ignored_model_options,
)


def _cfg(
    name: str, batch_norm: bool = False, dropout: float = 0.0, block_dropout: float | None = None
) -> SimpleNamespace:
    return SimpleNamespace(
        model=SimpleNamespace(name=name, batch_norm=batch_norm, dropout=dropout, block_dropout=block_dropout)
    )


def _shapes(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Output shape of every named submodule for input ``x``."""
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        m.register_forward_hook(lambda mod, inp, out, name=name: shapes.__setitem__(name, tuple(out.shape)))
        for name, m in model.named_modules()
        if name
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return shapes


def test_tutorial_net_is_the_tutorials_network() -> None:
    net = TutorialNet()
    # conv1 456 + conv2 2 416 + fc1 48 120 + fc2 10 164 + fc3 850
    assert count_params(net) == 62_006
    assert (net.conv1.in_channels, net.conv1.out_channels, net.conv1.kernel_size) == (3, 6, (5, 5))
    assert (net.conv2.in_channels, net.conv2.out_channels, net.conv2.kernel_size) == (6, 16, (5, 5))
    assert [(fc.in_features, fc.out_features) for fc in (net.fc1, net.fc2, net.fc3)] == [
        (400, 120),
        (120, 84),
        (84, 10),
    ]
    assert isinstance(net.pool1, nn.MaxPool2d) and isinstance(net.act, nn.ReLU)
    shapes = _shapes(net, torch.zeros(2, 3, 32, 32))
    assert shapes["conv1"] == (2, 6, 28, 28)
    assert shapes["pool1"] == (2, 6, 14, 14)
    assert shapes["conv2"] == (2, 16, 10, 10)
    assert shapes["pool2"] == (2, 16, 5, 5)
    assert shapes["fc3"] == (2, 10)


def test_no_relu_net_has_no_nonlinearity_and_is_affine() -> None:
    net = NoReLUNet()
    assert count_params(net) == 62_006
    assert not any(isinstance(m, nn.ReLU) for m in net.modules())
    # Max-pool is the only non-linear part left; on inputs where pooling windows agree the net is affine:
    # f(a x) - f(0) == a (f(x) - f(0)) for constant images (every window holds equal values).
    torch.manual_seed(0)
    x = torch.full((1, 3, 32, 32), 0.7)
    zero = torch.zeros_like(x)
    with torch.no_grad():
        lhs = net(3 * x) - net(zero)
        rhs = 3 * (net(x) - net(zero))
    assert torch.allclose(lhs, rhs, atol=1e-5)


def test_pool_conv_net_keeps_every_feature_map_size() -> None:
    x = torch.zeros(3, 3, 32, 32)
    pool_shapes = _shapes(TutorialNet(), x)
    conv_net = PoolConvNet()
    conv_shapes = _shapes(conv_net, x)
    for name in ("conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3"):
        assert conv_shapes[name] == pool_shapes[name], name
    assert conv_shapes["pool1"] == (3, 6, 14, 14) and conv_shapes["pool2"] == (3, 16, 5, 5)
    downs = [m for m in conv_net.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert [(d.in_channels, d.out_channels, d.kernel_size) for d in downs] == [
        (6, 6, (2, 2)),
        (16, 16, (2, 2)),
    ]
    assert not any(isinstance(m, nn.MaxPool2d) for m in conv_net.modules())
    # the two learned downsamplers add (6*6*4 + 6) + (16*16*4 + 16) parameters
    assert count_params(conv_net) == 62_006 + 150 + 1_040


def test_deeper_net_shapes() -> None:
    net = DeeperNet()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 6 and all(c.padding == (1, 1) for c in convs)
    shapes = _shapes(net, torch.zeros(2, 3, 32, 32))
    assert [shapes[f"features.{i}"] for i in range(3)] == [(2, 32, 16, 16), (2, 64, 8, 8), (2, 128, 4, 4)]
    assert shapes["classifier"] == (2, 10)
    assert count_params(net) > 10 * 62_006  # "deeper" is a real step up in capacity
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.Dropout)) for m in net.modules())


@pytest.mark.parametrize(("batch_norm", "dropout"), [(True, 0.3), (False, 0.5), (True, 0.0), (False, 0.0)])
def test_regularized_net_follows_config(batch_norm: bool, dropout: float) -> None:
    net = build_model(_cfg("regularized", batch_norm, dropout))
    assert isinstance(net, RegularizedNet)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    drops = [m for m in net.modules() if isinstance(m, nn.Dropout)]
    assert len(bns) == (6 if batch_norm else 0)
    assert len(drops) == (4 if dropout else 0)
    assert all(d.p == dropout for d in drops)
    # BatchNorm makes conv biases redundant: they are dropped
    assert all((c.bias is None) == batch_norm for c in net.modules() if isinstance(c, nn.Conv2d))
    net.eval()
    assert _shapes(net, torch.zeros(2, 3, 32, 32))["classifier"] == (2, 10)
    if dropout:  # train mode is stochastic, eval mode is not
        net.train()
        x = torch.randn(4, 3, 32, 32)
        assert not torch.equal(net(x), net(x))


@pytest.mark.parametrize(
    ("block_dropout", "in_blocks"), [(0.0, []), (0.1, [0.1, 0.1, 0.1]), (None, [0.3] * 3)]
)
def test_block_dropout_sets_the_blocks_alone(block_dropout: float | None, in_blocks: list[float]) -> None:
    """block_dropout sets the rate after each conv block (0: none there); the classifier keeps
    model.dropout; unset, the blocks follow model.dropout."""
    net = build_model(_cfg("regularized", True, 0.3, block_dropout))
    assert [m.p for m in net.features.modules() if isinstance(m, nn.Dropout)] == in_blocks
    assert [m.p for m in net.classifier.modules() if isinstance(m, nn.Dropout)] == [0.3]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_build_model_every_name_gives_logits(name: str) -> None:
    torch.manual_seed(0)
    net = build_model(_cfg(name))
    out = net(torch.randn(5, 3, 32, 32))
    assert out.shape == (5, 10) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_build_model_unknown_name_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match=r"model.name: unknown CNN model 'resnet'; fix: use one of base"):
        build_model(_cfg("resnet"))


def test_ignored_model_options_named() -> None:
    assert ignored_model_options(_cfg("base", batch_norm=True, dropout=0.2)) == [
        "model.batch_norm",
        "model.dropout",
    ]
    assert ignored_model_options(_cfg("regularized", batch_norm=True, dropout=0.2, block_dropout=0.0)) == []
    assert ignored_model_options(_cfg("deeper", block_dropout=0.0)) == ["model.block_dropout"]
    assert ignored_model_options(_cfg("deeper")) == []
