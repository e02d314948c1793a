"""SqueezeNext (Gholami et al. 2018, "SqueezeNext: Hardware-Aware Neural Network Design").

The block (§3, Fig. 2) reduces the cost of a ResNet block with a two-stage squeeze (1×1 to C/2,
then 1×1 to C/4 of the block's input width C), a low-rank separable 3×3 (a 3×1 then a 1×3
convolution, back to C/2), and a 1×1 expansion to the output width, added to the (possibly
projected) input. Every convolution is followed by batch norm and ReLU (and has a bias, as in the
reference Caffe models). A block that changes the width or strides squeezes less (stride 2: the
first 1×1 keeps C and strides; a narrowing block: C/4, C/8) and projects the shortcut with a 1×1
convolution. The 23-layer networks (§5) are a 7×7/2 convolution (64·w, padding 1 as in the reference)
and a 3×3/2 max pool, four stages of 32·w, 64·w, 128·w, 256·w channels with [6, 6, 8, 1] blocks (v1)
or [2, 4, 14, 1] blocks (v5, "more blocks in the early-stage-light layout", §6), a 1×1 convolution to
128·w, global average pooling and a fully connected layer.

There is no torchvision/timm reference. The parameter counts (ImageNet, 1000 classes, BN and biases
included) agree with those published by the imgclsmob project for its ports of the reference models,
and 1.0-SqNxt-23's 724,056 with the paper's 0.72 M (Table 2).
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.layers import ClassifierHead, ConvNormAct, DropPath, drop_path_rates
from cnnzoo.layers.drop_path import add_residual
from cnnzoo.layers.pooling import MaxPool2d
from cnnzoo.models._base import ZooModel
from cnnzoo.registry import register_model

# Stage widths of 1.0-SqNxt (each × w), blocks per stage for each version; the first block of every
# stage but the first has stride 2.
SQUEEZENEXT_WIDTHS = [32, 64, 128, 256]
SQUEEZENEXT_BLOCKS: dict[str, list[int]] = {
    "23": [6, 6, 8, 1],
    "23v5": [2, 4, 14, 1],
}
STEM_CHANNELS = 64
FINAL_CHANNELS = 128


def _conv(in_chs: int, out_chs: int, kernel_size: int | tuple[int, int], stride: int = 1) -> ConvNormAct:
    # conv (with bias) → BN → ReLU, as every layer of the reference models
    return ConvNormAct(in_chs, out_chs, kernel_size, stride, bias=True)


class SqueezeNextBlock(nn.Module):
    """Fig. 2: ``1×1 (C/2) → 1×1 (C/4) → 3×1 (C/2) → 1×3 (C/2) → 1×1 (out)`` + shortcut → ReLU."""

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        if stride == 2:
            reduction, project = 1, True
        elif in_chs > out_chs:
            reduction, project = 4, True
        else:
            reduction, project = 2, in_chs != out_chs
        mid = in_chs // reduction
        self.conv1 = _conv(in_chs, mid, 1, stride)
        self.conv2 = _conv(mid, mid // 2, 1)
        self.conv3 = _conv(mid // 2, mid, (3, 1))
        self.conv4 = _conv(mid, mid, (1, 3))
        self.conv5 = _conv(mid, out_chs, 1)
        self.shortcut = _conv(in_chs, out_chs, 1, stride) if project else nn.Identity()
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(x)
        x = self.conv5(self.conv4(self.conv3(self.conv2(self.conv1(x)))))
        return self.act(add_residual(self.drop_path(x), shortcut))


class SqueezeNext(ZooModel):
    """``stem`` 7×7/2 → ``pool`` 3×3/2 → ``stages.0``-``stages.3`` → ``final_conv`` 1×1 → ``head``."""

    def __init__(self, blocks: list[int], width: float = 1.0, num_classes: int = 1000, in_chans: int = 3,
                 drop_rate: float = 0.0, drop_path_rate: float = 0.0) -> None:
        super().__init__(in_chans, num_classes, min_size=32)
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width!r}")
        stem = int(STEM_CHANNELS * width)
        self.stem = ConvNormAct(in_chans, stem, 7, stride=2, padding=1, bias=True)
        self.pool = MaxPool2d(3, stride=2, ceil_mode=True)
        self.feature_info.append(dict(num_chs=stem, reduction=2, module="stem"))
        rates = iter(drop_path_rates(sum(blocks), drop_path_rate))
        chs, reduction = stem, 4
        stages: list[nn.Module] = []
        for i, (c, n) in enumerate(zip(SQUEEZENEXT_WIDTHS, blocks, strict=True)):
            out_chs = int(c * width)
            stride = 2 if i > 0 else 1
            units = []
            for j in range(n):
                units.append(SqueezeNextBlock(chs, out_chs, stride if j == 0 else 1, next(rates)))
                chs = out_chs
            stages.append(nn.Sequential(*units))
            reduction *= stride
            if i < len(blocks) - 1:
                self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=f"stages.{i}"))
        self.stages = nn.Sequential(*stages)
        final = int(FINAL_CHANNELS * width)
        self.final_conv = _conv(chs, final, 1)
        self.feature_info.append(dict(num_chs=final, reduction=reduction, module="final_conv"))
        self.head = ClassifierHead(final, num_classes, drop_rate=drop_rate)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_conv(self.stages(self.pool(self.stem(x))))


_PAPER = "Gholami et al. 2018, SqueezeNext (arXiv:1803.10615), Tables 2-3"


def _sqnxt(version: str, width: float, **kwargs) -> SqueezeNext:
    return SqueezeNext(SQUEEZENEXT_BLOCKS[version], width, **kwargs)


@register_model(paper=_PAPER, scaling={"width": 1.0})
def sqnxt23_1x(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
               drop_path_rate: float = 0.0) -> SqueezeNext:
    """1.0-SqNxt-23 (724,056 parameters; paper: 0.72 M)."""
    return _sqnxt("23", 1.0, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate,
                  drop_path_rate=drop_path_rate)


@register_model(paper=_PAPER, scaling={"width": 2.0})
def sqnxt23_2x(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
               drop_path_rate: float = 0.0) -> SqueezeNext:
    """2.0-SqNxt-23 (2,583,752 parameters)."""
    return _sqnxt("23", 2.0, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate,
                  drop_path_rate=drop_path_rate)


@register_model(paper=_PAPER, scaling={"width": 1.0})
def sqnxt23v5_1x(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0) -> SqueezeNext:
    """1.0-SqNxt-23v5 (921,816 parameters)."""
    return _sqnxt("23v5", 1.0, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate,
                  drop_path_rate=drop_path_rate)


@register_model(paper=_PAPER, scaling={"width": 2.0})
def sqnxt23v5_2x(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0) -> SqueezeNext:
    """2.0-SqNxt-23v5 (3,366,344 parameters)."""
    return _sqnxt("23v5", 2.0, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate,
                  drop_path_rate=drop_path_rate)
