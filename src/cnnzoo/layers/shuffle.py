"""Channel shuffle (ShuffleNet, Zhang et al. 2017, §3.1 and Fig. 1).

After a grouped convolution each output group only saw one input group; shuffling lets the next
grouped convolution mix information across groups. With ``g`` groups of ``n`` channels:
reshape the channels to ``(g, n)``, transpose to ``(n, g)``, flatten back.
"""

from __future__ import annotations

import torch
from torch import nn


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Shuffle the channels of ``x`` (N, C, H, W) across ``groups`` (C must be divisible by it)."""
    n, c, h, w = x.shape
    if c % groups:
        raise ValueError(f"channel_shuffle: {c} channels cannot be split into {groups} groups")
    x = x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous()
    return x.view(n, c, h, w)


class ChannelShuffle(nn.Module):
    """Module form of :func:`channel_shuffle`."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
