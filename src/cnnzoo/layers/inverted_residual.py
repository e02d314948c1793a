"""Inverted residuals and the stage-table builder shared by the MobileNetV2 lineage.

* :class:`MBConv` — MobileNetV2's inverted residual with a linear bottleneck (Sandler et al. 2018,
  §3.2–3.3): 1×1 expansion → k×k depthwise → (squeeze-and-excitation, MnasNet §4 / MobileNetV3 §5.3)
  → 1×1 linear projection, with an identity shortcut when the shape is kept. With no expansion it is
  the depthwise-separable block of MobileNetV1 (depthwise k×k → 1×1 linear).
* :class:`FusedMBConv` — EfficientNetV2 §3.2: the expansion and depthwise convolutions fused into one
  k×k convolution → (SE) → 1×1 linear projection; with expansion 1 a single k×k convolution.
* :class:`Stage` rows (block, repeats, out_chs, kernel, stride, expansion, se_ratio, act), read like
  the papers' tables, and :func:`build_stages`, which scales them by width and depth (EfficientNet
  §3.3: channels rounded to multiples of 8, repeats rounded up) and turns them into modules.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from cnnzoo.layers.activations import ActLayer
from cnnzoo.layers.conv_norm_act import ConvNormAct
from cnnzoo.layers.drop_path import DropPath, add_residual, drop_path_rates
from cnnzoo.layers.helpers import make_divisible, round_repeats
from cnnzoo.layers.squeeze_excite import SqueezeExcite

__all__ = ["DEPTH_ROUNDINGS", "BlockOptions", "FusedMBConv", "MBConv", "Stage", "build_stages", "round_channels",
           "scale_repeats"]

NormLayer = Callable[[int], nn.Module]


class Stage(NamedTuple):
    """One row of a stage table: ``repeats`` blocks, the first with ``stride``.

    ``block`` is ``"mbconv"`` (inverted residual; expansion 1 gives the depthwise-separable block)
    or ``"fused"`` (Fused-MBConv). ``expansion`` is the ratio of the expanded width to the block's
    input; ``exp_chs`` gives the expanded width directly instead (MobileNetV3's "exp size" column),
    and ``exp_base`` computes it from that width instead of the input (EfficientNet-EdgeTPU's first
    stage). ``se_ratio`` 0 means no squeeze-and-excitation; ``act`` ``None`` takes the network's.
    """

    block: str
    repeats: int
    out_chs: int
    kernel: int
    stride: int
    expansion: float = 1.0
    se_ratio: float = 0.0
    act: str | None = None
    exp_chs: int | None = None
    exp_base: int | None = None
    skip: bool = True


@dataclass(frozen=True)
class BlockOptions:
    """Settings shared by every block of a network.

    ``se_from``: the SE bottleneck is ``se_ratio`` × the block's input width (``"in"``, MnasNet and
    EfficientNet) or × its expanded width rounded to ``se_divisor`` (``"mid"``, MobileNetV3 §5.3).
    ``se_act`` ``None`` uses the block's activation. ``padding``: ``""`` symmetric or ``"same"`` (TF).
    """

    act: ActLayer = "relu"
    norm_layer: NormLayer = nn.BatchNorm2d
    padding: str = ""
    se_from: str = "in"
    se_divisor: int = 1
    se_act: ActLayer = None
    se_gate: ActLayer = "sigmoid"
    divisor: int = 8


DEFAULT_OPTIONS = BlockOptions()


def batch_norm(eps: float = 1e-5, momentum: float = 0.1) -> NormLayer:
    """A ``BatchNorm2d`` factory with the given ``eps`` and ``momentum`` (TF ports use eps 1e-3)."""
    if eps == 1e-5 and momentum == 0.1:
        return nn.BatchNorm2d
    return functools.partial(nn.BatchNorm2d, eps=eps, momentum=momentum)


def round_channels(chs: float, width_mult: float = 1.0, divisor: int = 8) -> int:
    """A width scaled by ``width_mult`` and rounded to a multiple of ``divisor`` (never down by >10 %)."""
    return make_divisible(chs * width_mult, divisor)


def _se(opts: BlockOptions, in_chs: int, mid_chs: int, se_ratio: float, act: ActLayer) -> nn.Module:
    if not se_ratio:
        return nn.Identity()
    if opts.se_from == "in":
        rd = max(1, int(in_chs * se_ratio))
    elif opts.se_from == "mid":
        rd = make_divisible(mid_chs * se_ratio, opts.se_divisor) if opts.se_divisor > 1 \
            else max(1, int(mid_chs * se_ratio))
    else:
        raise ValueError(f"se_from must be 'in' or 'mid', got {opts.se_from!r}")
    return SqueezeExcite(mid_chs, rd_channels=rd, act_layer=opts.se_act or act, gate_layer=opts.se_gate)


class MBConv(nn.Module):
    """Inverted residual block (MobileNetV2 §3.3, Fig. 3b) with optional SE.

    ``conv_pw`` (1×1 expansion; left out when ``mid_chs == in_chs``) → ``conv_dw`` (k×k depthwise)
    → ``se`` → ``conv_pwl`` (1×1 projection, linear: no activation, §3.2). The shortcut adds the input
    back through ``drop_path`` (stochastic depth) when stride is 1 and the width is kept.
    """

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int = 3, stride: int = 1, mid_chs: int | None = None,
                 se_ratio: float = 0.0, act: ActLayer = None, opts: BlockOptions = DEFAULT_OPTIONS,
                 drop_path_rate: float = 0.0, skip: bool = True) -> None:
        super().__init__()
        act = act or opts.act
        mid_chs = in_chs if mid_chs is None else mid_chs
        norm, pad = opts.norm_layer, opts.padding
        self.conv_pw = ConvNormAct(in_chs, mid_chs, 1, act_layer=act, norm_layer=norm) if mid_chs != in_chs \
            else nn.Identity()
        self.conv_dw = ConvNormAct(mid_chs, mid_chs, kernel_size, stride, groups=mid_chs, act_layer=act,
                                   norm_layer=norm, padding=pad)
        self.se = _se(opts, in_chs, mid_chs, se_ratio, act)
        self.conv_pwl = ConvNormAct(mid_chs, out_chs, 1, act_layer=None, norm_layer=norm)
        self.has_skip = skip and stride == 1 and in_chs == out_chs
        self.drop_path = DropPath(drop_path_rate) if self.has_skip else nn.Identity()
        self.in_chs, self.out_chs, self.mid_chs, self.stride = in_chs, out_chs, mid_chs, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_pwl(self.se(self.conv_dw(self.conv_pw(x))))
        return add_residual(self.drop_path(y), x) if self.has_skip else y


class FusedMBConv(nn.Module):
    """Fused-MBConv (EfficientNetV2 §3.2, Fig. 2): ``conv_exp`` (k×k, in → expanded) → ``se`` →
    ``conv_pwl`` (1×1 linear projection). With expansion 1 (``mid_chs`` ``None``) ``conv_exp`` goes
    straight to ``out_chs`` with its activation and there is no projection. Shortcut as in MBConv."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int = 3, stride: int = 1, mid_chs: int | None = None,
                 se_ratio: float = 0.0, act: ActLayer = None, opts: BlockOptions = DEFAULT_OPTIONS,
                 drop_path_rate: float = 0.0, skip: bool = True) -> None:
        super().__init__()
        act = act or opts.act
        norm, pad = opts.norm_layer, opts.padding
        width = out_chs if mid_chs is None else mid_chs
        self.conv_exp = ConvNormAct(in_chs, width, kernel_size, stride, act_layer=act, norm_layer=norm, padding=pad)
        self.se = _se(opts, in_chs, width, se_ratio, act) if mid_chs is not None else nn.Identity()
        self.conv_pwl = ConvNormAct(width, out_chs, 1, act_layer=None, norm_layer=norm) if mid_chs is not None \
            else nn.Identity()
        self.has_skip = skip and stride == 1 and in_chs == out_chs
        self.drop_path = DropPath(drop_path_rate) if self.has_skip else nn.Identity()
        self.in_chs, self.out_chs, self.mid_chs, self.stride = in_chs, out_chs, width, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_pwl(self.se(self.conv_exp(x)))
        return add_residual(self.drop_path(y), x) if self.has_skip else y


