"""GoogLeNet (Inception v1): Szegedy et al. 2015, "Going Deeper with Convolutions", Table 1.

Stem: conv 7×7/2 (64) → max pool 3×3/2 → conv 1×1 (64) → conv 3×3 (192) → max pool 3×3/2, then nine
Inception modules (two at 28×28, five at 14×14, two at 7×7, max pools in between), global average
pooling instead of a stack of fully connected layers, dropout and one linear classifier (§5).
Two auxiliary classifiers read the outputs of inception (4a) and (4d) during training (§5).

As in torchvision (whose state-dict layout this follows, so its weights load with a rename), every
convolution is followed by batch norm (eps 1e-3) and the local response normalisation is left out;
the auxiliary heads pool adaptively to 4×4 (the paper: average pool 5×5/3, the same 4×4 grid at
224×224); the max pool before the 7×7 stage is 2×2/2 (the paper: 3×3/2; both give 7×7); and the
branch Table 1 calls "5×5" uses a 3×3 convolution, torchvision's port of the original weights.
``paper_5x5=True`` builds the paper's 5×5 instead (7,005,832 parameters without the auxiliary heads).
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

# Table 1: the nine Inception modules.
# (name, #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj)
GOOGLENET_TABLE = [
    ("inception3a", 64, 96, 128, 16, 32, 32),
    ("inception3b", 128, 128, 192, 32, 96, 64),
    ("inception4a", 192, 96, 208, 16, 48, 64),
    ("inception4b", 160, 112, 224, 24, 64, 64),
    ("inception4c", 128, 128, 256, 24, 64, 64),
    ("inception4d", 112, 144, 288, 32, 64, 64),
    ("inception4e", 256, 160, 320, 32, 128, 128),
    ("inception5a", 256, 160, 320, 32, 128, 128),
    ("inception5b", 384, 192, 384, 48, 128, 128),
]
# The grid-size reductions between the groups of modules: (after, name, kernel) of a stride-2 max pool.
GOOGLENET_POOLS = {"inception3b": ("maxpool3", 3), "inception4e": ("maxpool4", 2)}
# The auxiliary classifiers (§5): (tapped module, head name).
GOOGLENET_AUX = {"inception4a": "aux1", "inception4d": "aux2"}


def inception_module(n1x1: int, n3x3red: int, n3x3: int, n5x5red: int, n5x5: int, pool_proj: int,
                     k5x5: int = 3) -> dict:
    """One row of Table 1 as branches (Figure 2(b)); ``k5x5``: the kernel of the "5×5" branch."""
    return {
        "branch1": [(n1x1, 1)],
        "branch2": [(n3x3red, 1), (n3x3, 3)],
        "branch3": [(n5x5red, 1), (n5x5, k5x5)],
        "branch4": [partial(MaxPool2d, 3, stride=1, padding=1, ceil_mode=True), (pool_proj, 1)],
    }


class GoogLeNetAux(nn.Module):
    """Auxiliary classifier (§5): average pool to 4×4 → 1×1 conv (128) → FC 1024 + ReLU → dropout 70 %
    → linear. ``num_classes=0`` leaves the last linear out."""

    def __init__(self, in_chs: int, num_classes: int, conv_layer=ConvNormAct, drop_rate: float = 0.7) -> None:
        super().__init__()
        self.conv = conv_layer(in_chs, 128, 1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.act = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(drop_rate)
        self.fc2: nn.Module = nn.Linear(1024, num_classes) if num_classes > 0 else nn.Identity()

    def reset(self, num_classes: int) -> None:
        device = self.fc1.weight.device
        self.fc2 = (nn.Linear(1024, num_classes) if num_classes > 0 else nn.Identity()).to(device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.adaptive_avg_pool2d(x, 4))
        x = self.dropout(self.act(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


def add_googlenet_stem(model: StagedModel, in_chans: int, conv) -> None:
    """Table 1's first rows, shared by BN-Inception (its Figure 5): convolution 7×7/2 (64), max pool 3×3/2,
    convolution 1×1 (64) and 3×3 (192), max pool 3×3/2 — stages ``conv1`` (stride 2) and ``conv3`` (stride 4)."""
    model.add_stage("conv1", conv(in_chans, 64, 7, stride=2))
    model.add_stage("maxpool1", MaxPool2d(3, stride=2, ceil_mode=True))
    model.add_stage("conv2", conv(64, 64, 1))
    model.add_stage("conv3", conv(64, 192, 3))
    model.add_stage("maxpool2", MaxPool2d(3, stride=2, ceil_mode=True))
    model.feature_info = [dict(num_chs=64, reduction=2, module="conv1"),
                          dict(num_chs=192, reduction=4, module="conv3")]


class GoogLeNet(StagedModel):
    """GoogLeNet with batch norm; in training mode with ``aux_logits`` it returns ``(logits, aux1, aux2)``."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                 aux_logits: bool = True, paper_5x5: bool = False, table: list = GOOGLENET_TABLE) -> None:
        # 15×15 is the smallest input every pooling layer accepts (torchvision's documented minimum too).
        super().__init__(in_chans, num_classes, min_size=15, aux_logits=aux_logits)
        conv = partial(ConvNormAct, norm_layer=partial(nn.BatchNorm2d, eps=1e-3))
        add_googlenet_stem(self, in_chans, conv)
        chs, reduction = 192, 8
        for name, *widths in table:
            block = InceptionBlock(chs, inception_module(*widths, k5x5=5 if paper_5x5 else 3), conv)
            self.add_stage(name, block)
            chs = block.out_chs
            if aux_logits and name in GOOGLENET_AUX:
                self.add_module(GOOGLENET_AUX[name], GoogLeNetAux(chs, num_classes, conv))
                self.aux_taps[name] = GOOGLENET_AUX[name]
            if name in GOOGLENET_POOLS:
                self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=name))
                pool, kernel = GOOGLENET_POOLS[name]
                self.add_stage(pool, MaxPool2d(kernel, stride=2, ceil_mode=True))
                reduction *= 2
        self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=self.stage_names[-1]))
        self.head = ClassifierHead(chs, num_classes, drop_rate=drop_rate)


@register_model(paper="Szegedy et al. 2015, Going Deeper with Convolutions (GoogLeNet)", reference="torchvision")
def googlenet(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0, aux_logits: bool = True,
              paper_5x5: bool = False) -> GoogLeNet:
    """GoogLeNet / Inception v1: 13,004,888 parameters with the two auxiliary classifiers (the default),
    6,624,904 with ``aux_logits=False`` (both as torchvision).

    ``aux_logits``: in training mode return ``(logits, aux1, aux2)``; train with
    ``cnnzoo.train.losses.aux_loss`` (main + 0.3·aux1 + 0.3·aux2). ``paper_5x5``: the paper's 5×5 kernel
    instead of torchvision's 3×3 in the third branch. ``drop_rate``: dropout before the classifier
    (the paper 0.4, torchvision 0.2).
    """
    return GoogLeNet(num_classes, in_chans, drop_rate, aux_logits=aux_logits, paper_5x5=paper_5x5)
