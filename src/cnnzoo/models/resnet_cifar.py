"""ResNets for small images (He et al. 2016, "Deep residual learning", §4.2, CIFAR-10).

The paper's table for 32×32 inputs, depth 6n + 2:

    output map size   32×32    16×16    8×8
    # layers          1 + 2n   2n       2n
    # filters         16       32       64

A 3×3 convolution of 16 filters, then three stages of n basic blocks (two 3×3 convolutions, batch
norm after each, ReLU after the addition; the first block of the second and third stages has
stride 2), global average pooling and a 10-way linear layer. Shortcuts are identities; where the
width doubles the paper uses option A (§3.3): the input subsampled by 2 and zero-padded with the
new channels, so every ResNet here has exactly the parameters of its plain counterpart. Table 6:
ResNet-20 0.27 M, -32 0.46 M, -44 0.66 M, -56 0.85 M, -110 1.7 M parameters.

Options beyond the paper: ``shortcut="B"`` (1×1 projections, §3.3 option B), ``width`` (filters of
the first stage, doubled in each later one), ``stem_stride=2`` (a 2×2 stride-2 stem, as in
:mod:`cnnzoo.models.wide_resnet_cifar`) and ``stages=4`` (a fourth stage of 8× the filters at
stride 2, as the ImageNet ResNets have: the full-resolution first stage then costs less of the
width the last stages need).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.layers import ClassifierHead, drop_path_rates
from cnnzoo.layers.init import init_conv_norm_linear
from cnnzoo.layers.small_stem import small_image_stem
from cnnzoo.models._base import ZooModel
from cnnzoo.models.resnet import BasicBlock, projection_shortcut
from cnnzoo.registry import register_model

# §4.2: (filters as a multiple of the first stage's, stride of its first block) per stage
CIFAR_STAGES = [(1, 1), (2, 2), (4, 2)]
FOURTH_STAGE = (8, 2)  # stages=4 (not in the paper)


class ZeroPadShortcut(nn.Module):
    """Option A (§3.3): the identity, subsampled by ``stride`` and zero-padded to ``out_chs`` channels."""

    def __init__(self, in_chs: int, out_chs: int, stride: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, out_chs - in_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class ResNetCifar(ZooModel):
    """ResNet-``depth`` of §4.2 (depth = 6n + 2)."""

    def __init__(self, depth: int = 20, num_classes: int = 10, in_chans: int = 3, width: int = 16,
                 shortcut: str = "A", stem_stride: int = 1, stem_kernel: int | None = None, stages: int = 3,
                 drop_rate: float = 0.0, drop_path_rate: float = 0.0) -> None:
        if (depth - 2) % 6 or depth < 8:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2 with n >= 1 (8, 20, 32, 44, 56, 110, …), got {depth}")
        if shortcut not in ("A", "B"):
            raise ValueError(f"shortcut must be 'A' (zero-padded identity) or 'B' (1×1 projection), got {shortcut!r}")
        if stages not in (3, 4):
            raise ValueError(f"stages must be 3 (the paper's) or 4 (an extra stage at 8× the width), got {stages}")
        table = CIFAR_STAGES + [FOURTH_STAGE] * (stages - 3)
        super().__init__(in_chans, num_classes, min_size=2 ** (stages - 1) * stem_stride)
        n = (depth - 2) // 6
        self.conv1 = small_image_stem(in_chans, width, stem_stride, stem_kernel)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        rates = iter(drop_path_rates(stages * n, drop_path_rate))
        chs, reduction = width, stem_stride
        for i, (mult, stride) in enumerate(table):
            out_chs = width * mult
            blocks = []
            for j in range(n):
                s = stride if j == 0 else 1
                down = None
                if s != 1 or chs != out_chs:
                    down = ZeroPadShortcut(chs, out_chs, s) if shortcut == "A" else projection_shortcut(chs, out_chs, s)
                blocks.append(BasicBlock(chs, out_chs, s, down, drop_path=next(rates)))
                chs = out_chs
            reduction *= stride
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=f"layer{i + 1}"))
        self.num_stages = stages
        self.head = ClassifierHead(chs, num_classes, drop_rate=drop_rate)
        init_conv_norm_linear(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return x


_PAPER = "He et al. 2016, Deep Residual Learning (CVPR), §4.2"


@register_model(paper=_PAPER, input_size=(3, 32, 32), num_classes=10)
def resnet8(**kwargs: Any) -> ResNetCifar:
    """ResNet-8 (n = 1), the shallowest member of the 6n + 2 family (not in Table 6): 75,290 parameters.

    Options as :func:`resnet20`; ``width=32, shortcut="B", stem_stride=2`` is the model of the fastest
    Fashion-MNIST recipe (``recipes/resnet8_fast.yaml``), ``width=24, shortcut="B", stem_kernel=2, stages=4`` that of
    the 10-minute one (``recipes/resnet8_10min.yaml``).
    """
    return ResNetCifar(8, **kwargs)


@register_model(paper=_PAPER, input_size=(3, 32, 32), num_classes=10)
def resnet20(**kwargs: Any) -> ResNetCifar:
    """ResNet-20 (n = 3): 269,722 parameters at 10 classes (Table 6: 0.27 M).

    ``width``: filters of the first stage (16; ×2, ×4 in the next two); ``shortcut``: "A" zero-padded
    identities (the paper's) or "B" 1×1 projections; ``stem_stride=2``: a 2×2 stride-2 stem;
    ``stem_kernel=2`` (with ``stem_stride=1``): a 2×2 stem without padding; ``stages=4``: a fourth stage
    (8× the filters, stride 2).
    """
    return ResNetCifar(20, **kwargs)


@register_model(paper=_PAPER, input_size=(3, 32, 32), num_classes=10)
def resnet32(**kwargs: Any) -> ResNetCifar:
    """ResNet-32 (n = 5): 464,154 parameters (Table 6: 0.46 M). Options as :func:`resnet20`."""
    return ResNetCifar(32, **kwargs)


@register_model(paper=_PAPER, input_size=(3, 32, 32), num_classes=10)
def resnet44(**kwargs: Any) -> ResNetCifar:
    """ResNet-44 (n = 7): 658,586 parameters (Table 6: 0.66 M). Options as :func:`resnet20`."""
    return ResNetCifar(44, **kwargs)


@register_model(paper=_PAPER, input_size=(3, 32, 32), num_classes=10)
def resnet56(**kwargs: Any) -> ResNetCifar:
    """ResNet-56 (n = 9): 853,018 parameters (Table 6: 0.85 M). Options as :func:`resnet20`."""
    return ResNetCifar(56, **kwargs)


@register_model(paper=_PAPER, input_size=(3, 32, 32), num_classes=10)
def resnet110(**kwargs: Any) -> ResNetCifar:
    """ResNet-110 (n = 18): 1,727,962 parameters (Table 6: 1.7 M). Options as :func:`resnet20`."""
    return ResNetCifar(110, **kwargs)


__all__ = ["ResNetCifar", "ZeroPadShortcut", "CIFAR_STAGES", "FOURTH_STAGE", "resnet8", "resnet20", "resnet32",
           "resnet44", "resnet56", "resnet110"]
