"""ShuffleNet (v1) (Zhang et al. 2017, "ShuffleNet: An Extremely Efficient Convolutional Neural Network
for Mobile Devices").

The unit (§3.2, Fig. 2b/c) is a ResNet bottleneck made cheap: the 1×1 convolutions are *grouped*
(g groups), a *channel shuffle* after the first one lets information cross the groups (§3.1), and
the 3×3 convolution is depthwise; there is no ReLU after the depthwise convolution. The bottleneck
has 1/4 of the unit's output channels. A stride-2 unit concatenates an average-pooled shortcut
(3×3/2) to its branch instead of adding it, so the branch produces ``out - in`` channels.
The first 1×1 convolution of Stage 2 is not grouped (its 24 input channels are too few, §3.3).

Table 1 fixes the complexity at about 140 MFLOPs for every g by widening the stages as g grows;
"ShuffleNet s×" scales every layer's filters by s (end of §3.3): the stage widths are rounded to multiples
of 4·g (so that the bottleneck splits into g groups) and the Conv1 stem (24·s) to a multiple of g.
There is no reference in torchvision or timm; the parameter counts were derived from Table 1 and agree
exactly with those published by the imgclsmob project for its ShuffleNet models (g = 1…8 at 1×,
g = 1 and 3 at 0.25×/0.5×/0.75×), and the MAC counts are within 1.1 % of Table 1's complexities at 1× and
of Table 2's 38 M at 0.5× (g = 3: 37.6 M); at 0.25× they are 11.0 M against Table 2's 13 M.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.layers import ChannelShuffle, ClassifierHead, ConvNormAct, DropPath, drop_path_rates
from cnnzoo.layers.drop_path import add_residual
from cnnzoo.layers.pooling import MaxPool2d
from cnnzoo.models._base import ZooModel
from cnnzoo.registry import register_model

# Table 1: output channels of Stage 2, 3, 4 for each number of groups g (ShuffleNet 1×).
SHUFFLENET_V1_CHANNELS: dict[int, tuple[int, int, int]] = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
SHUFFLENET_V1_REPEATS = [4, 8, 4]  # units per stage; the first of each has stride 2
STEM_CHANNELS = 24  # Conv1 of ShuffleNet 1×


class ShuffleV1Unit(nn.Module):
    """Fig. 2(b) (stride 1, added identity) and 2(c) (stride 2, concatenated 3×3/2 average pool):
    ``GConv 1×1 → BN → ReLU → shuffle → DWConv 3×3 → BN → GConv 1×1 → BN`` then add/concat → ReLU."""

    def __init__(self, in_chs: int, out_chs: int, groups: int, stride: int, group_first: bool = True,
                 drop_path_rate: float = 0.0) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if stride == 1 and in_chs != out_chs:
            raise ValueError(f"a stride-1 unit needs in_chs == out_chs, got {in_chs} → {out_chs}")
        mid = out_chs // 4
        branch_out = out_chs - in_chs if stride == 2 else out_chs
        first_groups = groups if group_first else 1
        for chs, what in ((mid, "bottleneck"), (branch_out, "branch output")):
            if chs <= 0 or chs % groups:
                raise ValueError(f"ShuffleNet unit {in_chs}→{out_chs}: {what} of {chs} channels is not a positive "
                                 f"multiple of groups={groups}")
        self.stride = stride
        self.conv1 = ConvNormAct(in_chs, mid, 1, groups=first_groups)
        # shuffling after an ungrouped convolution would only permute channels: skipped there
        self.shuffle = ChannelShuffle(groups) if first_groups > 1 else nn.Identity()
        self.conv2 = ConvNormAct(mid, mid, 3, stride, groups=mid, act_layer=None)
        self.conv3 = ConvNormAct(mid, branch_out, 1, groups=groups, act_layer=None)
        self.shortcut = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else nn.Identity()
        self.drop_path = DropPath(drop_path_rate) if stride == 1 and drop_path_rate > 0 else nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv3(self.conv2(self.shuffle(self.conv1(x))))
        if self.stride == 2:
            return self.act(torch.cat((self.shortcut(x), out), dim=1))
        return self.act(add_residual(self.drop_path(out), x))


def shufflenet_v1_channels(groups: int, scale: float = 1.0) -> tuple[int, list[int]]:
    """Stem and stage widths of "ShuffleNet ``scale``× (g = ``groups``)": Table 1 × scale, the stem rounded
    to a multiple of g and the stages to multiples of 4·g."""
    if groups not in SHUFFLENET_V1_CHANNELS:
        raise ValueError(f"groups must be one of {sorted(SHUFFLENET_V1_CHANNELS)}, got {groups!r}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    stem = max(groups, round(STEM_CHANNELS * scale / groups) * groups)
    q = 4 * groups
    chs = [max(q, round(c * scale / q) * q) for c in SHUFFLENET_V1_CHANNELS[groups]]
    if chs[0] <= stem:
        raise ValueError(f"scale={scale} leaves Stage 2 with {chs[0]} channels, not more than the "
                         f"{stem} of the stem (its stride-2 unit concatenates the stem's channels)")
    return stem, chs


class ShuffleNetV1(ZooModel):
    """Table 1: ``conv1`` 3×3/2 (24·s) → ``maxpool`` 3×3/2 → ``stage2``-``stage4`` → global pool → ``head.fc``."""

    def __init__(self, groups: int = 3, scale: float = 1.0, num_classes: int = 1000, in_chans: int = 3,
                 drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 repeats: list[int] = SHUFFLENET_V1_REPEATS) -> None:
        super().__init__(in_chans, num_classes, min_size=32)
        self.groups, self.scale = groups, scale
        stem, stage_chs = shufflenet_v1_channels(groups, scale)
        self.conv1 = ConvNormAct(in_chans, stem, 3, stride=2)
        self.maxpool = MaxPool2d(3, stride=2, padding=1)
        self.feature_info += [dict(num_chs=stem, reduction=2, module="conv1"),
                              dict(num_chs=stem, reduction=4, module="maxpool")]
        rates = iter(drop_path_rates(sum(repeats), drop_path_rate))
        chs, reduction = stem, 4
        for i, (out_chs, n) in enumerate(zip(stage_chs, repeats, strict=True)):
            units = []
            for j in range(n):
                units.append(ShuffleV1Unit(chs, out_chs, groups, 2 if j == 0 else 1,
                                           group_first=not (i == 0 and j == 0), drop_path_rate=next(rates)))
                chs = out_chs
            setattr(self, f"stage{i + 2}", nn.Sequential(*units))
            reduction *= 2
            self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=f"stage{i + 2}"))
        self.num_stages = len(stage_chs)
        self.head = ClassifierHead(chs, num_classes, drop_rate=drop_rate)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        for i in range(self.num_stages):
            x = getattr(self, f"stage{i + 2}")(x)
        return x


_PAPER = "Zhang et al. 2017, ShuffleNet (arXiv:1707.01083), Table 1"


def _shufflenet_v1(groups: int, **kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups, **kwargs)


@register_model(paper=_PAPER, scaling={"groups": 1})
def shufflenet_v1_g1(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                     drop_path_rate: float = 0.0, scale: float = 1.0) -> ShuffleNetV1:
    """ShuffleNet 1× (g = 1): 1,531,936 parameters, 143.1 M MACs at 224 (Table 1: 143 M).

    ``scale`` is the "s×" width (0.25, 0.5, 0.75, 1, 1.5, 2…) of §3.3.
    """
    return _shufflenet_v1(1, scale=scale, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate,
                          drop_path_rate=drop_path_rate)


@register_model(paper=_PAPER, scaling={"groups": 2})
def shufflenet_v1_g2(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                     drop_path_rate: float = 0.0, scale: float = 1.0) -> ShuffleNetV1:
    """ShuffleNet 1× (g = 2): 1,733,848 parameters, 140.8 M MACs at 224 (Table 1: 140 M). ``scale``: s×."""
    return _shufflenet_v1(2, scale=scale, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate,
                          drop_path_rate=drop_path_rate)


@register_model(paper=_PAPER, scaling={"groups": 3})
def shufflenet_v1_g3(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                     drop_path_rate: float = 0.0, scale: float = 1.0) -> ShuffleNetV1:
    """ShuffleNet 1× (g = 3): 1,865,728 parameters, 137.5 M MACs at 224 (Table 1: 137 M). ``scale``: s×."""
    return _shufflenet_v1(3, scale=scale, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate,
                          drop_path_rate=drop_path_rate)


@register_model(paper=_PAPER, scaling={"groups": 4})
def shufflenet_v1_g4(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                     drop_path_rate: float = 0.0, scale: float = 1.0) -> ShuffleNetV1:
    """ShuffleNet 1× (g = 4): 1,968,344 parameters, 134.3 M MACs at 224 (Table 1: 133 M). ``scale``: s×."""
    return _shufflenet_v1(4, scale=scale, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate,
                          drop_path_rate=drop_path_rate)


@register_model(paper=_PAPER, scaling={"groups": 8})
def shufflenet_v1_g8(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                     drop_path_rate: float = 0.0, scale: float = 1.0) -> ShuffleNetV1:
    """ShuffleNet 1× (g = 8): 2,434,768 parameters, 138.4 M MACs at 224 (Table 1: 137 M). ``scale``: s×."""
    return _shufflenet_v1(8, scale=scale, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate,
                          drop_path_rate=drop_path_rate)
