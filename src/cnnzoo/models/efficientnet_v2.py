"""EfficientNetV2 (Tan & Le, ICML 2021): Smaller Models and Faster Training.

Compared with EfficientNet (§3.2–3.3): Fused-MBConv in the early stages (one 3×3 convolution in
place of 1×1 expansion + depthwise, faster on accelerators at high resolution), smaller expansion
ratios (1 and 4 early), only 3×3 kernels (with more layers to recover the receptive field), no last
stride-1 stage of EfficientNet's, and non-uniform scaling: later stages get more layers, and the
training image size is capped at 480 because larger images cost memory and speed for little gain.
Table 4 of the paper is V2-S; M and L (and XL, ImageNet-21k) are the reference code's tables.
"""

from __future__ import annotations

from cnnzoo.layers.inverted_residual import BlockOptions, Stage, batch_norm
from cnnzoo.models._mbconv_net import MBConvNet
from cnnzoo.models.efficientnet import _tf
from cnnzoo.registry import register_model

PAPER = "Tan & Le 2021, EfficientNetV2: Smaller Models and Faster Training"

# Table 4 (EfficientNetV2-S): stem Conv3x3 24, head Conv1x1 1280.
#                            block  n    c   k  s  t  se
EFFICIENTNET_V2_S_STAGES = [
    Stage("fused", 2, 24, 3, 1, 1),
    Stage("fused", 4, 48, 3, 2, 4),
    Stage("fused", 4, 64, 3, 2, 4),
    Stage("mbconv", 6, 128, 3, 2, 4, 0.25),
    Stage("mbconv", 9, 160, 3, 1, 6, 0.25),
    Stage("mbconv", 15, 256, 3, 2, 6, 0.25),
]

EFFICIENTNET_V2_M_STAGES = [
    Stage("fused", 3, 24, 3, 1, 1),
    Stage("fused", 5, 48, 3, 2, 4),
    Stage("fused", 5, 80, 3, 2, 4),
    Stage("mbconv", 7, 160, 3, 2, 4, 0.25),
    Stage("mbconv", 14, 176, 3, 1, 6, 0.25),
    Stage("mbconv", 18, 304, 3, 2, 6, 0.25),
    Stage("mbconv", 5, 512, 3, 1, 6, 0.25),
]

EFFICIENTNET_V2_L_STAGES = [
    Stage("fused", 4, 32, 3, 1, 1),
    Stage("fused", 7, 64, 3, 2, 4),
    Stage("fused", 7, 96, 3, 2, 4),
    Stage("mbconv", 10, 192, 3, 2, 4, 0.25),
    Stage("mbconv", 19, 224, 3, 1, 6, 0.25),
    Stage("mbconv", 25, 384, 3, 2, 6, 0.25),
    Stage("mbconv", 7, 640, 3, 1, 6, 0.25),
]

EFFICIENTNET_V2_XL_STAGES = [
    Stage("fused", 4, 32, 3, 1, 1),
    Stage("fused", 8, 64, 3, 2, 4),
    Stage("fused", 8, 96, 3, 2, 4),
    Stage("mbconv", 16, 192, 3, 2, 4, 0.25),
    Stage("mbconv", 24, 256, 3, 1, 6, 0.25),
    Stage("mbconv", 32, 512, 3, 2, 6, 0.25),
    Stage("mbconv", 8, 640, 3, 1, 6, 0.25),
]

#: max training image size of the progressive-learning schedule (§4, §5.1)
MAX_TRAIN_SIZE = 480


def _scaling(train: int, evaluate: int, dropout: float) -> dict[str, float]:
    return {"width_mult": 1.0, "depth_mult": 1.0, "resolution": train, "eval_size": evaluate,
            "max_size": MAX_TRAIN_SIZE, "dropout": dropout}


