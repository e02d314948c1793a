"""MnasNet (Tan et al., CVPR 2019): Platform-Aware Neural Architecture Search for Mobile.

The searched networks are stacks of MBConv blocks (§4.1, Fig. 4: a factorized hierarchical search
space with one block type, kernel, expansion and SE choice per stage), framed by a 3×3 stem and a
depthwise-separable first block (SepConv 3×3 → 16). ``mnasnet_a1`` is Figure 7 (a): the searched
model with squeeze-and-excitation in three stages; torchvision's ``mnasnet1_0`` (and 0.5/0.75/1.3
depth multipliers) is the SE-free MnasNet-B1 of the reference code.
"""

from __future__ import annotations

from cnnzoo.layers.inverted_residual import BlockOptions, Stage, batch_norm
from cnnzoo.models._mbconv_net import MBConvNet
from cnnzoo.registry import register_model

PAPER = "Tan et al. 2019, MnasNet: Platform-Aware Neural Architecture Search for Mobile"

#                   block    n    c   k  s  t   se
MNASNET_B1_STAGES = [
    Stage("mbconv", 1, 16, 3, 1, 1, skip=False),  # SepConv
    Stage("mbconv", 3, 24, 3, 2, 3),
    Stage("mbconv", 3, 40, 5, 2, 3),
    Stage("mbconv", 3, 80, 5, 2, 6),
    Stage("mbconv", 2, 96, 3, 1, 6),
    Stage("mbconv", 4, 192, 5, 2, 6),
    Stage("mbconv", 1, 320, 3, 1, 6),
]

# Figure 7 (a), MnasNet-A1
MNASNET_A1_STAGES = [
    Stage("mbconv", 1, 16, 3, 1, 1, skip=False),  # SepConv
    Stage("mbconv", 2, 24, 3, 2, 6),
    Stage("mbconv", 3, 40, 5, 2, 3, 0.25),
    Stage("mbconv", 4, 80, 3, 2, 6),
    Stage("mbconv", 2, 112, 3, 1, 6, 0.25),
    Stage("mbconv", 3, 160, 5, 2, 6, 0.25),
    Stage("mbconv", 1, 320, 3, 1, 6),
]


def _mnasnet(table: list[Stage], width_mult: float, depth_mult: float, num_classes: int, in_chans: int,
             drop_rate: float, drop_path_rate: float, padding: str, bn_eps: float, bn_momentum: float, *,
             depth_rounding: str = "ceil") -> MBConvNet:
    opts = BlockOptions(act="relu", norm_layer=batch_norm(bn_eps, bn_momentum), padding=padding, se_from="in")
    # the head conv keeps 1280 channels at every width (reference code)
    return MBConvNet(table, num_classes=num_classes, in_chans=in_chans, stem_chs=32, head_chs=1280,
                     width_mult=width_mult, depth_mult=depth_mult, opts=opts, drop_rate=drop_rate,
                     drop_path_rate=drop_path_rate, depth_rounding=depth_rounding)


def _scaling(width: float, res: int = 224) -> dict[str, float]:
    return {"width_mult": width, "depth_mult": 1.0, "resolution": res, "dropout": 0.2}


# torchvision keeps TF's BN momentum (decay 0.9997)
_TV_MOMENTUM = 1 - 0.9997


@register_model(paper=PAPER + " (MnasNet-B1 ×0.5)", reference="torchvision", scaling=_scaling(0.5))
def mnasnet0_5(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
               width_mult: float = 0.5, depth_mult: float = 1.0, padding: str = "", bn_eps: float = 1e-5,
               depth_rounding: str = "ceil") -> MBConvNet:
    """MnasNet-B1 with width (``alpha``) 0.5 (2,218,512 parameters)."""
    return _mnasnet(MNASNET_B1_STAGES, width_mult, depth_mult, num_classes, in_chans, drop_rate, drop_path_rate,
                    padding, bn_eps, _TV_MOMENTUM, depth_rounding=depth_rounding)


@register_model(paper=PAPER + " (MnasNet-B1 ×0.75)", reference="torchvision", scaling=_scaling(0.75))
def mnasnet0_75(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                width_mult: float = 0.75, depth_mult: float = 1.0, padding: str = "",
                bn_eps: float = 1e-5, depth_rounding: str = "ceil") -> MBConvNet:
    """MnasNet-B1 with width 0.75 (3,170,208 parameters)."""
    return _mnasnet(MNASNET_B1_STAGES, width_mult, depth_mult, num_classes, in_chans, drop_rate, drop_path_rate,
                    padding, bn_eps, _TV_MOMENTUM, depth_rounding=depth_rounding)


@register_model(paper=PAPER + " (MnasNet-B1)", reference="torchvision", scaling=_scaling(1.0))
def mnasnet1_0(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
               width_mult: float = 1.0, depth_mult: float = 1.0, padding: str = "", bn_eps: float = 1e-5,
               depth_rounding: str = "ceil") -> MBConvNet:
    """MnasNet-B1 1.0, torchvision's ``mnasnet1_0`` (4,383,312 parameters). ``width_mult`` is the
    paper's depth multiplier (§5.2, channels rounded to multiples of 8), ``depth_mult`` scales repeats."""
    return _mnasnet(MNASNET_B1_STAGES, width_mult, depth_mult, num_classes, in_chans, drop_rate, drop_path_rate,
                    padding, bn_eps, _TV_MOMENTUM, depth_rounding=depth_rounding)


@register_model(paper=PAPER + " (MnasNet-B1 ×1.3)", reference="torchvision", scaling=_scaling(1.3))
def mnasnet1_3(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
               width_mult: float = 1.3, depth_mult: float = 1.0, padding: str = "", bn_eps: float = 1e-5,
               depth_rounding: str = "ceil") -> MBConvNet:
    """MnasNet-B1 with width 1.3 (6,282,256 parameters)."""
    return _mnasnet(MNASNET_B1_STAGES, width_mult, depth_mult, num_classes, in_chans, drop_rate, drop_path_rate,
                    padding, bn_eps, _TV_MOMENTUM, depth_rounding=depth_rounding)


@register_model(paper=PAPER + " (MnasNet-A1, Fig. 7)", reference="timm", scaling=_scaling(1.0))
def mnasnet_a1(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
               width_mult: float = 1.0, depth_mult: float = 1.0, padding: str = "", bn_eps: float = 1e-5,
               depth_rounding: str = "ceil") -> MBConvNet:
    """MnasNet-A1 with squeeze-and-excitation (ratio 0.25 of the block input, ReLU, sigmoid gate)
    in the 40-, 112- and 160-channel stages (3,887,038 parameters)."""
    return _mnasnet(MNASNET_A1_STAGES, width_mult, depth_mult, num_classes, in_chans, drop_rate, drop_path_rate,
                    padding, bn_eps, 0.1, depth_rounding=depth_rounding)
