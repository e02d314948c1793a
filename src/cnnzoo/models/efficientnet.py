"""EfficientNet (Tan & Le, ICML 2019): Rethinking Model Scaling for Convolutional Neural Networks.

EfficientNet-B0 is Table 1 of the paper (MBConv blocks with squeeze-and-excitation, ratio 0.25 of the
block input, and SiLU/"swish"). B1…B7 come from it by compound scaling (§3.3, Eq. 3): depth
``d = α^φ``, width ``w = β^φ``, resolution ``r = γ^φ`` with ``α·β²·γ² ≈ 2`` (α = 1.2, β = 1.1,
γ = 1.15), so FLOPs grow about ``2^φ``. The released variants use the rounded coefficients of the
reference code (listed in ``EFFICIENTNET_PARAMS``): widths are rounded to multiples of 8 and repeats
rounded up. B8 and L2 are the larger variants of the reference code (AdvProp, Noisy Student).
:func:`cnnzoo.scale_model` applies the same rule to any φ.
"""

from __future__ import annotations

from cnnzoo.layers.inverted_residual import BlockOptions, Stage, batch_norm, round_channels
from cnnzoo.models._mbconv_net import MBConvNet
from cnnzoo.registry import register_model

PAPER = "Tan & Le 2019, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks"

# Table 1 (EfficientNet-B0 baseline); stem Conv3x3 32, head Conv1x1 1280.
#                        block    n    c   k  s  t  se
EFFICIENTNET_B0_STAGES = [
    Stage("mbconv", 1, 16, 3, 1, 1, 0.25),  # MBConv1, k3x3
    Stage("mbconv", 2, 24, 3, 2, 6, 0.25),  # MBConv6, k3x3
    Stage("mbconv", 2, 40, 5, 2, 6, 0.25),  # MBConv6, k5x5
    Stage("mbconv", 3, 80, 3, 2, 6, 0.25),
    Stage("mbconv", 3, 112, 5, 1, 6, 0.25),
    Stage("mbconv", 4, 192, 5, 2, 6, 0.25),
    Stage("mbconv", 1, 320, 3, 1, 6, 0.25),
]

# (width, depth, resolution, dropout) of the reference code's variants
EFFICIENTNET_PARAMS: dict[str, tuple[float, float, int, float]] = {
    "efficientnet_b0": (1.0, 1.0, 224, 0.2),
    "efficientnet_b1": (1.0, 1.1, 240, 0.2),
    "efficientnet_b2": (1.1, 1.2, 260, 0.3),
    "efficientnet_b3": (1.2, 1.4, 300, 0.3),
    "efficientnet_b4": (1.4, 1.8, 380, 0.4),
    "efficientnet_b5": (1.6, 2.2, 456, 0.4),
    "efficientnet_b6": (1.8, 2.6, 528, 0.5),
    "efficientnet_b7": (2.0, 3.1, 600, 0.5),
    "efficientnet_b8": (2.2, 3.6, 672, 0.5),
    "efficientnet_l2": (4.3, 5.3, 800, 0.5),
}


def efficientnet(table: list[Stage], *, width_mult: float, depth_mult: float, num_classes: int, in_chans: int,
                 drop_rate: float, drop_path_rate: float, padding: str, bn_eps: float, act: str = "silu",
                 se: bool = True, head_chs: int | None = None, depth_rounding: str = "ceil") -> MBConvNet:
    """An EfficientNet-style network from ``table`` at the given width and depth coefficients."""
    opts = BlockOptions(act=act, norm_layer=batch_norm(bn_eps), padding=padding, se_from="in")
    if not se:
        table = [r._replace(se_ratio=0.0) for r in table]
    if head_chs is None:  # 4× the last stage's width: 1280 for B0
        head_chs = 4 * round_channels(table[-1].out_chs, width_mult)
    return MBConvNet(table, num_classes=num_classes, in_chans=in_chans, stem_chs=32, head_chs=head_chs,
                     width_mult=width_mult, depth_mult=depth_mult, opts=opts, drop_rate=drop_rate,
                     drop_path_rate=drop_path_rate, depth_rounding=depth_rounding)


def _tf(padding: str, bn_eps: float | None, tf_mode: bool, default_eps: float) -> tuple[str, float]:
    """``tf_mode``: TensorFlow "same" padding and BN eps 1e-3, as the weights ported from TF need."""
    if tf_mode:
        return "same", 1e-3 if bn_eps is None else bn_eps
    return padding, default_eps if bn_eps is None else bn_eps


