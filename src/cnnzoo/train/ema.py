"""Exponential moving average of a model's weights (EfficientNet: decay 0.9999), evaluated alongside."""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["ModelEMA"]


class ModelEMA:
    """Keeps ``ema = d·ema + (1−d)·θ`` after every step; buffers (batch-norm statistics) are copied.

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` over the first steps ``n`` so that the
    average is useful in short runs too.
    """

    def __init__(self, model: nn.Module, decay: float = 0.9998, warmup: bool = True) -> None:
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.warmup = warmup
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates)) if self.warmup else self.decay
        src = model.state_dict()
        for name, v in self.module.state_dict().items():
            s = src[name].detach()
            if v.dtype.is_floating_point:
                v.mul_(d).add_(s, alpha=1 - d)
            else:
                v.copy_(s)

    def state_dict(self) -> dict:
        return dict(module=self.module.state_dict(), updates=self.updates, decay=self.decay)

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
        self.decay = float(state["decay"])
