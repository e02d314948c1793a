"""MobileNetV3 (Howard et al., ICCV 2019): Searching for MobileNetV3.

Tables 1 (Large) and 2 (Small) of the paper, one row per block: kernel, expansion size ("exp size"),
output channels, squeeze-and-excite, non-linearity (RE = ReLU, HS = h-swish, §5.2) and stride.
h-swish is used only in the later half of the network (§5.2), SE bottlenecks are fixed to 1/4 of the
expansion width with a hard-sigmoid gate (§5.3), and the redesigned last stage (§5.1, Fig. 5) is a
1×1 convolution to 6× the last width, pooling, then a 1×1 (linear) layer of 1280 (1024 for Small)
with h-swish and no batch norm before the classifier.
"""

from __future__ import annotations

from cnnzoo.layers.inverted_residual import BlockOptions, Stage, batch_norm, round_channels
from cnnzoo.models._mbconv_net import MBConvNet
from cnnzoo.registry import register_model

PAPER = "Howard et al. 2019, Searching for MobileNetV3"
RE, HS = "relu", "hard_swish"


def _row(k: int, exp: int, out: int, se: bool, act: str, s: int) -> Stage:
    """A row as printed in Tables 1–2: kernel, exp size, #out, SE, NL, stride."""
    return Stage("mbconv", 1, out, k, s, se_ratio=0.25 if se else 0.0, act=act, exp_chs=exp)


# Table 1 (input 224² → 112² after the 16-channel h-swish stem)
MOBILENET_V3_LARGE = [
    _row(3, 16, 16, False, RE, 1),
    _row(3, 64, 24, False, RE, 2),
    _row(3, 72, 24, False, RE, 1),
    _row(5, 72, 40, True, RE, 2),
    _row(5, 120, 40, True, RE, 1),
    _row(5, 120, 40, True, RE, 1),
    _row(3, 240, 80, False, HS, 2),
    _row(3, 200, 80, False, HS, 1),
    _row(3, 184, 80, False, HS, 1),
    _row(3, 184, 80, False, HS, 1),
    _row(3, 480, 112, True, HS, 1),
    _row(3, 672, 112, True, HS, 1),
    _row(5, 672, 160, True, HS, 2),
    _row(5, 960, 160, True, HS, 1),
    _row(5, 960, 160, True, HS, 1),
]

# Table 2
MOBILENET_V3_SMALL = [
    _row(3, 16, 16, True, RE, 2),
    _row(3, 72, 24, False, RE, 2),
    _row(3, 88, 24, False, RE, 1),
    _row(5, 96, 40, True, HS, 2),
    _row(5, 240, 40, True, HS, 1),
    _row(5, 240, 40, True, HS, 1),
    _row(5, 120, 48, True, HS, 1),
    _row(5, 144, 48, True, HS, 1),
    _row(5, 288, 96, True, HS, 2),
    _row(5, 576, 96, True, HS, 1),
    _row(5, 576, 96, True, HS, 1),
]


def _mobilenet_v3(table: list[Stage], last_chs: int, num_classes: int, in_chans: int, drop_rate: float,
                  drop_path_rate: float, width_mult: float, depth_mult: float, padding: str,
                  bn_eps: float, *, depth_rounding: str = "ceil") -> MBConvNet:
    # the reference trains with BN momentum 0.01 (TF's 0.99) and eps 1e-3
    opts = BlockOptions(act=RE, norm_layer=batch_norm(bn_eps, 0.01), padding=padding, se_from="mid", se_divisor=8,
                        se_act="relu", se_gate="hard_sigmoid")
    last_in = round_channels(table[-1].out_chs, width_mult)
    return MBConvNet(table, num_classes=num_classes, in_chans=in_chans, stem_chs=16, head_chs=6 * last_in,
                     width_mult=width_mult, depth_mult=depth_mult, opts=opts, stem_act=HS, head_act=HS,
                     head_hidden=(round_channels(last_chs, width_mult),), head_hidden_act=HS, drop_rate=drop_rate,
                     drop_path_rate=drop_path_rate, depth_rounding=depth_rounding)


@register_model(paper=PAPER, reference="torchvision",
                scaling={"width_mult": 1.0, "depth_mult": 1.0, "resolution": 224, "dropout": 0.2})
def mobilenet_v3_large(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                       width_mult: float = 1.0, depth_mult: float = 1.0, padding: str = "",
                       bn_eps: float = 1e-3, depth_rounding: str = "ceil") -> MBConvNet:
    """MobileNetV3-Large 1.0 (5,483,032 parameters). ``drop_rate`` is the dropout after the 1280-wide
    hidden layer; ``width_mult`` scales all widths (§6.1.2 multipliers), ``depth_mult`` the repeats."""
    return _mobilenet_v3(MOBILENET_V3_LARGE, 1280, num_classes, in_chans, drop_rate, drop_path_rate, width_mult,
                         depth_mult, padding, bn_eps, depth_rounding=depth_rounding)


@register_model(paper=PAPER, reference="torchvision",
                scaling={"width_mult": 1.0, "depth_mult": 1.0, "resolution": 224, "dropout": 0.2})
def mobilenet_v3_small(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                       width_mult: float = 1.0, depth_mult: float = 1.0, padding: str = "",
                       bn_eps: float = 1e-3, depth_rounding: str = "ceil") -> MBConvNet:
    """MobileNetV3-Small 1.0 (2,542,856 parameters); options as for :func:`mobilenet_v3_large`."""
    return _mobilenet_v3(MOBILENET_V3_SMALL, 1024, num_classes, in_chans, drop_rate, drop_path_rate, width_mult,
                         depth_mult, padding, bn_eps, depth_rounding=depth_rounding)
