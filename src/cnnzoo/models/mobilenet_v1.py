"""MobileNet v1 (Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks for Mobile
Vision Applications").

Table 1: a 3×3/2 convolution with 32 filters, then 13 depthwise-separable blocks (§3.1: dw 3×3 + BN
+ ReLU, pw 1×1 + BN + ReLU) up to 1024 channels, global average pooling and a fully connected layer.

§3.3 adds two hyper-parameters:

* the width multiplier α (``width_mult``) thins every layer: M, N → αM, αN (rounded to multiples
  of 8 as in the reference code); cost and parameters scale roughly with α².
* the resolution multiplier ρ (``resolution_mult``) only changes the input: the paper trains at
  224·ρ ∈ {224, 192, 160, 128}. The network is fully convolutional up to the global pooling, so ρ does
  not change the model; the constructor records the matching input side ``round(224·ρ)`` in
  ``model.default_input_size`` (C, H, W) for data pipelines and MAC counts. The registry's input size
  of ``mobilenet_v1`` stays 224 (ρ = 1).
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.layers import ClassifierHead, ConvNormAct, DepthwiseSeparableConv, make_divisible
from cnnzoo.layers.activations import ActLayer
from cnnzoo.models._base import ZooModel
from cnnzoo.registry import register_model

# Table 1, grouped into stages that end at strides 2, 4, 8, 16, 32:
# (output channels, stride of the first block, depthwise-separable blocks)
MOBILENET_V1_STAGES = [
    (64, 1, 1),
    (128, 2, 2),
    (256, 2, 2),
    (512, 2, 6),
    (1024, 2, 2),
]
STEM_CHANNELS = 32


class MobileNetV1(ZooModel):
    """Stem ``conv 3×3/2`` then stages of :class:`~cnnzoo.layers.DepthwiseSeparableConv` blocks.

    Layout: ``stem`` (ConvNormAct), ``blocks.<stage>.<block>`` (``conv_dw``/``bn1``/``conv_pw``/``bn2``,
    as timm's ``mobilenetv1_*``), ``head.fc``.
    """

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, width_mult: float = 1.0,
                 resolution_mult: float = 1.0, drop_rate: float = 0.0, act_layer: ActLayer = nn.ReLU,
                 stages: list[tuple[int, int, int]] = MOBILENET_V1_STAGES) -> None:
        super().__init__(in_chans, num_classes, min_size=32)
        if width_mult <= 0:
            raise ValueError(f"width_mult must be > 0, got {width_mult!r}")
        if not 0 < resolution_mult <= 4:
            raise ValueError(f"resolution_mult must be in (0, 4], got {resolution_mult!r}")
        side = round(224 * resolution_mult)
        if side < self.min_size:
            raise ValueError(f"resolution_mult={resolution_mult} gives {side}px inputs, below the minimum "
                             f"{self.min_size}px")
        self.width_mult, self.resolution_mult = width_mult, resolution_mult
        self.default_input_size = (in_chans, side, side)

        chs = make_divisible(STEM_CHANNELS * width_mult, 8)
        self.stem = ConvNormAct(in_chans, chs, 3, stride=2, act_layer=act_layer)
        reduction = 2
        blocks: list[nn.Module] = []
        for i, (out_chs, stride, repeats) in enumerate(stages):
            out_chs = make_divisible(out_chs * width_mult, 8)
            stage = []
            for j in range(repeats):
                stage.append(DepthwiseSeparableConv(chs, out_chs, 3, stride if j == 0 else 1, act_layer=act_layer))
                chs = out_chs
            blocks.append(nn.Sequential(*stage))
            reduction *= stride
            self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=f"blocks.{i}"))
        self.blocks = nn.Sequential(*blocks)
        self.head = ClassifierHead(chs, num_classes, drop_rate=drop_rate)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


@register_model(paper="Howard et al. 2017, MobileNets (arXiv:1704.04861), Table 1", reference="timm",
                scaling={"width": 1.0, "resolution": 1.0})
def mobilenet_v1(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0, width_mult: float = 1.0,
                 resolution_mult: float = 1.0, act_layer: ActLayer = "relu") -> MobileNetV1:
    """MobileNet v1 1.0-224 (4,231,976 parameters; 568.7 M MACs at 224, paper: 569 M).

    ``width_mult`` is α (0.25, 0.5, 0.75, 1.0 in Table 6); ``resolution_mult`` is ρ (input side 224·ρ,
    recorded in ``model.default_input_size``; the architecture is the same). ``act_layer="relu6"``
    gives timm's ``mobilenetv1_100`` (same layout and parameter count; the paper uses ReLU).
    """
    return MobileNetV1(num_classes, in_chans, width_mult, resolution_mult, drop_rate, act_layer)
