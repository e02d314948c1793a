"""Convolution padding: symmetric "PyTorch-style" padding by default, TensorFlow "SAME" as an option.

TensorFlow pads asymmetrically (more at the bottom/right) when the kernel and stride do not divide
evenly, so weights trained in TensorFlow (the "tf_" EfficientNets) need ``padding="same"`` to give
the same outputs in PyTorch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.layers.helpers import to_2tuple


def symmetric_padding(kernel_size: int, stride: int = 1, dilation: int = 1) -> int:
    """The symmetric padding that keeps ``ceil(size / stride)`` outputs for odd kernels."""
    return ((stride - 1) + dilation * (kernel_size - 1)) // 2


def same_padding_amounts(size: int, kernel_size: int, stride: int, dilation: int) -> tuple[int, int]:
    """TF "SAME": total padding so that output = ceil(size / stride), split with the extra at the end."""
    total = max((math.ceil(size / stride) - 1) * stride + (kernel_size - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel_size: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int] = (1, 1), value: float = 0.0) -> torch.Tensor:
    """Pad ``x`` (N, C, H, W) the way TensorFlow's "SAME" does."""
    ph = same_padding_amounts(x.shape[-2], kernel_size[0], stride[0], dilation[0])
    pw = same_padding_amounts(x.shape[-1], kernel_size[1], stride[1], dilation[1])
    if ph == (0, 0) and pw == (0, 0):
        return x
    return F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=value)


def _is_static_same(kernel_size: int, stride: int, dilation: int) -> bool:
    # With stride 1 and an odd receptive field TF "SAME" is symmetric and can be static.
    return stride == 1 and (dilation * (kernel_size - 1)) % 2 == 0


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding computed from the input size at run time."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, dilation: int | tuple[int, int] = 1,
                 groups: int = 1, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, groups, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_same(x, self.kernel_size, self.stride, self.dilation)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MaxPool2dSame(nn.MaxPool2d):
    """MaxPool2d with TensorFlow "SAME" padding (pads with -inf)."""

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        super().__init__(kernel_size, stride if stride is not None else kernel_size, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = to_2tuple(self.kernel_size), to_2tuple(self.stride)
        x = pad_same(x, k, s, value=float("-inf"))
        return F.max_pool2d(x, k, s, 0)


def create_conv2d(in_chs: int, out_chs: int, kernel_size: int | tuple[int, int], stride: int = 1,
                  dilation: int = 1, groups: int = 1, bias: bool = False, padding: str | int = "") -> nn.Conv2d:
    """A 2-D convolution with ``padding`` = ``""`` (symmetric), ``"same"`` (TensorFlow) or an int.

    A tuple kernel (e.g. ``(1, 7)`` for Inception's factorised filters) gets per-axis padding.
    """
    if isinstance(kernel_size, tuple) and padding in ("", None):
        pad = tuple(symmetric_padding(k, stride, dilation) for k in kernel_size)
        return nn.Conv2d(in_chs, out_chs, kernel_size, stride, pad, dilation, groups, bias)
    if isinstance(padding, int):
        return nn.Conv2d(in_chs, out_chs, kernel_size, stride, padding, dilation, groups, bias)
    if padding == "same":
        k = kernel_size if isinstance(kernel_size, int) else max(kernel_size)
        if isinstance(kernel_size, int) and _is_static_same(k, stride, dilation):
            pad = symmetric_padding(k, stride, dilation)
            return nn.Conv2d(in_chs, out_chs, kernel_size, stride, pad, dilation, groups, bias)
        return Conv2dSame(in_chs, out_chs, kernel_size, stride, dilation, groups, bias)
    if padding in ("", None):
        pad = symmetric_padding(kernel_size, stride, dilation)
        return nn.Conv2d(in_chs, out_chs, kernel_size, stride, pad, dilation, groups, bias)
    raise ValueError(f"padding must be '' (symmetric), 'same' (TensorFlow) or an int, got {padding!r}")
