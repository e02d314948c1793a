"""Parallel branches whose outputs are concatenated: the Inception module's "filter concatenation"
(Szegedy et al. 2015, §4 and Figure 2), reused by every network of the Inception lineage.

A block is described as data, one entry per branch, the way the papers draw it::

    {
        "branch1x1": [(64, 1)],                          # a 1×1 convolution with 64 filters
        "branch5x5": [(48, 1), (64, 5)],                 # 1×1 reduction, then 5×5
        "branch3x3": [(384, 3, 2, 0)],                   # 3×3, stride 2, no padding ("V" in the figures)
        "branch_pool": [AVG_POOL_3X3, (32, 1)],          # a pooling layer (a factory), then a projection
        "branch3x3x2": [(384, 1), {"a": [(384, (1, 3))], "b": [(384, (3, 1))]}],  # a split (Inception v3 Fig. 7)
    }

A convolution is ``(out_chs, kernel[, stride[, padding]])`` built by the block's ``conv_layer``
(a :class:`~cnnzoo.layers.ConvNormAct` by default; padding ``""`` = symmetric "same" for odd kernels);
anything callable (``nn.MaxPool2d`` with its arguments bound by ``functools.partial``) makes a
channel-preserving layer; a dict is a nested split whose outputs are concatenated. A branch of one item
is that module itself, a longer branch an ``nn.Sequential``, so state-dict keys stay short
(``branch1x1.0.weight``, ``branch5x5.1.0.weight``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from cnnzoo.layers.conv_norm_act import ConvNormAct

#: one item of a branch: a convolution tuple, a factory of a channel-preserving module, or a split
BranchItem = tuple | Callable[[], nn.Module] | Mapping[str, Sequence[Any]]


def build_branch(in_chs: int, items: Sequence[BranchItem], conv_layer: Callable[..., nn.Module] = ConvNormAct
                 ) -> tuple[nn.Module, int]:
    """Build one branch from its items; returns ``(module, out_chs)``."""
    if isinstance(items, (tuple, Mapping)) or callable(items):
        items = [items]  # a single item given without its list
    if not items:
        raise ValueError("an Inception branch needs at least one layer")
    layers: list[nn.Module] = []
    chs = in_chs
    for item in items:
        if isinstance(item, tuple):
            out_chs, kernel, *rest = item
            stride = rest[0] if len(rest) > 0 else 1
            padding = rest[1] if len(rest) > 1 else ""
            layers.append(conv_layer(chs, out_chs, kernel, stride=stride, padding=padding))
            chs = out_chs
        elif isinstance(item, Mapping):
            split = InceptionBlock(chs, item, conv_layer)
            layers.append(split)
            chs = split.out_chs
        elif isinstance(item, nn.Module):
            raise TypeError("give a factory (e.g. functools.partial(nn.MaxPool2d, 3, 2)), not a module instance, "
                            "so that every block gets its own layer")
        elif callable(item):
            layers.append(item())
        else:
            raise TypeError(f"cannot build an Inception branch layer from {item!r}")
    return (layers[0] if len(layers) == 1 else nn.Sequential(*layers)), chs


class InceptionBlock(nn.Module):
    """Run named branches on the same input and concatenate their outputs along the channels.

    Args:
        in_chs: input channels.
        branches: ``{name: [items…]}`` in concatenation order (see the module docstring); the names
            become the module names, so they can mirror a reference implementation's state dict.
        conv_layer: builds each convolution as ``conv_layer(in_chs, out_chs, kernel, stride=, padding=)``.

    ``out_chs`` is the sum of the branches' output channels. Subclasses may add layers after the
    concatenation (the residual Inception blocks do); they are not branches.
    """

    def __init__(self, in_chs: int, branches: Mapping[str, Sequence[BranchItem]],
                 conv_layer: Callable[..., nn.Module] = ConvNormAct) -> None:
        super().__init__()
        if not branches:
            raise ValueError("an InceptionBlock needs at least one branch")
        self.in_chs = in_chs
        self.out_chs = 0
        for name, items in branches.items():
            module, chs = build_branch(in_chs, items, conv_layer)
            self.add_module(name, module)
            self.out_chs += chs
        self.branch_names: tuple[str, ...] = tuple(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._modules[name](x) for name in self.branch_names], dim=1)

    def extra_repr(self) -> str:
        return f"in_chs={self.in_chs}, out_chs={self.out_chs}"
