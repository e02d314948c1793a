"""ResNet (He et al. 2016), ResNet-D (He et al. 2019, "Bag of Tricks"), ResNeXt (Xie et al. 2017) and
Wide ResNet (Zagoruyko & Komodakis 2016) for ImageNet.

Table 1 of the ResNet paper, as data: one row per depth, giving the residual unit and the number of
units in conv2_x … conv5_x. The stage widths are 64, 128, 256, 512 (×4 at the bottleneck output);
every stage but the first halves the resolution in its first unit.

The ``ResNet`` class also carries the options of its descendants — grouped 3×3 (ResNeXt §3.3), a
wider bottleneck (Wide ResNet), squeeze-and-excitation (SE-ResNet), a deep stem and average-pool
shortcuts (ResNet-D) and pluggable units (ResNeSt's split attention) — so that those families are
tables over this one builder.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import nn

from cnnzoo.layers import ClassifierHead, DropPath, SqueezeExcite, drop_path_rates
from cnnzoo.layers.drop_path import add_residual
from cnnzoo.layers.init import init_conv_norm_linear
from cnnzoo.layers.pooling import MaxPool2d
from cnnzoo.models._base import ZooModel
from cnnzoo.registry import register_model

STAGE_WIDTHS = (64, 128, 256, 512)
STAGE_STRIDES = (1, 2, 2, 2)

AttnLayer = Callable[[int], nn.Module] | None


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with an identity (or projection) shortcut (ResNet Fig. 2, left)."""

    expansion = 1

    def __init__(self, in_chs: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, attn_layer: AttnLayer = None,
                 drop_path: float = 0.0, **_: object) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock supports only groups=1 and base_width=64")
        self.conv1 = nn.Conv2d(in_chs, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se = attn_layer(planes) if attn_layer else None
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.drop_path = DropPath(drop_path) if drop_path else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        return self.relu(add_residual(self.drop_path(out), shortcut))


class Bottleneck(nn.Module):
    """1×1 reduce → 3×3 (grouped for ResNeXt) → 1×1 expand ×4 (ResNet Fig. 5, right).

    The stride sits on the 3×3 convolution ("ResNet v1.5", ResNet-D's path A). The 3×3 width is
    ``planes · base_width / 64 · groups``: ResNeXt's cardinality C and bottleneck width d, Wide
    ResNet's doubled width.
    """

    expansion = 4

    def __init__(self, in_chs: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, attn_layer: AttnLayer = None,
                 drop_path: float = 0.0, reduce_first: int = 1, **_: object) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        first = width // reduce_first
        out_chs = planes * self.expansion
        self.conv1 = nn.Conv2d(in_chs, first, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(first)
        self.conv2 = nn.Conv2d(first, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_chs, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_chs)
        self.se = attn_layer(out_chs) if attn_layer else None
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.drop_path = DropPath(drop_path) if drop_path else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        return self.relu(add_residual(self.drop_path(out), shortcut))


def projection_shortcut(in_chs: int, out_chs: int, stride: int, avg_down: bool = False,
                        kernel_size: int = 1) -> nn.Sequential:
    """The shortcut where shape changes: a strided 1×1 projection (ResNet option B), or ResNet-D's
    2×2 average pool followed by a stride-1 1×1 projection, which sees every input pixel (§4.1).
    ``kernel_size`` > 1 (SENet-154's 3×3) applies to strided shortcuts only."""
    if avg_down:
        pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) if stride > 1 else nn.Identity()
        return nn.Sequential(pool, nn.Conv2d(in_chs, out_chs, 1, bias=False), nn.BatchNorm2d(out_chs))
    if stride == 1:  # a kernel wider than 1×1 is only used where the shortcut also down-samples
        kernel_size = 1
    pad = (kernel_size - 1) // 2
    return nn.Sequential(nn.Conv2d(in_chs, out_chs, kernel_size, stride, pad, bias=False), nn.BatchNorm2d(out_chs))


def deep_stem(in_chans: int, widths: tuple[int, int, int]) -> nn.Sequential:
    """ResNet-C/D's stem: three 3×3 convolutions (the first strided) instead of one 7×7 (§4.2)."""
    a, b, c = widths
    return nn.Sequential(
        nn.Conv2d(in_chans, a, 3, 2, 1, bias=False), nn.BatchNorm2d(a), nn.ReLU(inplace=True),
        nn.Conv2d(a, b, 3, 1, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True),
        nn.Conv2d(b, c, 3, 1, 1, bias=False),
    )


class ResNet(ZooModel):
    """Stem → four stages of residual units → global average pool → linear.

    Args:
        block: the residual unit (``BasicBlock``, ``Bottleneck`` or a compatible class).
        layers: units per stage (Table 1).
        groups, base_width: ResNeXt cardinality and per-group width (Wide ResNet: base_width 128).
        stem_type: ``""`` for the 7×7 stem, ``"deep"`` for three 3×3 convolutions of ``stem_width``.
        avg_down: ResNet-D average-pool shortcut.
        down_kernel_size: kernel of the projection shortcut (SENet-154 uses 3).
        attn_layer: per-unit channel attention, e.g. squeeze-and-excitation.
        block_args: extra keywords for every unit (ResNeSt's radix, …).
    """

    def __init__(
        self,
        block: type[nn.Module],
        layers: tuple[int, int, int, int],
        num_classes: int = 1000,
        in_chans: int = 3,
        groups: int = 1,
        base_width: int = 64,
        stem_type: str = "",
        stem_width: int = 64,
        avg_down: bool = False,
        down_kernel_size: int = 1,
        attn_layer: AttnLayer = None,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        block_args: dict | None = None,
    ) -> None:
        super().__init__(in_chans, num_classes, min_size=32)
        if stem_type not in ("", "deep"):
            raise ValueError(f"stem_type must be '' or 'deep', got {stem_type!r}")
        inplanes = stem_width * 2 if stem_type == "deep" else 64
        if stem_type == "deep":
            self.conv1 = deep_stem(in_chans, (stem_width, stem_width, inplanes))
        else:
            self.conv1 = nn.Conv2d(in_chans, inplanes, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = MaxPool2d(3, 2, 1)
        self.feature_info.append(dict(num_chs=inplanes, reduction=2, module="relu"))

        rates = iter(drop_path_rates(sum(layers), drop_path_rate))
        reduction = 4
        for i, (planes, stride, n) in enumerate(zip(STAGE_WIDTHS, STAGE_STRIDES, layers, strict=True)):
            out_chs = planes * block.expansion
            units = []
            for j in range(n):
                s = stride if j == 0 else 1
                downsample = None
                if j == 0 and (s != 1 or inplanes != out_chs):
                    downsample = projection_shortcut(inplanes, out_chs, s, avg_down, down_kernel_size)
                units.append(block(inplanes, planes, s, downsample, groups=groups, base_width=base_width,
                                   attn_layer=attn_layer, drop_path=next(rates), **(block_args or {})))
                inplanes = out_chs
            reduction *= stride
            setattr(self, f"layer{i + 1}", nn.Sequential(*units))
            self.feature_info.append(dict(num_chs=out_chs, reduction=reduction, module=f"layer{i + 1}"))
        self.head = ClassifierHead(inplanes, num_classes, drop_rate=drop_rate)
        self._init_weights()

    def _init_weights(self) -> None:
        init_conv_norm_linear(self)
        # Zero-init the last BN of each residual branch (Goyal et al. 2017): units start as identities.
        for m in self.modules():
            last = getattr(m, "bn3", None) if isinstance(m, Bottleneck) else getattr(m, "bn2", None)
            if isinstance(m, (Bottleneck, BasicBlock)) and isinstance(last, nn.BatchNorm2d):
                nn.init.zeros_(last.weight)
            elif callable(getattr(m, "zero_init_last", None)):  # plugged-in units (ResNeSt) say how
                m.zero_init_last()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


# Table 1: depth → (residual unit, units in conv2_x … conv5_x)
RESNET_DEPTHS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
    200: (Bottleneck, (3, 24, 36, 3)),
}


def resnet(depth: int, **kwargs) -> ResNet:
    """A ResNet of one of the depths of Table 1 (18, 34, 50, 101, 152, 200) with ``ResNet`` options."""
    if depth not in RESNET_DEPTHS:
        raise ValueError(f"ResNet depth must be one of {sorted(RESNET_DEPTHS)}, got {depth}")
    block, layers = RESNET_DEPTHS[depth]
    return ResNet(block, layers, **kwargs)


def se_layer(reduction: int = 16) -> Callable[[int], nn.Module]:
    """Squeeze-and-excitation with reduction ratio r (SENet §6.1: r = 16) for ``attn_layer``."""
    return partial(SqueezeExcite, rd_ratio=1.0 / reduction)


_HE = "He et al. 2016, Deep Residual Learning (CVPR)"
_RESNET_D = "He et al. 2019, Bag of Tricks for Image Classification (ResNet-D)"
_RESNEXT = "Xie et al. 2017, Aggregated Residual Transformations (ResNeXt)"
_WRN = "Zagoruyko & Komodakis 2016, Wide Residual Networks"


@register_model(paper=_HE, reference="torchvision")
def resnet18(**kwargs: Any) -> ResNet:
    """ResNet-18: 11,689,512 parameters."""
    return resnet(18, **kwargs)


@register_model(paper=_HE, reference="torchvision")
def resnet34(**kwargs: Any) -> ResNet:
    """ResNet-34: 21,797,672 parameters."""
    return resnet(34, **kwargs)


@register_model(paper=_HE, reference="torchvision")
def resnet50(**kwargs: Any) -> ResNet:
    """ResNet-50: 25,557,032 parameters."""
    return resnet(50, **kwargs)


@register_model(paper=_HE, reference="torchvision")
def resnet101(**kwargs: Any) -> ResNet:
    """ResNet-101: 44,549,160 parameters."""
    return resnet(101, **kwargs)


@register_model(paper=_HE, reference="torchvision")
def resnet152(**kwargs: Any) -> ResNet:
    """ResNet-152: 60,192,808 parameters."""
    return resnet(152, **kwargs)


@register_model(paper=_RESNET_D, reference="timm")
def resnet50d(**kwargs: Any) -> ResNet:
    """ResNet-50-D: deep 3×3 stem (32, 32, 64) and average-pool shortcuts; 25,576,264 parameters."""
    return resnet(50, stem_type="deep", stem_width=32, avg_down=True, **kwargs)


@register_model(paper=_RESNEXT, reference="torchvision")
def resnext50_32x4d(**kwargs: Any) -> ResNet:
    """ResNeXt-50 (32×4d): cardinality 32, bottleneck width 4; 25,028,904 parameters."""
    return resnet(50, groups=32, base_width=4, **kwargs)


@register_model(paper=_RESNEXT, reference="torchvision")
def resnext101_32x8d(**kwargs: Any) -> ResNet:
    """ResNeXt-101 (32×8d): 88,791,336 parameters."""
    return resnet(101, groups=32, base_width=8, **kwargs)


@register_model(paper=_RESNEXT, reference="torchvision")
def resnext101_64x4d(**kwargs: Any) -> ResNet:
    """ResNeXt-101 (64×4d): 83,455,272 parameters."""
    return resnet(101, groups=64, base_width=4, **kwargs)


@register_model(paper=_WRN, reference="torchvision")
def wide_resnet50_2(**kwargs: Any) -> ResNet:
    """Wide ResNet-50-2: bottleneck 3×3 twice as wide; 68,883,240 parameters."""
    return resnet(50, base_width=128, **kwargs)


@register_model(paper=_WRN, reference="torchvision")
def wide_resnet101_2(**kwargs: Any) -> ResNet:
    """Wide ResNet-101-2: 126,886,696 parameters."""
    return resnet(101, base_width=128, **kwargs)
