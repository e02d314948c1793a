"""MobileNetV2: inverted residuals and linear bottlenecks (Sandler et al., CVPR 2018).

Table 2 of the paper, one row per sequence of ``n`` identical blocks: expansion ``t``, output
channels ``c``, repeats ``n``, first stride ``s``; every block is an inverted residual with ReLU6 and a
linear 1×1 projection (§3.2); the first (t = 1) has no expansion. A 3×3 stride-2 stem of 32 channels
and a 1×1 convolution to 1280 channels frame the table.
"""

from __future__ import annotations

from cnnzoo.layers.inverted_residual import BlockOptions, Stage, batch_norm, round_channels
from cnnzoo.models._mbconv_net import MBConvNet
from cnnzoo.registry import register_model

PAPER = "Sandler et al. 2018, MobileNetV2: Inverted Residuals and Linear Bottlenecks"

# Table 2:            block  n    c   k  s  t
MOBILENET_V2_STAGES = [
    Stage("mbconv", 1, 16, 3, 1, 1),
    Stage("mbconv", 2, 24, 3, 2, 6),
    Stage("mbconv", 3, 32, 3, 2, 6),
    Stage("mbconv", 4, 64, 3, 2, 6),
    Stage("mbconv", 3, 96, 3, 1, 6),
    Stage("mbconv", 3, 160, 3, 2, 6),
    Stage("mbconv", 1, 320, 3, 1, 6),
]


def _mobilenet_v2(num_classes: int, in_chans: int, drop_rate: float, drop_path_rate: float, width_mult: float,
                  depth_mult: float, padding: str, bn_eps: float, *, depth_rounding: str = "ceil") -> MBConvNet:
    opts = BlockOptions(act="relu6", norm_layer=batch_norm(bn_eps), padding=padding)
    # §4: the last conv keeps 1280 channels for width multipliers below 1 (it is not thinned)
    head = round_channels(1280, max(1.0, width_mult))
    return MBConvNet(MOBILENET_V2_STAGES, num_classes=num_classes, in_chans=in_chans, stem_chs=32, head_chs=head,
                     width_mult=width_mult, depth_mult=depth_mult, opts=opts, drop_rate=drop_rate,
                     drop_path_rate=drop_path_rate, depth_rounding=depth_rounding)


@register_model(paper=PAPER, reference="torchvision", scaling={"width_mult": 1.0, "depth_mult": 1.0,
                                                               "resolution": 224, "dropout": 0.2})
def mobilenet_v2(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                 width_mult: float = 1.0, depth_mult: float = 1.0, padding: str = "",
                 bn_eps: float = 1e-5, depth_rounding: str = "ceil") -> MBConvNet:
    """MobileNetV2 1.0 (3,504,872 parameters).

    ``width_mult`` thins every layer (§4, "width multiplier"; channels rounded to multiples of 8);
    ``depth_mult`` scales the repeats (rounded up), for :func:`cnnzoo.scale_model`.
    ``padding="same"`` uses TensorFlow padding; ``bn_eps`` the batch-norm epsilon.
    """
    return _mobilenet_v2(num_classes, in_chans, drop_rate, drop_path_rate, width_mult, depth_mult, padding, bn_eps,
                         depth_rounding=depth_rounding)
