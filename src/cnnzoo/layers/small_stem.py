"""The first convolution of the small-image (CIFAR / Fashion-MNIST) ResNets and WRNs."""

from __future__ import annotations

from torch import nn


def small_image_stem(in_chans: int, out_chs: int, stride: int = 1) -> nn.Conv2d:
    """The papers' 3×3 stride-1 convolution (ResNet §4.2, WRN Table 1), or with ``stride=2`` a 2×2
    stride-2 "patchify" convolution (not in the papers) that runs the whole network at half the
    resolution, about 4× fewer multiply-adds. No bias: batch norm follows."""
    if stride == 1:
        return nn.Conv2d(in_chans, out_chs, 3, 1, 1, bias=False)
    if stride == 2:
        return nn.Conv2d(in_chans, out_chs, 2, 2, 0, bias=False)
    raise ValueError(f"stem_stride must be 1 (the paper's 3×3 conv) or 2 (2×2 patchify), got {stride}")