_BLOCKS: dict[str, type[nn.Module]] = {"mbconv": MBConv, "fused": FusedMBConv}


#: how scaled repeats are rounded: "ceil" is the reference code's rule (EfficientNet §3.3), which the
#: released variants need for their exact sizes; at small multipliers it overshoots (ceil(1 × 1.2) = 2
#: doubles a one-block stage), so compound scaling uses "round" (to nearest, at least 1) to keep FLOPs
#: close to 2^φ.
DEPTH_ROUNDINGS = ("ceil", "round")


def scale_repeats(repeats: int, depth_mult: float, depth_rounding: str = "ceil") -> int:
    """A stage's number of blocks scaled by ``depth_mult``, rounded by ``depth_rounding`` ("ceil" or "round")."""
    if depth_rounding == "round":
        return max(1, math.floor(repeats * depth_mult + 0.5))
    if depth_rounding == "ceil":
        return round_repeats(repeats, depth_mult)
    raise ValueError(f"depth_rounding must be one of {', '.join(DEPTH_ROUNDINGS)}, got {depth_rounding!r}")


def scaled_stage(row: Stage, width_mult: float = 1.0, depth_mult: float = 1.0, divisor: int = 8,
                 depth_rounding: str = "ceil") -> Stage:
    """The row with its widths scaled by ``width_mult`` (rounded to ``divisor``) and its repeats by
    ``depth_mult`` (rounded by ``depth_rounding``) — EfficientNet's width and depth scaling (§3.3)."""
    def chs(c: int | None) -> int | None:
        return None if c is None else round_channels(c, width_mult, divisor)

    return row._replace(repeats=scale_repeats(row.repeats, depth_mult, depth_rounding), out_chs=chs(row.out_chs),
                        exp_chs=chs(row.exp_chs), exp_base=chs(row.exp_base))


