"""Patch-whitening initialisation of a network's first convolution.

The first layer is set to the whitening transform of the image patches it sees: the eigenvectors of
the patch covariance, each scaled by 1/√(eigenvalue + ε), as a +/- pair so that a following ReLU
passes both signs. Used frozen, it decorrelates the input before any learning happens, which speeds
up the first epochs (Coates & Ng 2011, §3; Jordan, "94 % on CIFAR-10 in 3.29 seconds on a single
GPU", 2024, §3.2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The model's first ``nn.Conv2d`` in module order (its stem)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m
    raise ValueError(f"{type(model).__name__} has no nn.Conv2d to whiten")


@torch.no_grad()
def patch_whitening_(conv: nn.Conv2d, images: torch.Tensor, eps: float = 1e-2, freeze: bool = True,
                     max_patches: int = 2_000_000) -> nn.Conv2d:
    """Set ``conv``'s filters to the patch-whitening transform of ``images`` (N, C, H, W), in place.

    Patches are taken with the convolution's own kernel, stride and padding, from as many leading
    images as give ``max_patches`` patches (bounding the memory at large sizes). The filters are the
    covariance's eigenvectors in order of decreasing variance, scaled by 1/√(λ + ``eps``), alternating
    +v, −v; a convolution with fewer than 2·C·k² output channels keeps the highest-variance directions,
    one with more repeats them. With ``freeze`` the weights stop receiving gradients (a bias, if any,
    stays trainable and is zeroed).
    """
    if conv.groups != 1 or conv.dilation != (1, 1):
        raise ValueError("patch whitening needs an ungrouped, undilated convolution, "
                         f"got groups={conv.groups}, dilation={conv.dilation}")
    if images.dim() != 4 or images.shape[1] != conv.in_channels:
        raise ValueError(f"expected images of shape (N, {conv.in_channels}, H, W), got {tuple(images.shape)}")
    kh, kw = conv.kernel_size
    pad = conv.padding
    if isinstance(pad, str):  # "valid" or "same" (odd kernels)
        pad = (kh // 2, kw // 2) if pad == "same" else (0, 0)
    sh, sw = conv.stride
    per_image = ((images.shape[2] + 2 * pad[0] - kh) // sh + 1) * ((images.shape[3] + 2 * pad[1] - kw) // sw + 1)
    images = images[: max(1, -(-max_patches // max(per_image, 1)))]  # enough images for max_patches patches
    patches = F.unfold(images.float().contiguous(), (kh, kw), padding=pad, stride=conv.stride)
    patches = patches.transpose(1, 2).reshape(-1, conv.in_channels * kh * kw).double()
    patches = patches - patches.mean(0)
    cov = patches.T @ patches / len(patches)
    eigvals, eigvecs = torch.linalg.eigh(cov)  # ascending
    eigvals, eigvecs = eigvals.flip(0), eigvecs.flip(1)
    filters = (eigvecs / torch.sqrt(eigvals.clamp_min(0) + eps)).T  # (d, d), one filter per row
    pairs = torch.stack([filters, -filters], 1).reshape(-1, filters.shape[1])  # +v1, -v1, +v2, ...
    reps = -(-conv.out_channels // len(pairs))
    weight = pairs.repeat(reps, 1)[: conv.out_channels]
    conv.weight.copy_(weight.reshape_as(conv.weight).to(conv.weight.dtype))
    if conv.bias is not None:
        conv.bias.zero_()
    if freeze:
        conv.weight.requires_grad_(False)
    return conv
