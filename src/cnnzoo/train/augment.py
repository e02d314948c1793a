"""Augmentation of whole batches with kornia (float images in [0, 1], before normalisation).

Geometric and photometric policies are kornia modules; mixup and cutmix are kornia's
``RandomMixUpV2`` / ``RandomCutMixV2``, whose label rows ``[y, y_perm, λ]`` become soft targets
``(1−λ)·onehot(y) + λ·onehot(y_perm)`` (after label smoothing).
"""

from __future__ import annotations

import warnings

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from kornia.augmentation import auto
from torch import nn

__all__ = ["BatchAugment", "soft_targets"]

POLICIES = ("randaugment", "autoaugment", "trivialaugment")


class _GrayAsRGB(nn.Module):
    """Apply a colour policy to 1-channel images by expanding them to RGB and averaging back."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            return self.inner(x.expand(-1, 3, -1, -1)).mean(dim=1, keepdim=True)
        return self.inner(x)


class BatchAugment(nn.Module):
    """The training augmentation of one (progressive-learning) stage.

    Args:
        crop_padding: random translation by up to this many pixels (pad with zeros, random crop back).
        flip: random horizontal flip.
        policy: ``None``, ``"randaugment"`` (``ra_n`` ops of magnitude ``ra_m`` of 30), ``"autoaugment"``
            (the ImageNet policy) or ``"trivialaugment"``.
        erasing: probability of random erasing (Zhong et al.).
        mixup: mixup strength: λ ~ U(0, mixup) (kornia's range form); 0 disables.
        cutmix: probability weight of cutmix against mixup when both are on (0 disables cutmix).
    """

    def __init__(self, crop_padding: int = 0, flip: bool = False, policy: str | None = None, ra_n: int = 2,
                 ra_m: float = 9, erasing: float = 0.0, mixup: float = 0.0, cutmix: float = 0.0) -> None:
        super().__init__()
        ops: list[nn.Module] = []
        self.crop_padding = int(crop_padding)
        if flip:
            ops.append(K.RandomHorizontalFlip())
        if policy:
            policy = policy.lower()
            if policy == "randaugment":
                ops.append(_GrayAsRGB(auto.RandAugment(n=int(ra_n), m=int(round(ra_m)))))
            elif policy == "autoaugment":
                ops.append(_GrayAsRGB(auto.AutoAugment()))
            elif policy == "trivialaugment":
                ops.append(_GrayAsRGB(auto.TrivialAugment()))
            else:
                raise ValueError(f"unknown augmentation policy {policy!r}; choose {', '.join(POLICIES)}")
        if erasing > 0:
            ops.append(K.RandomErasing(p=float(erasing)))
        self.ops = nn.ModuleList(ops)
        self.mixup = float(mixup)
        self.cutmix = float(cutmix)
        if not 0 <= self.mixup <= 1:
            raise ValueError(f"mixup must be in [0, 1] (upper end of kornia's λ range), got {mixup}")
        self._mix = K.RandomMixUpV2(lambda_val=(0.0, self.mixup), data_keys=["input", "class"]) if self.mixup else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._cut = K.RandomCutMixV2(data_keys=["input", "class"], use_correct_lambda=True) if cutmix else None

    @torch.no_grad()
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Augment ``x`` (B, C, H, W) in [0, 1]; returns images and the mix rows ``(B, 3)`` or None."""
        if self.crop_padding:
            h, w = x.shape[-2:]
            x = K.RandomCrop((h, w), padding=self.crop_padding)(x)
        for op in self.ops:
            x = op(x)
        mix = None
        use_cut = self._cut is not None and (self._mix is None or
                                              torch.rand(()) < self.cutmix / (self.cutmix + 1.0))
        if use_cut:
            x, rows = self._cut(x, y)
            mix = rows[0] if rows.ndim == 3 else rows
        elif self._mix is not None:
            x, mix = self._mix(x, y)
        return x.clamp_(0, 1), mix


def soft_targets(y: torch.Tensor, num_classes: int, smoothing: float, mix: torch.Tensor | None) -> torch.Tensor:
    """One-hot targets with label smoothing, mixed by the ``[y, y_perm, λ]`` rows of mixup/cutmix."""
    def onehot(labels: torch.Tensor) -> torch.Tensor:
        t = F.one_hot(labels.long(), num_classes).float()
        return t * (1 - smoothing) + smoothing / num_classes

    if mix is None:
        return onehot(y)
    lam = mix[:, 2:3].float()
    return onehot(mix[:, 0]) * (1 - lam) + onehot(mix[:, 1]) * lam
