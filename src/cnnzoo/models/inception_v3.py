"""Inception v3: Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision",
Table 1 and Figures 5–7 and 10.

Stem (Table 1): conv 3×3/2 (32, valid) → conv 3×3 (32, valid) → conv 3×3 (64, padded) → max pool 3×3/2 →
conv 1×1 (80) → conv 3×3 (192, valid) → max pool 3×3/2; then 3 × Inception-A at 35×35 (Figure 5),
a grid reduction to 17×17 (Figure 10), 4 × Inception-C at 17×17 with 1×7/7×1 factorised convolutions
(Figure 6, n = 7), a grid reduction to 8×8, 2 × Inception-E at 8×8 with split 1×3/3×1 outputs
(Figure 7), global average pooling, dropout, linear. One auxiliary classifier reads the last 17×17
module (§4, Figure 8) during training.

The widths are those of the released model (torchvision's and timm's layout, followed here so their
weights load with a rename): the 35×35 modules keep a 5×5 branch next to the double-3×3 one, and
batch norm (eps 1e-3) follows every convolution (the paper's "BN-auxiliary" variant normalises
the auxiliary head too). torchvision's ``transform_input`` (re-normalising ImageNet inputs for the
ported weights) is not a model option here: normalise the data in the data pipeline.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.layers import ClassifierHead, ConvNormAct, InceptionBlock
from cnnzoo.layers.pooling import MaxPool2d
from cnnzoo.models._staged import StagedModel
from cnnzoo.registry import register_model

AVG_POOL = partial(nn.AvgPool2d, 3, stride=1, padding=1)
MAX_POOL_S2 = partial(MaxPool2d, 3, stride=2)

# A convolution is (filters, kernel[, stride[, padding]]); padding 0 is the paper's "valid".


def inception_a(pool_proj: int) -> dict:
    """35×35 module (Figure 5)."""
    return {
        "branch1x1": [(64, 1)],
        "branch5x5": [(48, 1), (64, 5)],
        "branch3x3dbl": [(64, 1), (96, 3), (96, 3)],
        "branch_pool": [AVG_POOL, (pool_proj, 1)],
    }


def reduction_35_to_17() -> dict:
    """Grid reduction 35×35 → 17×17 (Figure 10): strided convolutions next to a strided max pool."""
    return {
        "branch3x3": [(384, 3, 2, 0)],
        "branch3x3dbl": [(64, 1), (96, 3), (96, 3, 2, 0)],
        "branch_pool": [MAX_POOL_S2],
    }


def inception_c(c7: int) -> dict:
    """17×17 module with n×n factorised into 1×n and n×1, n = 7 (Figure 6)."""
    return {
        "branch1x1": [(192, 1)],
        "branch7x7": [(c7, 1), (c7, (1, 7)), (192, (7, 1))],
        "branch7x7dbl": [(c7, 1), (c7, (7, 1)), (c7, (1, 7)), (c7, (7, 1)), (192, (1, 7))],
        "branch_pool": [AVG_POOL, (192, 1)],
    }


def reduction_17_to_8() -> dict:
    """Grid reduction 17×17 → 8×8."""
    return {
        "branch3x3": [(192, 1), (320, 3, 2, 0)],
        "branch7x7x3": [(192, 1), (192, (1, 7)), (192, (7, 1)), (192, 3, 2, 0)],
        "branch_pool": [MAX_POOL_S2],
    }


def inception_e() -> dict:
    """8×8 module with the expanded filter bank: outputs split into 1×3 and 3×1 (Figure 7)."""
    split = {"a": [(384, (1, 3))], "b": [(384, (3, 1))]}
    return {
        "branch1x1": [(320, 1)],
        "branch3x3": [(384, 1), split],
        "branch3x3dbl": [(448, 1), (384, 3), split],
        "branch_pool": [AVG_POOL, (192, 1)],
    }


# Table 1 (the Inception part): (module name, branches, feature-map reduction after it).
INCEPTION_V3_TABLE = [
    ("Mixed_5b", inception_a(32), 8),
    ("Mixed_5c", inception_a(64), 8),
    ("Mixed_5d", inception_a(64), 8),
    ("Mixed_6a", reduction_35_to_17(), 16),
    ("Mixed_6b", inception_c(128), 16),
    ("Mixed_6c", inception_c(160), 16),
    ("Mixed_6d", inception_c(160), 16),
    ("Mixed_6e", inception_c(192), 16),
    ("Mixed_7a", reduction_17_to_8(), 32),
    ("Mixed_7b", inception_e(), 32),
    ("Mixed_7c", inception_e(), 32),
]
AUX_AFTER = "Mixed_6e"  # §4: the auxiliary classifier sits on top of the last 17×17 layer


class InceptionAux(nn.Module):
    """Auxiliary classifier (Figure 8): average pool 5×5/3 → 1×1 conv (128) → 5×5 conv (768) → linear.

    On a 17×17 grid the pool gives 5×5 and the 5×5 convolution 1×1, as in the paper. Below 17×17 (inputs
    under ~299 pixels) the pool becomes an adaptive pool to 5×5, so that the head runs at every input
    size the network accepts (the reference implementations fail there).
    """

    def __init__(self, in_chs: int, num_classes: int, conv_layer=ConvNormAct) -> None:
        super().__init__()
        self.conv0 = conv_layer(in_chs, 128, 1)
        self.conv1 = conv_layer(128, 768, 5, padding=0)
        self.fc: nn.Module = nn.Linear(768, num_classes) if num_classes > 0 else nn.Identity()

    def reset(self, num_classes: int) -> None:
        device = self.conv0[0].weight.device
        self.fc = (nn.Linear(768, num_classes) if num_classes > 0 else nn.Identity()).to(device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, 5, stride=3) if min(x.shape[-2:]) >= 17 else F.adaptive_avg_pool2d(x, 5)
        x = self.conv1(self.conv0(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class InceptionV3(StagedModel):
    """Inception v3; in training mode with ``aux_logits`` it returns ``(logits, aux)``."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                 aux_logits: bool = True, table: list = INCEPTION_V3_TABLE) -> None:
        # 75×75 is the smallest input the valid convolutions and pools leave a 1×1 map for (torchvision's too).
        super().__init__(in_chans, num_classes, min_size=75, aux_logits=aux_logits)
        conv = partial(ConvNormAct, norm_layer=partial(nn.BatchNorm2d, eps=1e-3))
        self.add_stage("Conv2d_1a_3x3", conv(in_chans, 32, 3, stride=2, padding=0))
        self.add_stage("Conv2d_2a_3x3", conv(32, 32, 3, padding=0))
        self.add_stage("Conv2d_2b_3x3", conv(32, 64, 3))
        self.add_stage("maxpool1", MAX_POOL_S2())
        self.add_stage("Conv2d_3b_1x1", conv(64, 80, 1))
        self.add_stage("Conv2d_4a_3x3", conv(80, 192, 3, padding=0))
        self.add_stage("maxpool2", MAX_POOL_S2())
        self.feature_info = [dict(num_chs=64, reduction=2, module="Conv2d_2b_3x3"),
                             dict(num_chs=192, reduction=4, module="Conv2d_4a_3x3")]
        chs = 192
        for i, (name, branches, reduction) in enumerate(table):
            block = InceptionBlock(chs, branches, conv)
            self.add_stage(name, block)
            chs = block.out_chs
            if aux_logits and name == AUX_AFTER:
                self.AuxLogits = InceptionAux(chs, num_classes, conv)
                self.aux_taps[name] = "AuxLogits"
            if i + 1 == len(table) or table[i + 1][2] != reduction:
                self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=name))
        self.head = ClassifierHead(chs, num_classes, drop_rate=drop_rate)


@register_model(paper="Szegedy et al. 2016, Rethinking the Inception Architecture (Inception v3)",
                input_size=(3, 299, 299), reference="torchvision")
def inception_v3(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                 aux_logits: bool = True) -> InceptionV3:
    """Inception v3: 27,161,264 parameters with the auxiliary classifier (the default), 23,834,568 with
    ``aux_logits=False`` (both as torchvision and timm). Minimum input 75×75.

    ``aux_logits``: in training mode return ``(logits, aux)``; train with ``cnnzoo.train.losses.aux_loss``.
    ``drop_rate``: dropout before the classifier (torchvision 0.5).
    """
    return InceptionV3(num_classes, in_chans, drop_rate, aux_logits=aux_logits)
