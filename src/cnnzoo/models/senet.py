"""Squeeze-and-Excitation Networks (Hu et al. 2018): SE-ResNet, SE-ResNeXt and SENet-154.

An SE block (§3) recalibrates the channels of each residual unit's branch: global average pooling
("squeeze"), a bottleneck of two fully-connected layers with reduction ratio r = 16 (§6.1), and a
sigmoid gate ("excitation") that scales every channel. In a residual unit it sits after the branch's
last BN and before the addition of the shortcut (Fig. 3, "SE-ResNet module"), which is where
``ResNet``'s ``attn_layer`` puts it.

The networks are ResNet / ResNeXt of Table 1 of the ResNet paper with SE added to every unit.
SENet-154 (Appendix) is a 64×4d SE-ResNeXt-152 with a deep stem of three 3×3
convolutions (64, 64, 128), halved first 1×1 convolutions in the units, and 3×3 strided
projection shortcuts.
"""

from __future__ import annotations

from typing import Any

from cnnzoo.layers import SqueezeExcite
from cnnzoo.models.resnet import RESNET_DEPTHS, ResNet
from cnnzoo.registry import register_model

SE_REDUCTION = 16  # §6.1
# The reduced width is rounded to a multiple of 8 (as in timm's weights; it only matters for the
# 64-channel units of SE-ResNet-18/34, where 64 / 16 = 4 becomes 8).
SE_DIVISOR = 8

# variant → (depth of Table 1, cardinality, bottleneck width per group)
SE_RESNETS: dict[str, tuple[int, int, int]] = {
    "seresnet18": (18, 1, 64),
    "seresnet34": (34, 1, 64),
    "seresnet50": (50, 1, 64),
    "seresnet101": (101, 1, 64),
    "seresnet152": (152, 1, 64),
    "seresnext50_32x4d": (50, 32, 4),
    "seresnext101_32x4d": (101, 32, 4),
}

# SENet-154 (Appendix): 152 layers of SE-ResNeXt 64×4d plus the changes listed there.
SENET154 = dict(layers=(3, 8, 36, 3), groups=64, base_width=4, stem_type="deep", stem_width=64,
                down_kernel_size=3, block_args=dict(reduce_first=2))


def se_attention(channels: int) -> SqueezeExcite:
    """The SE block of §3 with r = 16 (``attn_layer`` of every residual unit)."""
    return SqueezeExcite(channels, rd_ratio=1.0 / SE_REDUCTION, rd_divisor=SE_DIVISOR)


def se_resnet(variant: str, **kwargs: Any) -> ResNet:
    """An SE-ResNet / SE-ResNeXt of ``SE_RESNETS`` with ``ResNet`` options."""
    depth, groups, base_width = SE_RESNETS[variant]
    block, layers = RESNET_DEPTHS[depth]
    return ResNet(block, layers, groups=groups, base_width=base_width, attn_layer=se_attention, **kwargs)


_SENET = "Hu et al. 2018, Squeeze-and-Excitation Networks (CVPR)"


@register_model(paper=_SENET, reference="timm")
def seresnet18(**kwargs: Any) -> ResNet:
    """SE-ResNet-18: 11,779,624 parameters."""
    return se_resnet("seresnet18", **kwargs)


@register_model(paper=_SENET, reference="timm")
def seresnet34(**kwargs: Any) -> ResNet:
    """SE-ResNet-34: 21,960,416 parameters."""
    return se_resnet("seresnet34", **kwargs)


@register_model(paper=_SENET, reference="timm")
def seresnet50(**kwargs: Any) -> ResNet:
    """SE-ResNet-50: 28,088,024 parameters."""
    return se_resnet("seresnet50", **kwargs)


@register_model(paper=_SENET, reference="timm")
def seresnet101(**kwargs: Any) -> ResNet:
    """SE-ResNet-101: 49,326,872 parameters."""
    return se_resnet("seresnet101", **kwargs)


@register_model(paper=_SENET, reference="timm")
def seresnet152(**kwargs: Any) -> ResNet:
    """SE-ResNet-152: 66,821,848 parameters."""
    return se_resnet("seresnet152", **kwargs)


@register_model(paper=_SENET, reference="timm")
def seresnext50_32x4d(**kwargs: Any) -> ResNet:
    """SE-ResNeXt-50 (32×4d): 27,559,896 parameters."""
    return se_resnet("seresnext50_32x4d", **kwargs)


@register_model(paper=_SENET, reference="timm")
def seresnext101_32x4d(**kwargs: Any) -> ResNet:
    """SE-ResNeXt-101 (32×4d): 48,955,416 parameters."""
    return se_resnet("seresnext101_32x4d", **kwargs)


@register_model(paper=_SENET, reference="timm")
def senet154(**kwargs: Any) -> ResNet:
    """SENet-154: SE-ResNeXt-152 64×4d with a deep stem, halved first 1×1 convolutions and 3×3
    projection shortcuts; 115,088,984 parameters."""
    block, _ = RESNET_DEPTHS[152]
    return ResNet(block, attn_layer=se_attention, **SENET154, **kwargs)
