"""VGG (Simonyan & Zisserman 2015, "Very deep convolutional networks for large-scale image
recognition", Table 1).

Every configuration is five stages of 3×3 convolutions (stride 1, padding 1, ReLU), each stage
closed by a 2×2/2 max-pool, then the classifier: two hidden layers of 4096 with dropout 0.5 (§3.1)
and the output layer. Only the number of convolutions per stage differs between Table 1's columns.
The ``_bn`` variants add batch normalisation after each convolution (not in the paper; torchvision's
variants). As in torchvision, the last feature map is pooled adaptively to 7×7 (the paper's map at
224×224), so any input from 32×32 up gives the classifier the same 25,088 features.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.layers import ClassifierHead
from cnnzoo.layers.init import init_conv_norm_linear
from cnnzoo.layers.pooling import MaxPool2d
from cnnzoo.models._base import ZooModel
from cnnzoo.registry import register_model

# Table 1: width of each stage, and 3×3 convolutions per stage in columns A, B, D and E.
VGG_WIDTHS = (64, 128, 256, 512, 512)
VGG_CONFIGS: dict[str, tuple[int, ...]] = {
    "A": (1, 1, 2, 2, 2),  # VGG-11
    "B": (2, 2, 2, 2, 2),  # VGG-13
    "D": (2, 2, 3, 3, 3),  # VGG-16
    "E": (2, 2, 4, 4, 4),  # VGG-19
}
VGG_HIDDEN = (4096, 4096)
VGG_POOL = 7


class VGG(ZooModel):
    """Plain stacks of 3×3 convolutions; ``features`` is a flat Sequential (torchvision's indices)."""

    def __init__(self, config: str, num_classes: int = 1000, in_chans: int = 3, batch_norm: bool = False,
                 hidden_drop: float = 0.5) -> None:
        if config not in VGG_CONFIGS:
            raise ValueError(f"unknown VGG configuration {config!r}; Table 1 columns: {', '.join(VGG_CONFIGS)}")
        super().__init__(in_chans, num_classes, min_size=32)  # five 2×2 pools
        layers: list[nn.Module] = []
        chs = in_chans
        for stage, (width, convs) in enumerate(zip(VGG_WIDTHS, VGG_CONFIGS[config], strict=True)):
            for _ in range(convs):
                layers.append(nn.Conv2d(chs, width, kernel_size=3, padding=1))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(width))
                layers.append(nn.ReLU(inplace=True))
                chs = width
            layers.append(MaxPool2d(kernel_size=2, stride=2))
            pool = f"features.{len(layers) - 1}"
            self.feature_info.append(dict(num_chs=chs, reduction=2 ** (stage + 1), module=pool))
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(chs, num_classes, pool_size=VGG_POOL, hidden=VGG_HIDDEN, hidden_drop=hidden_drop)
        init_conv_norm_linear(self, linear_std=0.01)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def _vgg(config: str, batch_norm: bool, num_classes: int, in_chans: int, drop_rate: float) -> VGG:
    return VGG(config, num_classes, in_chans, batch_norm=batch_norm, hidden_drop=drop_rate)


_PAPER = "Simonyan & Zisserman 2015, Very deep convolutional networks for large-scale image recognition"


@register_model(paper=_PAPER, reference="torchvision")
def vgg11(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5) -> VGG:
    """VGG-11 (Table 1, column A): 132,863,336 parameters.

    ``drop_rate`` is the dropout on the two hidden layers' outputs (the paper's 0.5).
    """
    return _vgg("A", False, num_classes, in_chans, drop_rate)


@register_model(paper=_PAPER, reference="torchvision")
def vgg13(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5) -> VGG:
    """VGG-13 (Table 1, column B): 133,047,848 parameters.

    ``drop_rate`` is the dropout on the two hidden layers' outputs (the paper's 0.5).
    """
    return _vgg("B", False, num_classes, in_chans, drop_rate)


@register_model(paper=_PAPER, reference="torchvision")
def vgg16(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5) -> VGG:
    """VGG-16 (Table 1, column D): 138,357,544 parameters.

    ``drop_rate`` is the dropout on the two hidden layers' outputs (the paper's 0.5).
    """
    return _vgg("D", False, num_classes, in_chans, drop_rate)


@register_model(paper=_PAPER, reference="torchvision")
def vgg19(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5) -> VGG:
    """VGG-19 (Table 1, column E): 143,667,240 parameters.

    ``drop_rate`` is the dropout on the two hidden layers' outputs (the paper's 0.5).
    """
    return _vgg("E", False, num_classes, in_chans, drop_rate)


@register_model(paper=_PAPER, reference="torchvision")
def vgg11_bn(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5) -> VGG:
    """VGG-11 with batch norm: 132,868,840 parameters.

    ``drop_rate`` is the dropout on the two hidden layers' outputs (the paper's 0.5).
    """
    return _vgg("A", True, num_classes, in_chans, drop_rate)


@register_model(paper=_PAPER, reference="torchvision")
def vgg13_bn(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5) -> VGG:
    """VGG-13 with batch norm: 133,053,736 parameters.

    ``drop_rate`` is the dropout on the two hidden layers' outputs (the paper's 0.5).
    """
    return _vgg("B", True, num_classes, in_chans, drop_rate)


@register_model(paper=_PAPER, reference="torchvision")
def vgg16_bn(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5) -> VGG:
    """VGG-16 with batch norm: 138,365,992 parameters.

    ``drop_rate`` is the dropout on the two hidden layers' outputs (the paper's 0.5).
    """
    return _vgg("D", True, num_classes, in_chans, drop_rate)


@register_model(paper=_PAPER, reference="torchvision")
def vgg19_bn(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5) -> VGG:
    """VGG-19 with batch norm: 143,678,248 parameters.

    ``drop_rate`` is the dropout on the two hidden layers' outputs (the paper's 0.5).
    """
    return _vgg("E", True, num_classes, in_chans, drop_rate)
