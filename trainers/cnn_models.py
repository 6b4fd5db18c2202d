"""The CIFAR-10 networks of homework 2.2, as plain ``torch.nn.Module`` subclasses.

``cfg.model.name`` picks one (see :data:`MODELS`):

* ``base`` -> :class:`TutorialNet`: exactly the network of the PyTorch "Training a classifier"
  tutorial (conv 3->6 5x5, max-pool 2, conv 6->16 5x5, max-pool 2, fc 400->120->84->10, ReLU);
  62 006 parameters. Every other model is a controlled change of this one.
* ``no_relu`` -> :class:`NoReLUNet`: the same layers with every ReLU removed, so the whole network
  collapses to one affine map (the homework asks what the non-linearity buys).
* ``pool_conv`` -> :class:`PoolConvNet`: each max-pool replaced by a learned 2x2 stride-2
  convolution with the same channel count, followed by a ReLU. Feature-map sizes stay identical
  (28->14, 10->5), so only "fixed max vs learned downsampling" changes.
* ``deeper`` -> :class:`DeeperNet`: three VGG-style blocks (two padded 3x3 convolutions + max-pool),
  32/64/128 channels, then fc 2048->256->10 (``cfg.model.channels`` sets other block widths, one
  block per entry).
* ``regularized`` -> :class:`RegularizedNet`: the deeper net with BatchNorm after every convolution
  (``cfg.model.batch_norm``) and Dropout before the classifier's last layer (``cfg.model.dropout``)
  and after every block (``cfg.model.block_dropout``, by default the same rate).

Only ``regularized`` reads ``batch_norm``/``dropout``/``block_dropout``, only ``deeper``/``regularized`` ``channels``; :func:`ignored_model_options` names what a
config sets that its model ignores, so the trainer can say so in the log rather than silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

NUM_CLASSES = 10


class TutorialNet(nn.Module):
    """The PyTorch CIFAR-10 tutorial network (``Net`` in the tutorial), layer for layer."""

    def __init__(self, activation: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)  # 32 -> 28
        self.pool1 = self._downsample(6)  # 28 -> 14
        self.conv2 = nn.Conv2d(6, 16, 5)  # 14 -> 10
        self.pool2 = self._downsample(16)  # 10 -> 5
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, NUM_CLASSES)
        # One shared stateless module; Identity when the non-linearity is switched off.
        self.act: nn.Module = nn.ReLU() if activation else nn.Identity()

    def _downsample(self, channels: int) -> nn.Module:
        return nn.MaxPool2d(2, 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The convolutional part: (N, 3, 32, 32) -> (N, 16, 5, 5)."""
        x = self.pool1(self.act(self.conv1(x)))
        return self.pool2(self.act(self.conv2(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.features(x), 1)
        x = self.act(self.fc1(x))
        x = self.act(self.fc2(x))
        return self.fc3(x)


class NoReLUNet(TutorialNet):
    """:class:`TutorialNet` without any ReLU: a purely linear (affine) classifier in disguise."""

    def __init__(self) -> None:
        super().__init__(activation=False)


class PoolConvNet(TutorialNet):
    """:class:`TutorialNet` with each max-pool replaced by a 2x2 stride-2 convolution (+ ReLU).

    The replacement keeps the channel count and halves the spatial size exactly like the pool it
    replaces, so every intermediate feature map has the same shape as in the tutorial net. The ReLU
    after it keeps two linear layers (downsampling conv, next conv) from fusing into one.
    """

    def _downsample(self, channels: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(channels, channels, kernel_size=2, stride=2), nn.ReLU())


def _conv_block(cin: int, cout: int, batch_norm: bool, dropout: float) -> nn.Sequential:
    """Two padded 3x3 convolutions (size kept) + 2x2 max-pool (size halved)."""
    layers: list[nn.Module] = []
    for c_in in (cin, cout):
        # No conv bias when BatchNorm follows: BN's shift makes it redundant.
        layers.append(nn.Conv2d(c_in, cout, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.MaxPool2d(2, 2))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class DeeperNet(nn.Module):
    """VGG-style blocks (by default 32, 64, 128 channels; 32->16->8->4) and a two-layer classifier.

    ``widths`` gives one block per entry; each halves the image, so the classifier sees
    ``widths[-1] * (32 / 2**len(widths))**2`` features. Past five blocks nothing is left to pool:
    the network is built, and its first forward pass fails (as torch's max-pool says).
    """

    WIDTHS = (32, 64, 128)

    def __init__(
        self,
        batch_norm: bool = False,
        dropout: float = 0.0,
        widths: tuple[int, ...] | None = None,
        block_dropout: float | None = None,
    ) -> None:
        super().__init__()
        blocks = []
        cin = 3
        for w in widths or self.WIDTHS:
            blocks.append(
                _conv_block(cin, w, batch_norm, dropout if block_dropout is None else block_dropout)
            )
            cin = w
        self.features = nn.Sequential(*blocks)
        side = max(32 >> len(blocks), 1)  # past five blocks: sized for 1x1, the forward pass fails first
        head: list[nn.Module] = [nn.Flatten(), nn.Linear(cin * side * side, 256), nn.ReLU(inplace=True)]
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(256, NUM_CLASSES))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class RegularizedNet(DeeperNet):
    """:class:`DeeperNet` with BatchNorm and/or Dropout, as the config asks."""


def _widths(model_cfg: Any) -> tuple[int, ...] | None:
    channels = getattr(model_cfg, "channels", None)
    return tuple(channels) if channels else None


MODELS: dict[str, Callable[[Any], nn.Module]] = {
    "base": lambda m: TutorialNet(),
    "no_relu": lambda m: NoReLUNet(),
    "pool_conv": lambda m: PoolConvNet(),
    "deeper": lambda m: DeeperNet(widths=_widths(m)),
    "regularized": lambda m: RegularizedNet(
        batch_norm=m.batch_norm, dropout=m.dropout, widths=_widths(m), block_dropout=m.block_dropout
    ),
}


def build_model(cfg: Any) -> nn.Module:
    """The network named by ``cfg.model.name`` (an ``ExperimentConfig``, or anything with ``.model``)."""
    model_cfg = cfg.model
    try:
        factory = MODELS[model_cfg.name]
    except KeyError:
        raise ValueError(
            f"model.name: unknown CNN model {model_cfg.name!r}; fix: use one of {', '.join(MODELS)}"
        ) from None
    return factory(model_cfg)


def ignored_model_options(cfg: Any) -> list[str]:
    """Model options the config sets that its model does not use (for a log warning)."""
    m = cfg.model
    if m.name == "regularized":
        return []
    ignored = [] if m.name == "deeper" or not getattr(m, "channels", None) else ["model.channels"]
    if m.batch_norm:
        ignored.append("model.batch_norm")
    if m.dropout:
        ignored.append("model.dropout")
    if getattr(m, "block_dropout", None) is not None:
        ignored.append("model.block_dropout")
    return ignored


def count_params(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
