"""EfficientNet-EdgeTPU (Gupta & Tan, Google AI blog 2019; reference code ``efficientnet/edgetpu``).

EfficientNets searched for the Edge TPU accelerator: no squeeze-and-excitation and ReLU instead of
SiLU (both run poorly there), and Fused-MBConv blocks (a full k×k expansion convolution instead of
1×1 + depthwise, later named Fused-MBConv in EfficientNetV2 §3.2) in the early, high-resolution
stages where they use the accelerator better. S/M/L are scaled with the EfficientNet coefficients.
"""

from __future__ import annotations

from cnnzoo.layers.inverted_residual import Stage, round_channels
from cnnzoo.models._mbconv_net import MBConvNet
from cnnzoo.models.efficientnet import _tf, efficientnet
from cnnzoo.registry import register_model

PAPER = "Gupta & Tan 2019, EfficientNet-EdgeTPU: Creating Accelerator-Optimized Neural Networks with AutoML"

#                          block   n    c   k  s  t
EFFICIENTNET_EDGETPU_STAGES = [
    Stage("fused", 1, 24, 3, 1, 4, exp_base=24, skip=False),  # expansion from the 24 outputs; no shortcut
    Stage("fused", 2, 32, 3, 2, 8),
    Stage("fused", 4, 48, 3, 2, 8),
    Stage("mbconv", 5, 96, 5, 2, 8),
    Stage("mbconv", 4, 144, 5, 1, 8),
    Stage("mbconv", 2, 192, 5, 2, 8),
]

# (width, depth, resolution, dropout) of the reference code
EDGETPU_PARAMS: dict[str, tuple[float, float, int, float]] = {
    "efficientnet_edgetpu_s": (1.0, 1.0, 224, 0.2),
    "efficientnet_edgetpu_m": (1.0, 1.1, 240, 0.2),
    "efficientnet_edgetpu_l": (1.2, 1.4, 300, 0.3),
}


def _register(name: str):
    w, d, r, p = EDGETPU_PARAMS[name]
    return register_model(paper=PAPER, input_size=(3, r, r), reference="timm",
                          scaling={"width_mult": w, "depth_mult": d, "resolution": r, "dropout": p})


def _edgetpu(name: str, width_mult: float | None, depth_mult: float | None, num_classes: int, in_chans: int,
             drop_rate: float, drop_path_rate: float, padding: str, bn_eps: float | None, tf_mode: bool, *,
             depth_rounding: str = "ceil") -> MBConvNet:
    w, d, _, _ = EDGETPU_PARAMS[name]
    w = w if width_mult is None else width_mult
    pad, eps = _tf(padding, bn_eps, tf_mode, 1e-5)
    # the head conv is 1280 scaled by the width (not 4× the last stage's 192)
    return efficientnet(EFFICIENTNET_EDGETPU_STAGES, width_mult=w, depth_mult=d if depth_mult is None else depth_mult,
                        num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate, drop_path_rate=drop_path_rate,
                        padding=pad, bn_eps=eps, act="relu", se=False, head_chs=round_channels(1280, w),
                        depth_rounding=depth_rounding)


# Every constructor: ``width_mult``/``depth_mult`` ``None`` take the variant's coefficients;
# ``tf_mode=True`` gives TF "same" padding and BN eps 1e-3 (timm's ``tf_efficientnet_es/em/el``).


@_register("efficientnet_edgetpu_s")
def efficientnet_edgetpu_s(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2,
                           drop_path_rate: float = 0.0, width_mult: float | None = None,
                           depth_mult: float | None = None, padding: str = "", bn_eps: float | None = None,
                           tf_mode: bool = False, depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNet-EdgeTPU-S, timm's ``efficientnet_es`` (5,438,392 parameters, 224²)."""
    return _edgetpu("efficientnet_edgetpu_s", width_mult, depth_mult, num_classes, in_chans, drop_rate,
                    drop_path_rate, padding, bn_eps, tf_mode, depth_rounding=depth_rounding)


@_register("efficientnet_edgetpu_m")
def efficientnet_edgetpu_m(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2,
                           drop_path_rate: float = 0.0, width_mult: float | None = None,
                           depth_mult: float | None = None, padding: str = "", bn_eps: float | None = None,
                           tf_mode: bool = False, depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNet-EdgeTPU-M (depth 1.1, 240²), timm's ``efficientnet_em`` (6,899,496 parameters)."""
    return _edgetpu("efficientnet_edgetpu_m", width_mult, depth_mult, num_classes, in_chans, drop_rate,
                    drop_path_rate, padding, bn_eps, tf_mode, depth_rounding=depth_rounding)


@_register("efficientnet_edgetpu_l")
def efficientnet_edgetpu_l(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.3,
                           drop_path_rate: float = 0.0, width_mult: float | None = None,
                           depth_mult: float | None = None, padding: str = "", bn_eps: float | None = None,
                           tf_mode: bool = False, depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNet-EdgeTPU-L (width 1.2, depth 1.4, 300²), timm's ``efficientnet_el``
    (10,589,712 parameters)."""
    return _edgetpu("efficientnet_edgetpu_l", width_mult, depth_mult, num_classes, in_chans, drop_rate,
                    drop_path_rate, padding, bn_eps, tf_mode, depth_rounding=depth_rounding)
