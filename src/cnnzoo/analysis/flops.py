"""Counting multiply-accumulates (MACs) with forward hooks, on the ``meta`` device when possible.

A convolution costs ``H_out · W_out · C_out · (C_in / groups) · k_h · k_w`` MACs: grouped and
depthwise convolutions are counted with their real, divided cost. A linear layer costs
``in · out`` per sample. Norms, activations and pooling are not counted as MACs.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_macs(module: nn.Conv2d, output: torch.Tensor) -> int:
    kh, kw = module.kernel_size
    return output.numel() * (module.in_channels // module.groups) * kh * kw


def _linear_macs(module: nn.Linear, output: torch.Tensor) -> int:
    return output.numel() * module.in_features


@torch.no_grad()
def count_macs(model: nn.Module, input_size: tuple[int, ...], batch_size: int = 1) -> int:
    """Multiply-accumulates of one forward pass at ``input_size`` = (C, H, W), per batch of ``batch_size``.

    The model is run on its own device (a ``meta`` model costs no memory or time).
    """
    total = 0

    def hook(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += _conv_macs(module, output)
        elif isinstance(module, nn.Linear):
            total += _linear_macs(module, output)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    try:
        model.eval()
        model(torch.zeros((batch_size, *input_size), device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return int(total)
