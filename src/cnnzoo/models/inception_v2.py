"""BN-Inception ("Inception v2"): Ioffe & Szegedy 2015, "Batch Normalization: Accelerating Deep Network
Training by Reducing Internal Covariate Shift", §4.2 and the Inception table of Figure 5.

GoogLeNet's layout with three changes (§4.2): batch norm after every convolution (before its ReLU,
so the convolutions need no bias); the 5×5 convolutions replaced by two stacked 3×3 ("double 3×3");
and the grid reductions done inside Inception modules (3c and 4e): a stride-2 3×3 branch and a stride-2
double-3×3 branch concatenated with a max-pooled copy of the input ("max + pass through"), with no
1×1 branch. The pooling branches average except in 5b (max). No dropout and no auxiliary classifiers
("other than the top softmax layer, [the network] has no fully-connected layers").

Neither torchvision nor timm has this network, so its parameter count (11,285,224 at 1000 classes)
is the sum over the table's layers (recomputed by hand from the table in tests/test_inception_v2.py).
The paper's text quotes 13.6·10⁶ parameters, which the table's widths do not give; the widely used
Caffe port (pretrainedmodels' ``bninception``) has the same widths as here plus a bias on every convolution.
The grid-reducing max pool is 3×3/2 with padding 1, which keeps it aligned with the stride-2 convolutions
(also padded by 1) at every input size; the stem pools are 3×3/2 rounding up, as in GoogLeNet.
"""

from __future__ import annotations

from functools import partial

from torch import nn

from cnnzoo.layers import ClassifierHead, ConvNormAct, InceptionBlock
from cnnzoo.layers.pooling import MaxPool2d
from cnnzoo.models._staged import StagedModel
from cnnzoo.models.googlenet import add_googlenet_stem
from cnnzoo.registry import register_model

# Figure 5: (name, #1×1, #3×3 reduce, #3×3, double #3×3 reduce, double #3×3, pool, pool proj, stride).
# #1×1 = 0: no 1×1 branch; pool proj = 0: "pass through" (the pooled input itself).
BN_INCEPTION_TABLE = [
    ("inception3a", 64, 64, 64, 64, 96, "avg", 32, 1),
    ("inception3b", 64, 64, 96, 64, 96, "avg", 64, 1),
    ("inception3c", 0, 128, 160, 64, 96, "max", 0, 2),
    ("inception4a", 224, 64, 96, 96, 128, "avg", 128, 1),
    ("inception4b", 192, 96, 128, 96, 128, "avg", 128, 1),
    ("inception4c", 160, 128, 160, 128, 160, "avg", 128, 1),
    ("inception4d", 96, 128, 192, 160, 192, "avg", 128, 1),
    ("inception4e", 0, 128, 192, 192, 256, "max", 0, 2),
    ("inception5a", 352, 192, 320, 160, 224, "avg", 128, 1),
    ("inception5b", 352, 192, 320, 192, 224, "max", 128, 1),
]


def bn_inception_module(n1x1: int, n3x3red: int, n3x3: int, d3x3red: int, d3x3: int, pool: str,
                        pool_proj: int, stride: int) -> dict:
    """One row of the table as branches: 1×1 | 1×1 → 3×3 | 1×1 → 3×3 → 3×3 | pool (→ 1×1)."""
    pool_layer = partial(nn.AvgPool2d if pool == "avg" else MaxPool2d, 3, stride=stride, padding=1)
    branches = {
        "branch1": [(n1x1, 1)],
        "branch2": [(n3x3red, 1), (n3x3, 3, stride)],
        "branch3": [(d3x3red, 1), (d3x3, 3), (d3x3, 3, stride)],
        "branch4": [pool_layer] + ([(pool_proj, 1)] if pool_proj else []),
    }
    if not n1x1:
        del branches["branch1"]
    return branches


class BNInception(StagedModel):
    """BN-Inception: GoogLeNet's stem, ten Inception modules (two of them reduce the grid), average
    pooling and a linear classifier."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                 table: list = BN_INCEPTION_TABLE) -> None:
        # 7×7 is the smallest input the rounding-up stem pools accept (the grid reductions are padded).
        super().__init__(in_chans, num_classes, min_size=7)
        conv = ConvNormAct
        # Figure 5, first rows: convolution 7×7/2 (64), max pool 3×3/2, convolution 3×3 (#3×3 reduce 64, #3×3 192),
        # max pool 3×3/2 — GoogLeNet's stem.
        add_googlenet_stem(self, in_chans, conv)
        chs, reduction = 192, 8
        for name, *row in table:
            if row[-1] == 2:  # a stage ends where the next module halves the grid
                self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=self.stage_names[-1]))
                reduction *= 2
            block = InceptionBlock(chs, bn_inception_module(*row), conv)
            self.add_stage(name, block)
            chs = block.out_chs
        self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=self.stage_names[-1]))
        self.head = ClassifierHead(chs, num_classes, drop_rate=drop_rate)


@register_model(paper="Ioffe & Szegedy 2015, Batch Normalization (BN-Inception, Figure 5)")
def inception_v2(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0) -> BNInception:
    """BN-Inception / Inception v2: 11,285,224 parameters (counted from the paper's table; no reference
    implementation in torchvision or timm). Minimum input 7×7."""
    return BNInception(num_classes, in_chans, drop_rate)