def _efficientnet_v2(table: list[Stage], stem: int, width_mult: float, depth_mult: float, num_classes: int,
                     in_chans: int, drop_rate: float, drop_path_rate: float, padding: str, bn_eps: float | None,
                     tf_mode: bool, *, depth_rounding: str = "ceil") -> MBConvNet:
    pad, eps = _tf(padding, bn_eps, tf_mode, 1e-3)
    opts = BlockOptions(act="silu", norm_layer=batch_norm(eps), padding=pad, se_from="in")
    return MBConvNet(table, num_classes=num_classes, in_chans=in_chans, stem_chs=stem, head_chs=1280,
                     width_mult=width_mult, depth_mult=depth_mult, opts=opts, drop_rate=drop_rate,
                     drop_path_rate=drop_path_rate, depth_rounding=depth_rounding)


# Every constructor: ``width_mult``/``depth_mult`` scale the table (for :func:`cnnzoo.scale_model`);
# BN eps is 1e-3 (TF's) as in torchvision; ``tf_mode=True`` adds TF "same" padding.


@register_model(paper=PAPER, input_size=(3, 384, 384), reference="torchvision", scaling=_scaling(300, 384, 0.2))
def efficientnet_v2_s(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                      width_mult: float = 1.0, depth_mult: float = 1.0, padding: str = "",
                      bn_eps: float | None = None, tf_mode: bool = False, depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNetV2-S, Table 4 (21,458,488 parameters; trained at 300², evaluated at 384²)."""
    return _efficientnet_v2(EFFICIENTNET_V2_S_STAGES, 24, width_mult, depth_mult, num_classes, in_chans, drop_rate,
                            drop_path_rate, padding, bn_eps, tf_mode, depth_rounding=depth_rounding)


@register_model(paper=PAPER, input_size=(3, 480, 480), reference="torchvision", scaling=_scaling(384, 480, 0.3))
def efficientnet_v2_m(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.3, drop_path_rate: float = 0.0,
                      width_mult: float = 1.0, depth_mult: float = 1.0, padding: str = "",
                      bn_eps: float | None = None, tf_mode: bool = False, depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNetV2-M (54,139,356 parameters; trained at up to 384², evaluated at 480²)."""
    return _efficientnet_v2(EFFICIENTNET_V2_M_STAGES, 24, width_mult, depth_mult, num_classes, in_chans, drop_rate,
                            drop_path_rate, padding, bn_eps, tf_mode, depth_rounding=depth_rounding)


@register_model(paper=PAPER, input_size=(3, 480, 480), reference="torchvision", scaling=_scaling(384, 480, 0.4))
def efficientnet_v2_l(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.4, drop_path_rate: float = 0.0,
                      width_mult: float = 1.0, depth_mult: float = 1.0, padding: str = "",
                      bn_eps: float | None = None, tf_mode: bool = False, depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNetV2-L (118,515,272 parameters; trained at up to 384², evaluated at 480²)."""
    return _efficientnet_v2(EFFICIENTNET_V2_L_STAGES, 32, width_mult, depth_mult, num_classes, in_chans, drop_rate,
                            drop_path_rate, padding, bn_eps, tf_mode, depth_rounding=depth_rounding)


@register_model(paper=PAPER, input_size=(3, 512, 512), reference="timm", scaling=_scaling(384, 512, 0.4))
def efficientnet_v2_xl(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.4, drop_path_rate: float = 0.0,
                       width_mult: float = 1.0, depth_mult: float = 1.0, padding: str = "",
                       bn_eps: float | None = None, tf_mode: bool = False, depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNetV2-XL (ImageNet-21k), timm's ``efficientnetv2_xl`` (208,119,808 parameters; trained at
    384², evaluated at 512²). timm's ``efficientnetv2_xl`` uses BN eps 1e-5: pass ``bn_eps=1e-5``."""
    return _efficientnet_v2(EFFICIENTNET_V2_XL_STAGES, 32, width_mult, depth_mult, num_classes, in_chans, drop_rate,
                            drop_path_rate, padding, bn_eps, tf_mode, depth_rounding=depth_rounding)
