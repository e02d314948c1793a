"""Weight initialisation shared by the families."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def init_conv_norm_linear(model: nn.Module, conv_mode: str = "fan_out", linear_std: float | None = None) -> None:
    """He-normal convolutions (He et al. 2015, §2.2; ``conv_mode`` "fan_out" or "fan_in"), batch norms as
    identities, zero biases; linear weights drawn from N(0, ``linear_std``²) when it is given (VGG: 0.01),
    else left at PyTorch's default."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=conv_mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            if linear_std is not None:
                nn.init.normal_(m.weight, 0.0, linear_std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
