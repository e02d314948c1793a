"""ShuffleNet V2 (Ma et al. 2018, "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture
Design").

The unit (§4, Fig. 3c/d) follows the paper's four guidelines: a *channel split* sends half of the
channels through untouched and the other half through ``1×1 → dw 3×3 → 1×1`` with equal widths (G1),
no grouped 1×1 convolutions (G2), a single branch of three layers (G3) and a concatenation instead of
an element-wise addition (G4); a *channel shuffle* then mixes the two halves. The down-sampling unit
drops the split: both branches see all channels, the left one with a stride-2 ``dw 3×3 → 1×1``, so
the width doubles. The units are not additive residuals (concatenation), so this family has no
``drop_path_rate``.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.layers import ClassifierHead, ConvNormAct, channel_shuffle
from cnnzoo.layers.pooling import MaxPool2d
from cnnzoo.models._base import ZooModel
from cnnzoo.registry import register_model

# Table 5: output channels of Stage 2, 3, 4 and of Conv5 per width; units per stage (first has stride 2).
SHUFFLENET_V2_WIDTHS: dict[str, tuple[list[int], int]] = {
    "0.5": ([48, 96, 192], 1024),
    "1.0": ([116, 232, 464], 1024),
    "1.5": ([176, 352, 704], 1024),
    "2.0": ([244, 488, 976], 2048),
}
SHUFFLENET_V2_REPEATS = [4, 8, 4]
STEM_CHANNELS = 24


class ShuffleV2Unit(nn.Module):
    """Fig. 3(c) (stride 1: split, right branch, concat, shuffle) and 3(d) (stride 2: two branches).

    ``branch1``/``branch2`` are flat Sequentials with torchvision's indices (conv, bn, relu…).
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        branch = out_chs // 2
        if stride == 1 and in_chs != 2 * branch:
            raise ValueError(f"a stride-1 unit needs in_chs == out_chs (even), got {in_chs} → {out_chs}")
        self.stride = stride
        if stride == 2:
            self.branch1 = nn.Sequential(
                *ConvNormAct(in_chs, in_chs, 3, stride, groups=in_chs, act_layer=None),
                *ConvNormAct(in_chs, branch, 1),
            )
        else:
            self.branch1 = nn.Sequential()
        right_in = in_chs if stride == 2 else branch
        self.branch2 = nn.Sequential(
            *ConvNormAct(right_in, branch, 1),
            *ConvNormAct(branch, branch, 3, stride, groups=branch, act_layer=None),
            *ConvNormAct(branch, branch, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            left, right = x.chunk(2, dim=1)  # channel split (§4)
            out = torch.cat((left, self.branch2(right)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(ZooModel):
    """Table 5: ``conv1`` 3×3/2 (24) → ``maxpool`` 3×3/2 → ``stage2``-``stage4`` → ``conv5`` 1×1 →
    global pool → ``head.fc`` (torchvision's layout)."""

    def __init__(self, stage_chs: list[int], final_chs: int, num_classes: int = 1000, in_chans: int = 3,
                 drop_rate: float = 0.0, repeats: list[int] = SHUFFLENET_V2_REPEATS) -> None:
        super().__init__(in_chans, num_classes, min_size=32)
        self.conv1 = ConvNormAct(in_chans, STEM_CHANNELS, 3, stride=2)
        self.maxpool = MaxPool2d(3, stride=2, padding=1)
        self.feature_info += [dict(num_chs=STEM_CHANNELS, reduction=2, module="conv1"),
                              dict(num_chs=STEM_CHANNELS, reduction=4, module="maxpool")]
        chs, reduction = STEM_CHANNELS, 4
        for i, (out_chs, n) in enumerate(zip(stage_chs, repeats, strict=True)):
            units = [ShuffleV2Unit(chs if j == 0 else out_chs, out_chs, 2 if j == 0 else 1) for j in range(n)]
            setattr(self, f"stage{i + 2}", nn.Sequential(*units))
            chs, reduction = out_chs, reduction * 2
            if i < len(stage_chs) - 1:
                self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=f"stage{i + 2}"))
        self.num_stages = len(stage_chs)
        self.conv5 = ConvNormAct(chs, final_chs, 1)
        self.feature_info.append(dict(num_chs=final_chs, reduction=reduction, module="conv5"))
        self.head = ClassifierHead(final_chs, num_classes, drop_rate=drop_rate)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        for i in range(self.num_stages):
            x = getattr(self, f"stage{i + 2}")(x)
        return self.conv5(x)


def _shufflenet_v2(width: str, **kwargs) -> ShuffleNetV2:
    stage_chs, final_chs = SHUFFLENET_V2_WIDTHS[width]
    return ShuffleNetV2(stage_chs, final_chs, **kwargs)


_PAPER = "Ma et al. 2018, ShuffleNet V2 (arXiv:1807.11164), Table 5"


@register_model(paper=_PAPER, reference="torchvision", scaling={"width": 0.5})
def shufflenet_v2_x0_5(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0) -> ShuffleNetV2:
    """ShuffleNet V2 0.5× (1,366,792 parameters; 40.5 M MACs at 224; paper: 41 M FLOPs)."""
    return _shufflenet_v2("0.5", num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)


@register_model(paper=_PAPER, reference="torchvision", scaling={"width": 1.0})
def shufflenet_v2_x1_0(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0) -> ShuffleNetV2:
    """ShuffleNet V2 1× (2,278,604 parameters; 144.9 M MACs at 224; paper: 146 M FLOPs)."""
    return _shufflenet_v2("1.0", num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)


@register_model(paper=_PAPER, reference="torchvision", scaling={"width": 1.5})
def shufflenet_v2_x1_5(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0) -> ShuffleNetV2:
    """ShuffleNet V2 1.5× (3,503,624 parameters; 295.8 M MACs at 224; paper: 299 M FLOPs)."""
    return _shufflenet_v2("1.5", num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)


@register_model(paper=_PAPER, reference="torchvision", scaling={"width": 2.0})
def shufflenet_v2_x2_0(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0) -> ShuffleNetV2:
    """ShuffleNet V2 2× (7,393,996 parameters; 583.3 M MACs at 224; paper: 591 M FLOPs)."""
    return _shufflenet_v2("2.0", num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)
