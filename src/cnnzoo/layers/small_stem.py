"""The first convolution of the small-image (CIFAR / Fashion-MNIST) ResNets and WRNs."""

from __future__ import annotations

from torch import nn


def small_image_stem(in_chans: int, out_chs: int, stride: int = 1, kernel: int | None = None) -> nn.Conv2d:
    """The papers' 3×3 stride-1 convolution (ResNet §4.2, WRN Table 1); with ``stride=2`` a 2×2
    stride-2 "patchify" convolution (not in the papers) that runs the whole network at half the
    resolution, about 4× fewer multiply-adds; with ``kernel=2`` at stride 1 a 2×2 convolution without
    padding (airbench's whitening stem, Jordan 2024: 4 pixels per patch, so ``whiten_stem`` amplifies
    fewer near-zero-variance directions than with 9; 28 → 27 pixels). No bias: batch norm follows."""
    kernel = kernel or (3 if stride == 1 else 2)
    if stride == 1 and kernel in (2, 3):
        return nn.Conv2d(in_chans, out_chs, kernel, 1, kernel // 2 if kernel == 3 else 0, bias=False)
    if stride == 2 and kernel == 2:
        return nn.Conv2d(in_chans, out_chs, 2, 2, 0, bias=False)
    raise ValueError(f"stem_stride/stem_kernel must be 1/3 (the paper's 3×3 conv), 1/2 (2×2 without padding) or "
                     f"2/2 (2×2 patchify), got {stride}/{kernel}")
