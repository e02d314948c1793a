"""Folding batch norm into the convolution before it, for any model, found by running it once.

At inference a batch norm is a per-channel affine map ``y = γ·(x − μ)/sqrt(σ² + ε) + β``; when
``x`` is a convolution's output it can be absorbed into the convolution's weights and bias
(``W' = W·s``, ``b' = (b − μ)·s + β`` with ``s = γ/sqrt(σ² + ε)``), which removes one full read
and write of the feature map per norm — the memory traffic ShuffleNetV2 warns about.

Which norm follows which convolution is *observed* rather than assumed: the model runs once on
an example input while forward hooks record each convolution's output tensor and each batch
norm's input tensor, and a dispatch mode counts how many operators read each convolution
output. A pair is folded only when the norm's input *is* the convolution's output, nothing else
reads that output, and both modules run exactly once. This works for every family whatever its
``forward`` looks like (``ConvNormAct`` sequences, ResNet-style ``conv1``/``bn1`` attributes,
TF-"SAME" padded convolutions), and it is conservative where it cannot be sure (shared modules,
a convolution output also used by a skip connection or a hook).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from cnnzoo.layers.padding import Conv2dSame

__all__ = ["find_conv_bn_pairs", "fold_batchnorm", "fold_conv_bn_weights", "example_input"]

# Convolutions whose forward is exactly ``conv2d(x, self.weight, self.bias, …)`` (possibly after padding).
_FOLDABLE_CONVS = (nn.Conv2d, Conv2dSame)


def example_input(model: nn.Module, batch_size: int = 1) -> torch.Tensor:
    """A small valid input for a cnnzoo model: (batch, in_chans, s, s) with ``s = max(min_size, 32)``."""
    in_chans = getattr(model, "in_chans", None)
    min_size = getattr(model, "min_size", None)
    if in_chans is None or min_size is None:
        raise ValueError(
            f"{type(model).__name__} is not a cnnzoo model (no in_chans/min_size): pass example_inputs=…"
        )
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    size = max(int(min_size), 32)
    return torch.randn(batch_size, int(in_chans), size, size, device=device)


class _ReadCounter(TorchDispatchMode):
    """Counts the operators that read each watched tensor (watched by identity, kept alive)."""

    def __init__(self, watched: dict[int, torch.Tensor]) -> None:
        super().__init__()
        self.watched = watched
        self.reads: Counter[int] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        for t in tree_flatten((args, kwargs or {}))[0]:
            if isinstance(t, torch.Tensor) and self.watched.get(id(t)) is t:
                self.reads[id(t)] += 1
        return func(*args, **(kwargs or {}))


def _is_foldable_bn(m: nn.Module) -> bool:
    # Exactly BatchNorm2d: a subclass may do more in its forward (e.g. a fused activation).
    # Hooks on the norm (e.g. a feature extractor's) would be lost with the module: leave it.
    return (type(m) is nn.BatchNorm2d and m.track_running_stats and m.running_mean is not None
            and not m._forward_hooks and not m._forward_pre_hooks)


def _is_foldable_conv(m: nn.Module) -> bool:
    return type(m) in _FOLDABLE_CONVS and not m._forward_hooks and not m._forward_pre_hooks


@torch.no_grad()
def find_conv_bn_pairs(model: nn.Module, example_inputs: torch.Tensor | Sequence[torch.Tensor] | None = None
                       ) -> list[tuple[str, str]]:
    """``(conv_name, bn_name)`` pairs of ``model`` whose batch norm can be folded, found by running it once."""
    if example_inputs is None:
        example_inputs = example_input(model)
    inputs = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
    all_names: Counter[int] = Counter(id(m) for _, m in model.named_modules(remove_duplicate=False))
    convs = {m: n for n, m in model.named_modules() if _is_foldable_conv(m) and all_names[id(m)] == 1}
    bns = {m: n for n, m in model.named_modules() if _is_foldable_bn(m) and all_names[id(m)] == 1}
    calls: Counter[str] = Counter()
    conv_out: dict[int, torch.Tensor] = {}
    conv_of: dict[int, str] = {}
    bn_in: dict[str, torch.Tensor] = {}

    def conv_hook(module: nn.Module, _args: tuple, output: Any) -> None:
        calls[convs[module]] += 1
        if isinstance(output, torch.Tensor):
            conv_out[id(output)] = output
            conv_of[id(output)] = convs[module]

    def bn_pre_hook(module: nn.Module, args: tuple) -> None:
        calls[bns[module]] += 1
        if args and isinstance(args[0], torch.Tensor):
            bn_in[bns[module]] = args[0]

    handles = [m.register_forward_hook(conv_hook) for m in convs]
    handles += [m.register_forward_pre_hook(bn_pre_hook) for m in bns]
    was_training = model.training
    model.eval()
    counter = _ReadCounter(conv_out)
    try:
        with counter:
            model(*inputs)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    pairs = []
    for bn_name, x in bn_in.items():
        conv_name = conv_of.get(id(x))
        if conv_name is None or conv_out.get(id(x)) is not x:
            continue
        if calls[conv_name] != 1 or calls[bn_name] != 1 or counter.reads[id(x)] != 1:
            continue
        pairs.append((conv_name, bn_name))
    return pairs


@torch.no_grad()
def fold_conv_bn_weights(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Absorb ``bn`` (eval statistics) into ``conv``'s weight and bias, in place."""
    if bn.num_features != conv.out_channels:
        raise ValueError(f"cannot fold a BatchNorm2d({bn.num_features}) into a conv with {conv.out_channels} outputs")
    w = conv.weight
    scale = torch.rsqrt(bn.running_var.float() + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.float()
    shift = -bn.running_mean.float() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.float()
    if conv.bias is not None:
        shift = shift + conv.bias.float() * scale
    conv.weight = nn.Parameter((w.float() * scale.reshape(-1, 1, 1, 1)).to(w.dtype), requires_grad=w.requires_grad)
    conv.bias = nn.Parameter(shift.to(w.dtype), requires_grad=w.requires_grad)


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


@torch.no_grad()
def fold_batchnorm(model: nn.Module, example_inputs: torch.Tensor | Sequence[torch.Tensor] | None = None
                   ) -> list[tuple[str, str]]:
    """Fold every batch norm that directly follows a convolution into it, in place.

    Each folded norm is replaced by ``nn.Identity``. Returns the ``(conv, bn)`` pairs folded.
    ``example_inputs`` defaults to a small random input for cnnzoo models (see :func:`example_input`).
    """
    pairs = find_conv_bn_pairs(model, example_inputs)
    for conv_name, bn_name in pairs:
        fold_conv_bn_weights(model.get_submodule(conv_name), model.get_submodule(bn_name))
        _set_submodule(model, bn_name, nn.Identity())
    return pairs
