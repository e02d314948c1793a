"""Wide residual networks for small images (Zagoruyko & Komodakis 2016, "Wide residual networks",
Table 1, §2).

WRN-d-k on 32×32 inputs:

    conv1  3×3, 16                                   32×32
    conv2  N × [3×3, 16k;  3×3, 16k]   stride 1      32×32
    conv3  N × [3×3, 32k;  3×3, 32k]   stride 2      16×16
    conv4  N × [3×3, 64k;  3×3, 64k]   stride 2       8×8
    BN-ReLU → global average pool → linear            N = (d - 4) / 6

Blocks are pre-activation basic blocks, B(3, 3): BN-ReLU-conv3×3-BN-ReLU-(dropout)-conv3×3 (§2,
"dropout in residual blocks" between the two convolutions: ``block_drop``). Convolutions have no
bias. The shortcut is the identity, except where the width or stride changes (the first block of each
group), where it is a 1×1 convolution; there, as in the authors' code, the block's first BN-ReLU is
shared by both paths (the projection sees the normalised input). ``drop_path_rate`` drops the
residual branch per sample (stochastic depth, growing linearly over the 3N blocks).

These are CIFAR/Fashion-MNIST models: default input (3, 32, 32) and 10 classes. The network's total
stride is 4, so inputs from 4×4 up work (28×28 Fashion-MNIST gives 7×7 final maps).

``stem_stride=2`` (not in the paper) makes conv1 a 2×2 convolution of stride 2, a "patchify" stem
that runs the three groups at half the resolution: about 4× fewer multiply-adds, the setting of
the fastest Fashion-MNIST recipe (``recipes/wrn_fast.yaml``).
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.layers import ClassifierHead, DropPath, drop_path_rates
from cnnzoo.layers.drop_path import add_residual
from cnnzoo.layers.init import init_conv_norm_linear
from cnnzoo.layers.small_stem import small_image_stem
from cnnzoo.models._base import ZooModel
from cnnzoo.registry import register_model

# Table 1: (width multiplier of 16, stride) for the three groups after the 16-channel conv1.
WRN_GROUPS = [(1, 1), (2, 2), (4, 2)]
WRN_STEM = 16


class WideBasicBlock(nn.Module):
    """Pre-activation B(3, 3) block: x + conv(ReLU(BN(dropout(conv(ReLU(BN(x))))))) (Fig. 1d)."""

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, block_drop: float = 0.0,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_chs)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_chs, out_chs, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chs)
        self.relu2 = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(block_drop) if block_drop else nn.Identity()
        self.conv2 = nn.Conv2d(out_chs, out_chs, 3, 1, 1, bias=False)
        project = in_chs != out_chs or stride != 1
        self.shortcut = nn.Conv2d(in_chs, out_chs, 1, stride, bias=False) if project else None
        self.drop_path = DropPath(drop_path) if drop_path else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(self.drop(self.relu2(self.bn2(out))))
        return add_residual(self.drop_path(out), shortcut)


class WideResNetCifar(ZooModel):
    """WRN-``depth``-``widen_factor`` (Table 1) for small images."""

    def __init__(self, depth: int = 28, widen_factor: int = 10, num_classes: int = 10, in_chans: int = 3,
                 drop_rate: float = 0.0, drop_path_rate: float = 0.0, block_drop: float = 0.0,
                 stem_stride: int = 1) -> None:
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6N + 4 with N >= 1 (10, 16, 22, 28, 40, …), got {depth}")
        if widen_factor < 1:
            raise ValueError(f"widen_factor must be >= 1, got {widen_factor}")
        super().__init__(in_chans, num_classes, min_size=4 * stem_stride)
        n = (depth - 4) // 6
        self.depth, self.widen_factor = depth, widen_factor
        self.conv1 = small_image_stem(in_chans, WRN_STEM, stem_stride)
        rates = iter(drop_path_rates(3 * n, drop_path_rate))
        chs, reduction = WRN_STEM, stem_stride
        for g, (mult, stride) in enumerate(WRN_GROUPS):
            width = WRN_STEM * widen_factor * mult
            blocks = []
            for i in range(n):
                blocks.append(WideBasicBlock(chs, width, stride if i == 0 else 1, block_drop, next(rates)))
                chs = width
            reduction *= stride
            self.add_module(f"layer{g + 1}", nn.Sequential(*blocks))
            # pre-activation: the last group's map is read after the final BN-ReLU
            module = f"layer{g + 1}" if g < len(WRN_GROUPS) - 1 else "act"
            self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=module))
        self.norm = nn.BatchNorm2d(chs)
        self.act = nn.ReLU(inplace=True)
        self.head = ClassifierHead(chs, num_classes, drop_rate=drop_rate)
        init_conv_norm_linear(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.act(self.norm(x))


_PAPER = "Zagoruyko & Komodakis 2016, Wide residual networks"


@register_model(paper=_PAPER, input_size=(3, 32, 32), num_classes=10)
def wrn28_10(num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 block_drop: float = 0.0, stem_stride: int = 1) -> WideResNetCifar:
    """WRN-28-10 (N = 4 blocks per group, widths 160-320-640): 36,479,194 parameters at 10 classes.

    ``block_drop`` is the dropout between the two convolutions of each block (the paper's 0.3 for
    its dropout results); ``drop_path_rate`` is stochastic depth over the 12 blocks; ``stem_stride=2``
    a 2×2 stride-2 stem (see the module docstring).
    """
    return WideResNetCifar(28, 10, num_classes, in_chans, drop_rate, drop_path_rate, block_drop, stem_stride)


@register_model(paper=_PAPER, input_size=(3, 32, 32), num_classes=10)
def wrn40_4(num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                block_drop: float = 0.0, stem_stride: int = 1) -> WideResNetCifar:
    """WRN-40-4 (N = 6 blocks per group, widths 64-128-256): 8,949,210 parameters at 10 classes.

    Options as :func:`wrn28_10`.
    """
    return WideResNetCifar(40, 4, num_classes, in_chans, drop_rate, drop_path_rate, block_drop, stem_stride)


@register_model(paper=_PAPER, input_size=(3, 32, 32), num_classes=10)
def wrn16_4(num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
            block_drop: float = 0.0, stem_stride: int = 1) -> WideResNetCifar:
    """WRN-16-4 (N = 2 blocks per group, widths 64-128-256; Table 4): 2,748,890 parameters at 10 classes.

    Options as :func:`wrn28_10`.
    """
    return WideResNetCifar(16, 4, num_classes, in_chans, drop_rate, drop_path_rate, block_drop, stem_stride)


@register_model(paper=_PAPER, input_size=(3, 32, 32), num_classes=10, pretrained_accuracy=0.9194)
def wrn10_2(num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
            block_drop: float = 0.0, stem_stride: int = 1) -> WideResNetCifar:
    """WRN-10-2 (N = 1 block per group, widths 32-64-128), the smallest member of Table 1's family.

    Options as :func:`wrn28_10`; with ``stem_stride=2`` it is the model of the fastest Fashion-MNIST recipe.
    """
    return WideResNetCifar(10, 2, num_classes, in_chans, drop_rate, drop_path_rate, block_drop, stem_stride)