def _size(name: str) -> tuple[int, int, int]:
    r = EFFICIENTNET_PARAMS[name][2]
    return (3, r, r)


def _drop(name: str) -> float:
    return EFFICIENTNET_PARAMS[name][3]


def _scaling(name: str) -> dict[str, float]:
    w, d, r, p = EFFICIENTNET_PARAMS[name]
    return {"width_mult": w, "depth_mult": d, "resolution": r, "dropout": p}


def _register(name: str, reference: str):
    """``register_model`` with the variant's input size and coefficients from ``EFFICIENTNET_PARAMS``."""
    return register_model(paper=PAPER, input_size=_size(name), scaling=_scaling(name), reference=reference)


def _efficientnet(name: str, width_mult: float | None, depth_mult: float | None, num_classes: int, in_chans: int,
                  drop_rate: float, drop_path_rate: float, padding: str, bn_eps: float | None, tf_mode: bool,
                  default_eps: float = 1e-5, *, depth_rounding: str = "ceil") -> MBConvNet:
    w, d, _, _ = EFFICIENTNET_PARAMS[name]
    pad, eps = _tf(padding, bn_eps, tf_mode, default_eps)
    return efficientnet(EFFICIENTNET_B0_STAGES, width_mult=w if width_mult is None else width_mult,
                        depth_mult=d if depth_mult is None else depth_mult, num_classes=num_classes,
                        in_chans=in_chans, drop_rate=drop_rate, drop_path_rate=drop_path_rate, padding=pad,
                        bn_eps=eps, depth_rounding=depth_rounding)


# Every constructor: ``width_mult``/``depth_mult`` ``None`` take the variant's coefficients;
# ``padding="same"`` uses TensorFlow padding, ``bn_eps`` sets the batch-norm epsilon, and
# ``tf_mode=True`` sets both as the TF-ported ("tf_") weights need ("same", 1e-3).


