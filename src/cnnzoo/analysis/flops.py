"""Counting multiply-accumulates (MACs) on the ATen operators that run, on the ``meta`` device when possible.

The rules of :func:`op_macs` are the one definition of a MAC in cnnzoo: :func:`count_macs` sums them
over a forward pass, and the per-layer profiler (:mod:`cnnzoo.analysis.profiler`) charges them to
modules. A convolution costs ``H_out · W_out · C_out · (C_in / groups) · k_h · k_w`` MACs: grouped and
depthwise convolutions are counted with their real, divided cost, and a convolution called
functionally (``F.conv2d``) counts like an ``nn.Conv2d``. A matrix product (linear layers, ``bmm``)
costs ``m · k · n``. Norms, activations, pooling and element-wise operators count no MACs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["MacCounter", "count_macs", "op_macs"]

_aten = torch.ops.aten
_CONV_OPS = {_aten.convolution.default, _aten._convolution.default}


def op_macs(func: Any, args: tuple, out: Any) -> int:
    """Multiply-accumulates of one ATen operator ``func`` run on ``args`` giving ``out`` (0 for everything
    but convolutions and matrix products)."""
    if func in _CONV_OPS:
        x, weight = args[0], args[1]
        transposed = bool(args[6]) if len(args) > 6 else False
        k = int(weight[0].numel())  # (C_in/g)·kh·kw for a convolution, (C_out/g)·kh·kw transposed
        return int(x.numel() * k) if transposed else int(out.numel() * k)
    if func is _aten.addmm.default or func is _aten.mm.default:
        a, b = (args[1], args[2]) if func is _aten.addmm.default else (args[0], args[1])
        return int(a.shape[0] * a.shape[1] * b.shape[1])
    if func in (_aten.bmm.default, _aten.baddbmm.default):
        a, b = (args[0], args[1]) if func is _aten.bmm.default else (args[1], args[2])
        return int(a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2])
    if func is _aten.linear.default:
        x, weight = args[0], args[1]
        return int(x.numel() // x.shape[-1] * weight.numel())
    return 0


class MacCounter(TorchDispatchMode):
    """Within ``with MacCounter() as c:``, ``c.total`` sums :func:`op_macs` of every ATen operator run."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        out = func(*args, **(kwargs or {}))
        self.total += op_macs(func, args, out)
        return out


@torch.no_grad()
def count_macs(model: nn.Module, input_size: tuple[int, ...], batch_size: int = 1) -> int:
    """Multiply-accumulates of one forward pass at ``input_size`` = (C, H, W), per batch of ``batch_size``.

    The model is run in eval mode on its own device (a ``meta`` model costs no memory or time).
    """
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    x = torch.zeros((batch_size, *input_size), device=device)
    was_training = model.training
    counter = MacCounter()
    try:
        model.eval()
        with counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.total)
