"""ResNeSt: Split-Attention Networks (Zhang et al. 2020).

A ResNet-D (deep 3×3 stem, average-pool shortcuts; §4 "Network Tweaks") whose bottleneck 3×3
convolution is a split-attention block (§3, ``cnnzoo.layers.SplitAttention``): cardinality K groups,
each split ``radix`` R ways, recombined by an r-softmax attention. Strided units move the stride
from the 3×3 convolution to a 3×3 average pool after it ("avd", §4 "Average Downsampling").

The table below gives each variant as released with the paper: units per
stage, stem width (32 for the "d" models, 64 for the deeper "e" ones), radix R, cardinality K,
bottleneck width per group, and whether the average pool comes before the split attention.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cnnzoo.layers import DropPath, SplitAttention
from cnnzoo.layers.drop_path import add_residual
from cnnzoo.models.resnet import ResNet
from cnnzoo.registry import register_model

# variant → (units in stages 1–4, stem width, radix, cardinality, width per group, avd first)
RESNEST_VARIANTS: dict[str, tuple[tuple[int, int, int, int], int, int, int, int, bool]] = {
    "resnest14d": ((1, 1, 1, 1), 32, 2, 1, 64, False),
    "resnest26d": ((2, 2, 2, 2), 32, 2, 1, 64, False),
    "resnest50d": ((3, 4, 6, 3), 32, 2, 1, 64, False),
    "resnest101e": ((3, 4, 23, 3), 64, 2, 1, 64, False),
    "resnest200e": ((3, 24, 36, 3), 64, 2, 1, 64, False),
    "resnest269e": ((3, 30, 48, 8), 64, 2, 1, 64, False),
    # ablation variants ("RsKxWd": radix R, cardinality K, width W per group)
    "resnest50d_4s2x40d": ((3, 4, 6, 3), 32, 4, 2, 40, True),
    "resnest50d_1s4x24d": ((3, 4, 6, 3), 32, 1, 4, 24, True),
}


class ResNeStBottleneck(nn.Module):
    """1×1 reduce → split-attention 3×3 (+ 3×3 average pool when strided) → 1×1 expand ×4 (Fig. 4).

    The split-attention block carries its own BN + ReLU, so no ``bn2`` follows it. Plugged into
    ``ResNet(block=…)`` with ``block_args=dict(radix=…, avd=…, avd_first=…)``.
    """

    expansion = 4

    def __init__(self, in_chs: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, attn_layer: object = None, drop_path: float = 0.0,
                 radix: int = 2, avd: bool = True, avd_first: bool = False, **_: object) -> None:
        super().__init__()
        if attn_layer is not None:
            raise ValueError("ResNeStBottleneck has its own attention; attn_layer must be None")
        width = int(planes * (base_width / 64.0)) * groups
        out_chs = planes * self.expansion
        pool_stride = stride if avd and stride > 1 else 0
        self.conv1 = nn.Conv2d(in_chs, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.avd_first = nn.AvgPool2d(3, pool_stride, 1) if pool_stride and avd_first else None
        self.conv2 = SplitAttention(width, width, 3, 1 if pool_stride else stride, groups=groups, radix=radix)
        self.avd_last = nn.AvgPool2d(3, pool_stride, 1) if pool_stride and not avd_first else None
        self.conv3 = nn.Conv2d(width, out_chs, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_chs)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.drop_path = DropPath(drop_path) if drop_path else nn.Identity()

    def zero_init_last(self) -> None:
        """Zero the last BN's scale so that the unit starts as an identity (Goyal et al. 2017)."""
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        if self.avd_first is not None:
            out = self.avd_first(out)
        out = self.conv2(out)
        if self.avd_last is not None:
            out = self.avd_last(out)
        out = self.bn3(self.conv3(out))
        return self.relu(add_residual(self.drop_path(out), shortcut))


def resnest(variant: str, **kwargs: Any) -> ResNet:
    """A ResNeSt of ``RESNEST_VARIANTS`` with ``ResNet`` options."""
    layers, stem_width, radix, groups, base_width, avd_first = RESNEST_VARIANTS[variant]
    return ResNet(ResNeStBottleneck, layers, groups=groups, base_width=base_width, stem_type="deep",
                  stem_width=stem_width, avg_down=True,
                  block_args=dict(radix=radix, avd=True, avd_first=avd_first), **kwargs)


_ZHANG = "Zhang et al. 2020, ResNeSt: Split-Attention Networks"


@register_model(paper=_ZHANG, reference="timm")
def resnest14d(**kwargs: Any) -> ResNet:
    """ResNeSt-14d (2s1x64d, one unit per stage): 10,611,688 parameters."""
    return resnest("resnest14d", **kwargs)


@register_model(paper=_ZHANG, reference="timm")
def resnest26d(**kwargs: Any) -> ResNet:
    """ResNeSt-26d (2s1x64d): 17,069,448 parameters."""
    return resnest("resnest26d", **kwargs)


@register_model(paper=_ZHANG, reference="timm")
def resnest50d(**kwargs: Any) -> ResNet:
    """ResNeSt-50 (2s1x64d, stem width 32): 27,483,240 parameters."""
    return resnest("resnest50d", **kwargs)


@register_model(paper=_ZHANG, reference="timm", input_size=(3, 256, 256))
def resnest101e(**kwargs: Any) -> ResNet:
    """ResNeSt-101 (stem width 64, trained at 256 px): 48,275,016 parameters."""
    return resnest("resnest101e", **kwargs)


@register_model(paper=_ZHANG, reference="timm", input_size=(3, 320, 320))
def resnest200e(**kwargs: Any) -> ResNet:
    """ResNeSt-200 (stem width 64, trained at 320 px): 70,201,544 parameters."""
    return resnest("resnest200e", **kwargs)


@register_model(paper=_ZHANG, reference="timm", input_size=(3, 416, 416))
def resnest269e(**kwargs: Any) -> ResNet:
    """ResNeSt-269 (stem width 64, trained at 416 px): 110,929,480 parameters."""
    return resnest("resnest269e", **kwargs)


@register_model(paper=_ZHANG, reference="timm")
def resnest50d_4s2x40d(**kwargs: Any) -> ResNet:
    """ResNeSt-50 4s2x40d (radix 4, cardinality 2, avg pool first): 30,417,592 parameters."""
    return resnest("resnest50d_4s2x40d", **kwargs)


@register_model(paper=_ZHANG, reference="timm")
def resnest50d_1s4x24d(**kwargs: Any) -> ResNet:
    """ResNeSt-50 1s4x24d (radix 1: sigmoid gates, cardinality 4, avg pool first): 25,677,000
    parameters."""
    return resnest("resnest50d_1s4x24d", **kwargs)