@_register("efficientnet_b0", "torchvision")
def efficientnet_b0(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = _drop("efficientnet_b0"),
                    drop_path_rate: float = 0.0, width_mult: float | None = None, depth_mult: float | None = None,
                    padding: str = "", bn_eps: float | None = None, tf_mode: bool = False,
                    depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNet-B0, the searched baseline of Table 1 (5,288,548 parameters, 224², dropout 0.2)."""
    return _efficientnet("efficientnet_b0", width_mult, depth_mult, num_classes, in_chans, drop_rate, drop_path_rate,
                         padding, bn_eps, tf_mode, depth_rounding=depth_rounding)


@_register("efficientnet_b1", "torchvision")
def efficientnet_b1(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = _drop("efficientnet_b1"),
                    drop_path_rate: float = 0.0, width_mult: float | None = None, depth_mult: float | None = None,
                    padding: str = "", bn_eps: float | None = None, tf_mode: bool = False,
                    depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNet-B1: width 1.0, depth 1.1, 240², dropout 0.2 (7,794,184 parameters)."""
    return _efficientnet("efficientnet_b1", width_mult, depth_mult, num_classes, in_chans, drop_rate, drop_path_rate,
                         padding, bn_eps, tf_mode, depth_rounding=depth_rounding)


@_register("efficientnet_b2", "torchvision")
def efficientnet_b2(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = _drop("efficientnet_b2"),
                    drop_path_rate: float = 0.0, width_mult: float | None = None, depth_mult: float | None = None,
                    padding: str = "", bn_eps: float | None = None, tf_mode: bool = False,
                    depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNet-B2: width 1.1, depth 1.2, 260², dropout 0.3 (9,109,994 parameters)."""
    return _efficientnet("efficientnet_b2", width_mult, depth_mult, num_classes, in_chans, drop_rate, drop_path_rate,
                         padding, bn_eps, tf_mode, depth_rounding=depth_rounding)


@_register("efficientnet_b3", "torchvision")
def efficientnet_b3(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = _drop("efficientnet_b3"),
                    drop_path_rate: float = 0.0, width_mult: float | None = None, depth_mult: float | None = None,
                    padding: str = "", bn_eps: float | None = None, tf_mode: bool = False,
                    depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNet-B3: width 1.2, depth 1.4, 300², dropout 0.3 (12,233,232 parameters)."""
    return _efficientnet("efficientnet_b3", width_mult, depth_mult, num_classes, in_chans, drop_rate, drop_path_rate,
                         padding, bn_eps, tf_mode, depth_rounding=depth_rounding)


@_register("efficientnet_b4", "torchvision")
def efficientnet_b4(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = _drop("efficientnet_b4"),
                    drop_path_rate: float = 0.0, width_mult: float | None = None, depth_mult: float | None = None,
                    padding: str = "", bn_eps: float | None = None, tf_mode: bool = False,
                    depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNet-B4: width 1.4, depth 1.8, 380², dropout 0.4 (19,341,616 parameters)."""
    return _efficientnet("efficientnet_b4", width_mult, depth_mult, num_classes, in_chans, drop_rate, drop_path_rate,
                         padding, bn_eps, tf_mode, depth_rounding=depth_rounding)


@_register("efficientnet_b5", "torchvision")
def efficientnet_b5(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = _drop("efficientnet_b5"),
                    drop_path_rate: float = 0.0, width_mult: float | None = None, depth_mult: float | None = None,
                    padding: str = "", bn_eps: float | None = None, tf_mode: bool = False,
                    depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNet-B5: width 1.6, depth 2.2, 456², dropout 0.4 (30,389,784 parameters).

    BN eps defaults to 1e-3 as in torchvision, whose B5–B7 weights come from TensorFlow."""
    return _efficientnet("efficientnet_b5", width_mult, depth_mult, num_classes, in_chans, drop_rate, drop_path_rate,
                         padding, bn_eps, tf_mode, default_eps=1e-3, depth_rounding=depth_rounding)


@_register("efficientnet_b6", "torchvision")
def efficientnet_b6(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = _drop("efficientnet_b6"),
                    drop_path_rate: float = 0.0, width_mult: float | None = None, depth_mult: float | None = None,
                    padding: str = "", bn_eps: float | None = None, tf_mode: bool = False,
                    depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNet-B6: width 1.8, depth 2.6, 528², dropout 0.5 (43,040,704 parameters).

    BN eps defaults to 1e-3 as in torchvision."""
    return _efficientnet("efficientnet_b6", width_mult, depth_mult, num_classes, in_chans, drop_rate, drop_path_rate,
                         padding, bn_eps, tf_mode, default_eps=1e-3, depth_rounding=depth_rounding)


@_register("efficientnet_b7", "torchvision")
def efficientnet_b7(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = _drop("efficientnet_b7"),
                    drop_path_rate: float = 0.0, width_mult: float | None = None, depth_mult: float | None = None,
                    padding: str = "", bn_eps: float | None = None, tf_mode: bool = False,
                    depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNet-B7: width 2.0, depth 3.1, 600², dropout 0.5 (66,347,960 parameters).

    BN eps defaults to 1e-3 as in torchvision."""
    return _efficientnet("efficientnet_b7", width_mult, depth_mult, num_classes, in_chans, drop_rate, drop_path_rate,
                         padding, bn_eps, tf_mode, default_eps=1e-3, depth_rounding=depth_rounding)


@_register("efficientnet_b8", "timm")
def efficientnet_b8(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = _drop("efficientnet_b8"),
                    drop_path_rate: float = 0.0, width_mult: float | None = None, depth_mult: float | None = None,
                    padding: str = "", bn_eps: float | None = None, tf_mode: bool = False,
                    depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNet-B8 (AdvProp): width 2.2, depth 3.6, 672², dropout 0.5 (87,413,142 parameters)."""
    return _efficientnet("efficientnet_b8", width_mult, depth_mult, num_classes, in_chans, drop_rate, drop_path_rate,
                         padding, bn_eps, tf_mode, depth_rounding=depth_rounding)


@_register("efficientnet_l2", "timm")
def efficientnet_l2(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = _drop("efficientnet_l2"),
                    drop_path_rate: float = 0.0, width_mult: float | None = None, depth_mult: float | None = None,
                    padding: str = "", bn_eps: float | None = None, tf_mode: bool = False,
                    depth_rounding: str = "ceil") -> MBConvNet:
    """EfficientNet-L2 (Noisy Student): width 4.3, depth 5.3, 800², dropout 0.5 (480,309,308 parameters)."""
    return _efficientnet("efficientnet_l2", width_mult, depth_mult, num_classes, in_chans, drop_rate, drop_path_rate,
                         padding, bn_eps, tf_mode, depth_rounding=depth_rounding)
