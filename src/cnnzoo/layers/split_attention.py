"""Split attention (Zhang et al. 2020, ResNeSt §3.1–3.2): a grouped convolution split ``radix`` ways
per cardinal group, recombined by a softmax attention over the splits.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.layers.activations import ActLayer, create_act
from cnnzoo.layers.helpers import make_divisible


class RadixSoftmax(nn.Module):
    """r-softmax (ResNeSt §3.2, Eq. 3): attention weights over the ``radix`` splits of each channel.

    Input: logits of shape ``(N, cardinality · radix · w, …)`` laid out per cardinal group, the
    ``radix`` splits of a group one after another (what a grouped 1×1 convolution with ``cardinality``
    groups produces). Output: ``(N, radix, cardinality · w)``, where for every channel the ``radix``
    weights sum to 1. With ``radix == 1`` the "softmax" over a single split is a sigmoid gate (as in
    squeeze-and-excitation), as the paper specifies.
    """

    def __init__(self, radix: int, cardinality: int) -> None:
        super().__init__()
        if radix < 1 or cardinality < 1:
            raise ValueError(f"radix and cardinality must be >= 1, got radix={radix}, cardinality={cardinality}")
        self.radix = radix
        self.cardinality = cardinality

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if x.numel() // n % (self.radix * self.cardinality):
            raise ValueError(f"RadixSoftmax: {x.numel() // n} logits per sample do not split into "
                             f"cardinality {self.cardinality} × radix {self.radix}")
        if self.radix == 1:
            return torch.sigmoid(x.reshape(n, 1, -1))
        # (N, K, R, w): softmax over R, then order as (N, R, K·w) so that split r lines up with
        # the r-th block of the radix-split feature maps.
        x = x.reshape(n, self.cardinality, self.radix, -1).softmax(dim=2)
        return x.transpose(1, 2).reshape(n, self.radix, -1)

    def extra_repr(self) -> str:
        return f"radix={self.radix}, cardinality={self.cardinality}"


class SplitAttention(nn.Module):
    """The split-attention block of ResNeSt (Fig. 2 right, Fig. 4), in its radix-major form (§3.3).

    1. One k×k convolution with ``groups · radix`` groups turns ``in_chs`` into ``radix · out_chs``
       channels (then BN + ReLU): ``radix`` splits of ``out_chs`` channels each.
    2. The splits are summed (Eq. 1) and globally average-pooled (Eq. 2).
    3. Two grouped 1×1 convolutions (``groups`` = cardinality) with BN + ReLU between reduce to
       ``max(in_chs · radix · rd_ratio, 32)`` channels (rounded to ``rd_divisor``) and expand to
       ``radix · out_chs`` attention logits.
    4. r-softmax over the splits of each cardinal group, and the splits' weighted sum (Eq. 4).

    Module names (``conv``, ``bn0``, ``fc1``, ``bn1``, ``fc2``) mirror the reference state dict. As
    ``bn1`` normalises pooled vectors, training mode needs batches of more than one sample.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int | None = None,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        radix: int = 2,
        rd_ratio: float = 0.25,
        rd_channels: int | None = None,
        rd_divisor: int = 8,
        min_rd_channels: int = 32,
        act_layer: ActLayer = nn.ReLU,
    ) -> None:
        super().__init__()
        out_chs = out_chs or in_chs
        if radix < 1:
            raise ValueError(f"SplitAttention needs radix >= 1, got {radix}")
        if in_chs % (groups * radix) or out_chs % groups:
            raise ValueError(f"SplitAttention: in_chs={in_chs} must divide by groups·radix={groups * radix} "
                             f"and out_chs={out_chs} by groups={groups}")
        if rd_channels is None:
            rd_channels = make_divisible(in_chs * radix * rd_ratio, rd_divisor, min_value=min_rd_channels)
        self.radix = radix
        self.out_chs = out_chs
        mid_chs = out_chs * radix
        self.conv = nn.Conv2d(in_chs, mid_chs, kernel_size, stride, kernel_size // 2, groups=groups * radix,
                              bias=False)
        self.bn0 = nn.BatchNorm2d(mid_chs)
        self.act0 = create_act(act_layer)
        self.fc1 = nn.Conv2d(out_chs, rd_channels, 1, groups=groups)
        self.bn1 = nn.BatchNorm2d(rd_channels)
        self.act1 = create_act(act_layer)
        self.fc2 = nn.Conv2d(rd_channels, mid_chs, 1, groups=groups)
        self.rsoftmax = RadixSoftmax(radix, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act0(self.bn0(self.conv(x)))
        n, _, h, w = x.shape
        splits = x.reshape(n, self.radix, self.out_chs, h, w)
        gap = splits.sum(dim=1).mean((2, 3), keepdim=True)  # Eq. 1–2: fuse the splits, squeeze
        logits = self.fc2(self.act1(self.bn1(self.fc1(gap))))
        attn = self.rsoftmax(logits).reshape(n, self.radix, self.out_chs, 1, 1)
        return (splits * attn).sum(dim=1)  # Eq. 4: attention-weighted sum over the splits
