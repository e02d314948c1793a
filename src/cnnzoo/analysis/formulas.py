"""Closed-form costs the papers argue with: weights, multiply-adds and memory access cost (MAC).

These are the formulas of the seed papers written as functions, so that the per-layer profiler
(:mod:`cnnzoo.analysis.profiler`) can be checked against them and the worked numbers of the
papers become tests:

* a ``k×k`` convolution from ``c_in`` to ``c_out`` channels in ``g`` groups has
  ``k·k·(c_in/g)·c_out`` weights and costs that many multiply-adds per output position;
* a depthwise-separable convolution (MobileNet §3.1) replaces it by a ``k×k`` depthwise and a
  1×1 pointwise convolution;
* ShuffleNetV2 §2 (G1): a 1×1 convolution on an ``h×w`` map reads ``h·w·c1`` inputs, writes
  ``h·w·c2`` outputs and reads ``c1·c2`` weights, so ``MAC = hw(c1 + c2) + c1·c2``; at fixed
  FLOPs ``B = hw·c1·c2`` it is smallest when ``c1 = c2`` (``MAC ≥ 2·sqrt(hw·B) + B/hw``);
* ShuffleNetV2 (G2): a grouped 1×1 convolution has ``MAC = hw(c1 + c2) + c1·c2/g``; at fixed
  FLOPs ``B = hw·c1·c2/g`` that is ``hw·c1 + B·g/c1 + B/hw``, growing with ``g``;
* EfficientNet §3.3: depth ×α, width ×β, resolution ×γ scale FLOPs by ``α·β²·γ²`` (≈ 2 by the
  constraint of Eq. 3), so compound coefficient φ gives ≈ ``2**φ`` FLOPs.
"""

from __future__ import annotations

import math

__all__ = [
    "conv_params",
    "conv_macs",
    "depthwise_separable_params",
    "basic_block_params",
    "bottleneck_params",
    "conv1x1_mac",
    "conv1x1_mac_lower_bound",
    "grouped_conv1x1_mac",
    "grouped_conv1x1_mac_at_flops",
    "efficientnet_flops_factor",
]


def _check_groups(c_in: int, c_out: int, groups: int) -> None:
    if groups < 1 or c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide both c_in={c_in} and c_out={c_out}")


def conv_params(c_in: int, c_out: int, kernel_size: int | tuple[int, int], groups: int = 1,
                bias: bool = False) -> int:
    """Weights of a 2-D convolution: ``kh·kw·(c_in/groups)·c_out`` (+ ``c_out`` biases)."""
    _check_groups(c_in, c_out, groups)
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    return kh * kw * (c_in // groups) * c_out + (c_out if bias else 0)


def conv_macs(c_in: int, c_out: int, kernel_size: int | tuple[int, int], out_h: int, out_w: int,
              groups: int = 1) -> int:
    """Multiply-adds of a 2-D convolution: one per weight per output position."""
    return conv_params(c_in, c_out, kernel_size, groups) * out_h * out_w


def depthwise_separable_params(c_in: int, c_out: int, kernel_size: int = 3) -> int:
    """Weights of a ``k×k`` depthwise convolution followed by a 1×1 pointwise one (MobileNet §3.1)."""
    return conv_params(c_in, c_in, kernel_size, groups=c_in) + conv_params(c_in, c_out, 1)


def basic_block_params(channels: int) -> int:
    """Weights of ResNet's basic block: two 3×3 convolutions at ``channels`` (no norms, no shortcut)."""
    return 2 * conv_params(channels, channels, 3)


def bottleneck_params(channels: int, width: int) -> int:
    """Weights of ResNet's bottleneck: 1×1 down to ``width``, 3×3 at ``width``, 1×1 back to ``channels``."""
    return conv_params(channels, width, 1) + conv_params(width, width, 3) + conv_params(width, channels, 1)


def conv1x1_mac(h: int, w: int, c1: int, c2: int) -> int:
    """ShuffleNetV2 G1: memory access cost of a 1×1 convolution, ``hw(c1 + c2) + c1·c2`` elements."""
    return h * w * (c1 + c2) + c1 * c2


def conv1x1_mac_lower_bound(h: int, w: int, flops: int) -> float:
    """ShuffleNetV2 Eq. 1: ``MAC ≥ 2·sqrt(hw·B) + B/hw`` for a 1×1 convolution of ``B = hw·c1·c2`` FLOPs."""
    return 2 * math.sqrt(h * w * flops) + flops / (h * w)


def grouped_conv1x1_mac(h: int, w: int, c1: int, c2: int, groups: int) -> int:
    """ShuffleNetV2 G2: memory access cost of a grouped 1×1 convolution, ``hw(c1 + c2) + c1·c2/g``."""
    _check_groups(c1, c2, groups)
    return h * w * (c1 + c2) + c1 * c2 // groups


def grouped_conv1x1_mac_at_flops(h: int, w: int, c1: int, flops: int, groups: int) -> float:
    """ShuffleNetV2 Eq. 2: MAC of a grouped 1×1 conv of ``B`` FLOPs, ``hw·c1 + B·g/c1 + B/hw``."""
    return h * w * c1 + flops * groups / c1 + flops / (h * w)


def efficientnet_flops_factor(phi: float, alpha: float = 1.2, beta: float = 1.1, gamma: float = 1.15) -> float:
    """EfficientNet Eq. 3: FLOPs grow by ``(α·β²·γ²)**φ`` for compound coefficient φ (≈ ``2**φ``)."""
    return (alpha * beta**2 * gamma**2) ** phi
