"""BiFPN, the weighted bidirectional feature pyramid of EfficientDet (Tan, Pang & Le, CVPR 2020).

    P_i^td  = Conv( (w1·P_i^in + w2·Resize(P_{i+1}^td)) / (w1 + w2 + ε) )                  (top-down)
    P_i^out = Conv( (w1'·P_i^in + w2'·P_i^td + w3'·Resize(P_{i-1}^out)) / (w1' + w2' + w3' + ε) )
                                                                                             (bottom-up)

with ``w ≥ 0`` learnt per input of each node and kept non-negative by a ReLU: the "fast normalized
fusion" of §3.3 (Eq. 3-4). Each ``Conv`` is a depthwise-separable convolution followed by batch norm,
applied to the swish-activated fused map (§3.3). The finest and coarsest levels have no P^td node of
their own: the finest level's output is its top-down node, the coarsest fuses its input with the
level below (Fig. 2d). Any number of levels (two or more) is accepted; inputs of other widths are
brought to ``out_channels`` by 1×1 convolutions, and ``extra_levels`` coarser levels (P6, P7) are made
from the coarsest input by stride-2 max-pooling, as in EfficientDet.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from cnnzoo.layers import ConvNormAct, create_act
from cnnzoo.layers.pooling import MaxPool2d

__all__ = ["BiFPN", "BiFPNLayer", "FastNormalizedFusion"]


class FastNormalizedFusion(nn.Module):
    """``sum_i w_i x_i / (eps + sum_j w_j)`` with ``w = relu(weights)`` learnt (EfficientDet Eq. 4)."""

    def __init__(self, num_inputs: int, eps: float = 1e-4) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_inputs))
        self.eps = eps

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        w = F.relu(self.weight)
        w = w / (w.sum() + self.eps)
        out = inputs[0] * w[0]
        for i in range(1, len(inputs)):
            out = out + inputs[i] * w[i]
        return out


class SeparableConvNorm(nn.Sequential):
    """Depthwise 3×3 → pointwise 1×1 → batch norm (no activation: the swish comes before it)."""

    def __init__(self, channels: int) -> None:
        super().__init__(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
            ConvNormAct(channels, channels, 1, act_layer=None),
        )


class _Node(nn.Module):
    """One fusion node: weighted fusion → swish → separable convolution."""

    def __init__(self, num_inputs: int, channels: int, act_layer: str | type[nn.Module], eps: float) -> None:
        super().__init__()
        self.fuse = FastNormalizedFusion(num_inputs, eps)
        self.act = create_act(act_layer)
        self.conv = SeparableConvNorm(channels)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.conv(self.act(self.fuse(inputs)))


def _resize_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Bring ``x`` to ``ref``'s spatial size: nearest up-sampling for a coarser map, 3×3/2 max-pooling
    for the next finer one (EfficientDet), adaptive max-pooling for other ratios."""
    h, w = ref.shape[-2:]
    xh, xw = x.shape[-2:]
    if (xh, xw) == (h, w):
        return x
    if xh < h or xw < w:
        return F.interpolate(x, size=(h, w), mode="nearest")
    if ((xh + 1) // 2, (xw + 1) // 2) == (h, w):
        return F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
    return F.adaptive_max_pool2d(x, (h, w))


class BiFPNLayer(nn.Module):
    """One BiFPN layer over ``num_levels`` maps of ``channels`` channels, finest first."""

    def __init__(self, num_levels: int, channels: int, act_layer: str | type[nn.Module] = "silu",
                 eps: float = 1e-4) -> None:
        super().__init__()
        if num_levels < 2:
            raise ValueError(f"BiFPN needs at least 2 levels, got {num_levels}")
        self.num_levels = num_levels
        # top_down[i] makes level i's top-down node (levels 0 .. L-2; level L-1's is its input).
        self.top_down = nn.ModuleList(_Node(2, channels, act_layer, eps) for _ in range(num_levels - 1))
        # bottom_up[i-1] makes level i's output (levels 1 .. L-1; level 0's is its top-down node);
        # middle levels fuse three inputs, the coarsest two.
        self.bottom_up = nn.ModuleList(
            _Node(3 if i < num_levels - 1 else 2, channels, act_layer, eps) for i in range(1, num_levels)
        )

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        n = self.num_levels
        if len(feats) != n:
            raise ValueError(f"this BiFPN layer takes {n} feature maps, got {len(feats)}")
        td: list[torch.Tensor] = [feats[-1]] * n
        for i in range(n - 2, -1, -1):
            td[i] = self.top_down[i]([feats[i], _resize_to(td[i + 1], feats[i])])
        outs = [td[0]]
        for i in range(1, n):
            down = _resize_to(outs[-1], feats[i])
            inputs = [feats[i], td[i], down] if i < n - 1 else [feats[i], down]
            outs.append(self.bottom_up[i - 1](inputs))
        return outs


class BiFPN(nn.Module):
    """EfficientDet's BiFPN on top of any backbone's multi-scale features.

    Args:
        in_channels: channels of each input map, finest first (``[e["num_chs"] for e in
            backbone.feature_info]`` of a ``features_only=True`` model).
        out_channels: the pyramid's width (EfficientDet-D0: 64).
        num_layers: stacked BiFPN layers (EfficientDet-D0: 3).
        extra_levels: coarser levels added by stride-2 max-pooling of the coarsest input (P6, P7: 2).
        act_layer: activation before each separable convolution (swish).
        in_reductions: the inputs' strides, if known: checked to be increasing.

    ``forward(features)`` returns ``len(in_channels) + extra_levels`` maps of ``out_channels``
    channels at the inputs' resolutions (then halving for the extra levels).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int = 64, num_layers: int = 3,
                 extra_levels: int = 0, act_layer: str | type[nn.Module] = "silu", eps: float = 1e-4,
                 in_reductions: Sequence[int] | None = None) -> None:
        super().__init__()
        in_channels = [int(c) for c in in_channels]
        if not in_channels or any(c < 1 for c in in_channels):
            raise ValueError(f"in_channels must be a non-empty list of positive ints, got {in_channels}")
        if len(in_channels) + extra_levels < 2:
            raise ValueError("BiFPN needs at least 2 levels: give 2+ inputs or extra_levels")
        if in_reductions is not None and list(in_reductions) != sorted(set(in_reductions)):
            raise ValueError(f"inputs must go from fine to coarse (strictly increasing reductions), "
                             f"got {list(in_reductions)}")
        if num_layers < 1 or out_channels < 1 or extra_levels < 0:
            raise ValueError("num_layers and out_channels must be >= 1 and extra_levels >= 0")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_levels = len(in_channels) + extra_levels
        # Input adaptation: a 1×1 convolution + BN where the width differs (EfficientDet's resample).
        self.lateral = nn.ModuleList(
            nn.Identity() if c == out_channels else ConvNormAct(c, out_channels, 1, act_layer=None)
            for c in in_channels
        )
        self.extra = nn.ModuleList(
            MaxPool2d(kernel_size=3, stride=2, padding=1) for _ in range(extra_levels)
        )
        self.layers = nn.ModuleList(
            BiFPNLayer(self.num_levels, out_channels, act_layer, eps) for _ in range(num_layers)
        )

    @classmethod
    def from_backbone(cls, backbone: nn.Module, out_channels: int = 64, **kwargs) -> BiFPN:
        """A BiFPN sized for a ``features_only=True`` model, from its ``feature_info``."""
        info = getattr(backbone, "feature_info", None)
        if not info:
            raise ValueError("from_backbone needs a features_only=True model (with feature_info)")
        return cls([e["num_chs"] for e in info], out_channels, in_reductions=[e["reduction"] for e in info],
                   **kwargs)

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(features) != len(self.in_channels):
            raise ValueError(f"BiFPN built for {len(self.in_channels)} inputs, got {len(features)}")
        feats = []
        for i, (x, lat) in enumerate(zip(features, self.lateral, strict=True)):
            if x.ndim != 4 or x.shape[1] != self.in_channels[i]:
                raise ValueError(f"input {i} should have shape (N, {self.in_channels[i]}, H, W), "
                                 f"got {tuple(x.shape)}")
            feats.append(lat(x))
        for pool in self.extra:
            feats.append(pool(feats[-1]))
        for layer in self.layers:
            feats = layer(feats)
        return feats
