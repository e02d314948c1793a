"""Squeeze-and-excitation (Hu et al. 2018, §3): global pooling, a bottleneck MLP as 1×1 convs, a gate."""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.layers.activations import ActLayer, create_act
from cnnzoo.layers.helpers import make_divisible


class SqueezeExcite(nn.Module):
    """Channel attention: ``x * gate(fc2(act(fc1(avgpool(x)))))``.

    The reduced width is ``rd_channels`` if given, else ``channels * rd_ratio`` (optionally rounded
    with ``make_divisible(…, rd_divisor)``). SE-ResNet uses ratio 1/16 (§6.1), MobileNetV3 1/4 of the
    expanded width with a hard-sigmoid gate (§5.3), EfficientNet 1/4 of the block's *input* width.
    """

    def __init__(
        self,
        channels: int,
        rd_ratio: float = 1 / 16,
        rd_channels: int | None = None,
        rd_divisor: int = 1,
        act_layer: ActLayer = nn.ReLU,
        gate_layer: ActLayer = nn.Sigmoid,
    ) -> None:
        super().__init__()
        if rd_channels is None:
            rd_channels = make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.0) \
                if rd_divisor > 1 else max(1, int(channels * rd_ratio))
        self.fc1 = nn.Conv2d(channels, rd_channels, 1, bias=True)
        self.act = create_act(act_layer)
        self.fc2 = nn.Conv2d(rd_channels, channels, 1, bias=True)
        self.gate = create_act(gate_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        s = self.fc2(self.act(self.fc1(s)))
        return x * self.gate(s)
