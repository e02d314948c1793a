"""The network every stage-table family shares: stem → stages → 1×1 head conv → classifier.

MobileNetV2, MobileNetV3, MnasNet, EfficientNet (and EdgeTPU) and EfficientNetV2 differ only in their
tables and a few options, so their modules hold the table and call :class:`MBConvNet`. The layout is
torchvision's: ``features.0`` the stem, ``features.1 … features.S`` the stages (one per table row),
``features.S+1`` the head convolution, then ``head`` (a :class:`ClassifierHead`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cnnzoo.layers import ClassifierHead, ConvNormAct
from cnnzoo.layers.activations import ActLayer
from cnnzoo.layers.inverted_residual import DEFAULT_OPTIONS, BlockOptions, Stage, build_stages, round_channels
from cnnzoo.models._base import ZooModel


class MBConvNet(ZooModel):
    """A stride-32 network built from a stage table (see :mod:`cnnzoo.layers.inverted_residual`).

    Args:
        table: the stage rows (unscaled; as in the paper).
        stem_chs: stem width before width scaling (a 3×3 stride-2 convolution).
        head_chs: width of the final 1×1 convolution, already scaled (``None``: no head conv).
        width_mult, depth_mult: EfficientNet-style width and depth coefficients applied to the table.
        depth_rounding: how scaled repeats are rounded, ``"ceil"`` (the reference code's rule, which the
            released variants need) or ``"round"`` (to nearest; :func:`cnnzoo.scale_model`'s default).
        opts: block settings (activation, norm, padding, SE flavour).
        stem_act, head_act: activations of the stem and head conv (default: ``opts.act``).
        head_hidden: hidden linear widths of the classifier (MobileNetV3's 1280).
        round_stem: scale the stem by ``width_mult`` (all but MnasNet's reference do).
    """

    def __init__(self, table: Sequence[Stage], *, num_classes: int = 1000, in_chans: int = 3, stem_chs: int = 32,
                 head_chs: int | None = 1280, width_mult: float = 1.0, depth_mult: float = 1.0,
                 opts: BlockOptions = DEFAULT_OPTIONS, stem_act: ActLayer = None, head_act: ActLayer = None,
                 head_hidden: tuple[int, ...] = (), head_hidden_act: ActLayer = None, drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, round_stem: bool = True, depth_rounding: str = "ceil") -> None:
        super().__init__(in_chans, num_classes, min_size=32)
        if width_mult <= 0 or depth_mult <= 0:
            raise ValueError(f"width_mult and depth_mult must be > 0, got {width_mult} and {depth_mult}")
        self.width_mult, self.depth_mult = width_mult, depth_mult
        stem = round_channels(stem_chs, width_mult, opts.divisor) if round_stem else stem_chs
        layers: list[nn.Module] = [ConvNormAct(in_chans, stem, 3, 2, act_layer=stem_act or opts.act,
                                               norm_layer=opts.norm_layer, padding=opts.padding)]
        stages, chs = build_stages(table, stem, width_mult, depth_mult, opts, drop_path_rate, depth_rounding)
        layers += stages
        # feature_info: per reduction, the last stage (or the stem) that ends at it
        reduction, ends = 2, {2: dict(num_chs=stem, reduction=2, module="features.0")}
        for i, stage in enumerate(stages, start=1):
            reduction *= stage[0].stride
            ends[reduction] = dict(num_chs=stage[-1].out_chs, reduction=reduction, module=f"features.{i}")
        self.feature_info = [ends[r] for r in sorted(ends)]
        if head_chs is not None:
            layers.append(ConvNormAct(chs, head_chs, 1, act_layer=head_act or opts.act, norm_layer=opts.norm_layer))
            chs = head_chs
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(chs, num_classes, hidden=head_hidden, act_layer=head_hidden_act or opts.act,
                                   hidden_drop=drop_rate if head_hidden else 0.0, drop_rate=drop_rate)
        self._init_weights()

    def _init_weights(self) -> None:
        # He (fan-out) init for convolutions and unit BN, as the reference codes do (linears keep PyTorch's)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m.weight.device.type != "meta":
                    nn.init.kaiming_normal_(m.weight, mode="fan_out")
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d) and m.weight is not None and m.weight.device.type != "meta":
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)