def build_stages(table: Sequence[Stage], in_chs: int, width_mult: float = 1.0, depth_mult: float = 1.0,
                 opts: BlockOptions = DEFAULT_OPTIONS, drop_path_rate: float = 0.0,
                 depth_rounding: str = "ceil") -> tuple[list[nn.Sequential], int]:
    """Turn a stage table into one ``nn.Sequential`` of blocks per row.

    ``in_chs`` is the (already scaled) stem width. Widths are scaled by ``width_mult`` and repeats by
    ``depth_mult``,
    rounded by ``depth_rounding`` (:func:`scaled_stage`); stochastic-depth rates grow linearly over all blocks.
    Returns the stages and the output width of the last one.
    """
    rows = [scaled_stage(r, width_mult, depth_mult, opts.divisor, depth_rounding) for r in table]
    for r in rows:
        if r.block not in _BLOCKS:
            raise ValueError(f"unknown block type {r.block!r} in stage table; expected one of {', '.join(_BLOCKS)}")
    rates = iter(drop_path_rates(sum(r.repeats for r in rows), drop_path_rate))
    stages: list[nn.Sequential] = []
    for r in rows:
        blocks: list[nn.Module] = []
        for i in range(r.repeats):
            if r.exp_chs is not None:
                mid = r.exp_chs
            else:
                mid = make_divisible((r.exp_base or in_chs) * r.expansion, opts.divisor) if r.expansion != 1 else in_chs
            if r.block == "fused" and r.expansion == 1 and r.exp_chs is None:
                mid = None
            blocks.append(_BLOCKS[r.block](in_chs, r.out_chs, r.kernel, r.stride if i == 0 else 1, mid,
                                           r.se_ratio, r.act, opts, next(rates), r.skip))
            in_chs = r.out_chs
        stages.append(nn.Sequential(*blocks))
    return stages, in_chs
