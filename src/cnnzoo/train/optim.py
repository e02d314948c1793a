"""Optimisers and learning-rate schedules of the seeds' recipes, all with linear warm-up.

Schedules are per step (``scheduler.step()`` after every optimiser step) and expressed as a
multiplier of the base learning rate, so that they resume exactly from ``state_dict``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cnnzoo.train.transfer import param_groups

__all__ = ["RMSpropTF", "create_optimizer", "create_scheduler", "lr_multiplier"]


class RMSpropTF(torch.optim.Optimizer):
    """RMSProp with TensorFlow semantics (as EfficientNet trained: decay 0.9, momentum 0.9, ε 1e-3).

    Unlike ``torch.optim.RMSprop`` the ε is added *inside* the square root, the mean square starts
    at one (not zero), and the learning rate multiplies the update before it enters the momentum buffer::

        ms = ρ·ms + (1−ρ)·g²;   buf = μ·buf + lr·g / sqrt(ms + ε);   θ −= buf
    """

    def __init__(self, params, lr: float = 0.016, alpha: float = 0.9, eps: float = 1e-3,
                 momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        if lr <= 0 or not 0 <= alpha < 1 or eps <= 0 or momentum < 0:
            raise ValueError(f"invalid RMSpropTF hyper-parameters lr={lr}, alpha={alpha}, eps={eps}, "
                             f"momentum={momentum}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["weight_decay"]:
                    g = g.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.ones_like(p)
                    state["momentum_buffer"] = torch.zeros_like(p)
                ms, buf = state["square_avg"], state["momentum_buffer"]
                ms.mul_(group["alpha"]).addcmul_(g, g, value=1 - group["alpha"])
                update = g / ms.add(group["eps"]).sqrt_()
                buf.mul_(group["momentum"]).add_(update, alpha=group["lr"])
                p.sub_(buf)
        return loss


def create_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float = 0.0,
                     momentum: float = 0.9, layer_decay: float | None = None,
                     head_lr_mult: float = 1.0) -> torch.optim.Optimizer:
    """``sgd`` (Nesterov), ``rmsprop_tf`` (TensorFlow RMSProp), ``rmsprop`` (PyTorch's) or ``adamw``, over the
    trainable parameters grouped by :func:`cnnzoo.train.transfer.param_groups`."""
    groups = param_groups(model, lr, weight_decay, layer_decay, head_lr_mult)
    name = name.lower()
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0)
    if name in ("rmsprop_tf", "rmsproptf"):
        return RMSpropTF(groups, lr=lr, alpha=0.9, eps=1e-3, momentum=momentum)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, alpha=0.9, eps=1e-3, momentum=momentum)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; choose sgd, rmsprop_tf, rmsprop or adamw")


def lr_multiplier(name: str, step: int, total_steps: int, warmup_steps: int, steps_per_epoch: int,
                  step_epochs: float = 30, gamma: float = 0.1, decay_rate: float = 0.97, decay_epochs: float = 2.4,
                  min_lr_ratio: float = 0.0) -> float:
    """Multiplier of the base LR at optimiser step ``step`` (0-based).

    - ``step``: ×gamma every ``step_epochs`` epochs (ResNet: ÷10 every 30 epochs);
    - ``cosine``: half-cosine from 1 to ``min_lr_ratio``;
    - ``onecycle``: warm-up then cosine annealing to ~0 (the 1cycle policy; the warm-up is its rising half);
    - ``exponential``: ×decay_rate every ``decay_epochs`` epochs (EfficientNet: 0.97 every 2.4 epochs);
    - ``constant``.
    All start with a linear warm-up over ``warmup_steps`` from 1/100 of the rate.
    """
    if warmup_steps and step < warmup_steps:
        return 0.01 + 0.99 * step / warmup_steps
    epoch = step / max(1, steps_per_epoch)
    t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    t = min(max(t, 0.0), 1.0)
    if name == "step":
        return gamma ** math.floor(epoch / step_epochs)
    if name == "cosine":
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))
    if name == "onecycle":
        return max(1e-4, 0.5 * (1 + math.cos(math.pi * t)))
    if name == "exponential":
        return decay_rate ** (epoch / decay_epochs)
    if name == "constant":
        return 1.0
    raise ValueError(f"unknown schedule {name!r}; choose step, cosine, onecycle, exponential or constant")


def create_scheduler(optimizer: torch.optim.Optimizer, name: str, total_steps: int, steps_per_epoch: int,
                     warmup_epochs: float = 0.0, **kwargs) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step ``LambdaLR`` following :func:`lr_multiplier` (unknown names fail here, not mid-run)."""
    warmup = int(round(warmup_epochs * steps_per_epoch))
    if name == "onecycle" and warmup == 0:
        warmup = max(1, int(0.25 * total_steps))  # 1cycle: the rate rises for the first quarter
    lr_multiplier(name, 0, total_steps, warmup, steps_per_epoch, **kwargs)

    def fn(step: int) -> float:
        return lr_multiplier(name, step, total_steps, warmup, steps_per_epoch, **kwargs)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
