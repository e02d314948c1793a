"""Inception-v4 and Inception-ResNet-v2: Szegedy et al. 2017, "Inception-v4, Inception-ResNet and the
Impact of Residual Connections on Learning", Figures 3–9 (Inception-v4) and 15–19 (Inception-ResNet-v2),
Table 1 (the reduction-A widths k, l, m, n).

Inception-v4 (Figure 9): stem (Figure 3) → 4 × Inception-A (35×35, Figure 4) → Reduction-A (Figure 7)
→ 7 × Inception-B (17×17, Figure 5) → Reduction-B (Figure 8) → 3 × Inception-C (8×8, Figure 6) →
average pooling → dropout → linear.

Inception-ResNet-v2 (Figure 15): stem → 10 × Inception-ResNet-A (Figure 16) → Reduction-A → 20 ×
Inception-ResNet-B (Figure 17) → Reduction-B (Figure 18) → 10 × Inception-ResNet-C (Figure 19) →
1×1 conv (1536) → average pooling → dropout → linear. Each residual block runs its branches,
concatenates them, projects back with a linear 1×1 convolution, scales the result (0.17, 0.10, 0.20;
§3.3 "scaling of the residuals") and adds it to its input before a ReLU; the last block has no ReLU.

Both follow the released TF-slim models (timm's layout, so their weights load with a rename):
batch norm (eps 1e-3) after every convolution but the residual projections (which have a bias), the
Inception-C 3×1 before 1×3 order of TF-slim (Figure 6 draws 1×3 first; same parameters), and for
Inception-ResNet-v2 the released model's stem (the Inception-v3 stem and a 35×35 Inception module
"mixed_5b" with 320 outputs) rather than Figure 3's.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from cnnzoo.layers import ClassifierHead, ConvNormAct, DropPath, InceptionBlock, build_branch, drop_path_rates
from cnnzoo.layers.drop_path import add_residual
from cnnzoo.models._staged import StagedModel
from cnnzoo.registry import register_model

# A convolution is (filters, kernel[, stride[, padding]]); padding 0 is the figures' "V" (valid).
AVG_POOL = partial(nn.AvgPool2d, 3, stride=1, padding=1, count_include_pad=False)
MAX_POOL_S2 = partial(nn.MaxPool2d, 3, stride=2)  # "3×3 MaxPool (stride 2 V)"


# -- Inception-v4 ----------------------------------------------------------------------------------
# Figure 3: the stem, 299×299×3 → 35×35×384 (a dict is a block of parallel branches).
INCEPTION_V4_STEM = [
    (32, 3, 2, 0),                                                                          # 149×149×32
    (32, 3, 1, 0),                                                                          # 147×147×32
    (64, 3),                                                                                # 147×147×64
    {"maxpool": [MAX_POOL_S2], "conv": [(96, 3, 2, 0)]},                                    # 73×73×160
    {"branch0": [(64, 1), (96, 3, 1, 0)],
     "branch1": [(64, 1), (64, (1, 7)), (64, (7, 1)), (96, 3, 1, 0)]},                      # 71×71×192
    {"conv": [(192, 3, 2, 0)], "maxpool": [MAX_POOL_S2]},                                   # 35×35×384
]
INCEPTION_A = {  # Figure 4
    "branch0": [(96, 1)],
    "branch1": [(64, 1), (96, 3)],
    "branch2": [(64, 1), (96, 3), (96, 3)],
    "branch3": [AVG_POOL, (96, 1)],
}
INCEPTION_B = {  # Figure 5
    "branch0": [(384, 1)],
    "branch1": [(192, 1), (224, (1, 7)), (256, (7, 1))],
    "branch2": [(192, 1), (192, (7, 1)), (224, (1, 7)), (224, (7, 1)), (256, (1, 7))],
    "branch3": [AVG_POOL, (128, 1)],
}
INCEPTION_C = {  # Figure 6
    "branch0": [(256, 1)],
    "branch1": [(384, 1), {"a": [(256, (1, 3))], "b": [(256, (3, 1))]}],
    "branch2": [(384, 1), (448, (3, 1)), (512, (1, 3)), {"a": [(256, (1, 3))], "b": [(256, (3, 1))]}],
    "branch3": [AVG_POOL, (256, 1)],
}


def reduction_a(k: int, l: int, m: int, n: int) -> dict:
    """Figure 7, 35×35 → 17×17, with Table 1's k, l, m, n."""
    return {
        "branch0": [(n, 3, 2, 0)],
        "branch1": [(k, 1), (l, 3), (m, 3, 2, 0)],
        "branch2": [MAX_POOL_S2],
    }


REDUCTION_B = {  # Figure 8, 17×17 → 8×8
    "branch0": [(192, 1), (192, 3, 2, 0)],
    "branch1": [(256, 1), (256, (1, 7)), (320, (7, 1)), (320, 3, 2, 0)],
    "branch2": [MAX_POOL_S2],
}

# Figure 9: (block, repeats) after the stem; Table 1: Inception-v4's k, l, m, n = 192, 224, 256, 384.
INCEPTION_V4_TABLE = [
    (INCEPTION_A, 4),
    (reduction_a(192, 224, 256, 384), 1),
    (INCEPTION_B, 7),
    (REDUCTION_B, 1),
    (INCEPTION_C, 3),
]
# The last layer at each stride 2, 4, 8, 16, 32: (index in ``features``, reduction).
INCEPTION_V4_FEATURES = [(2, 2), (3, 4), (9, 8), (17, 16), (21, 32)]


def _conv_layer() -> partial:
    return partial(ConvNormAct, norm_layer=partial(nn.BatchNorm2d, eps=1e-3))


class InceptionV4(StagedModel):
    """Inception-v4: one ``features`` Sequential (stem convolutions, stem blocks, Inception blocks)."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                 stem: list = INCEPTION_V4_STEM, table: list = INCEPTION_V4_TABLE) -> None:
        # 75×75 is the smallest input the valid convolutions and pools leave a 1×1 map for.
        super().__init__(in_chans, num_classes, min_size=75)
        conv = _conv_layer()
        layers: list[nn.Module] = []
        widths: list[int] = []
        chs = in_chans
        for item in stem + [branches for branches, repeats in table for _ in range(repeats)]:
            layer, chs = build_branch(chs, [item], conv)
            layers.append(layer)
            widths.append(chs)
        self.add_stage("features", nn.Sequential(*layers))
        self.feature_info = [dict(num_chs=widths[i], reduction=r, module=f"features.{i}")
                             for i, r in INCEPTION_V4_FEATURES]
        self.head = ClassifierHead(chs, num_classes, drop_rate=drop_rate)


# -- Inception-ResNet-v2 ---------------------------------------------------------------------------
# The released model's stem: Inception v3's (conv2d_1a … maxpool_5a, 35×35×192), then "mixed_5b".
IRV2_STEM = [
    ("conv2d_1a", (32, 3, 2, 0)),
    ("conv2d_2a", (32, 3, 1, 0)),
    ("conv2d_2b", (64, 3)),
    ("maxpool_3a", MAX_POOL_S2),
    ("conv2d_3b", (80, 1)),
    ("conv2d_4a", (192, 3, 1, 0)),
    ("maxpool_5a", MAX_POOL_S2),
]
IRV2_MIXED_5B = {
    "branch0": [(96, 1)],
    "branch1": [(48, 1), (64, 5)],
    "branch2": [(64, 1), (96, 3), (96, 3)],
    "branch3": [AVG_POOL, (64, 1)],
}
IRV2_BLOCK_A = {  # Figure 16 (35×35)
    "branch0": [(32, 1)],
    "branch1": [(32, 1), (32, 3)],
    "branch2": [(32, 1), (48, 3), (64, 3)],
}
IRV2_BLOCK_B = {  # Figure 17 (17×17)
    "branch0": [(192, 1)],
    "branch1": [(128, 1), (160, (1, 7)), (192, (7, 1))],
}
IRV2_BLOCK_C = {  # Figure 19 (8×8)
    "branch0": [(192, 1)],
    "branch1": [(192, 1), (224, (1, 3)), (256, (3, 1))],
}
IRV2_REDUCTION_B = {  # Figure 18
    "branch0": [(256, 1), (384, 3, 2, 0)],
    "branch1": [(256, 1), (288, 3, 2, 0)],
    "branch2": [(256, 1), (288, 3), (320, 3, 2, 0)],
    "branch3": [MAX_POOL_S2],
}
# Figure 15: (stage name, branches, repeats, residual scale; None: a plain Inception block).
# Table 1: Inception-ResNet-v2's k, l, m, n = 256, 256, 384, 384.
IRV2_TABLE = [
    ("mixed_5b", IRV2_MIXED_5B, 1, None),    # 35×35×320
    ("repeat", IRV2_BLOCK_A, 10, 0.17),
    ("mixed_6a", reduction_a(256, 256, 384, 384), 1, None),  # 17×17×1088
    ("repeat_1", IRV2_BLOCK_B, 20, 0.10),
    ("mixed_7a", IRV2_REDUCTION_B, 1, None),  # 8×8×2080
    ("repeat_2", IRV2_BLOCK_C, 9, 0.20),
]
# …then "block8", a tenth Inception-ResNet-C block, unscaled and without the ReLU, and "conv2d_7b",
# a 1×1 convolution to 1536 channels. The last layer at each stride 2, 4, 8, 16, 32:
IRV2_FEATURES = [("conv2d_2b", 2), ("conv2d_4a", 4), ("repeat", 8), ("repeat_1", 16), ("conv2d_7b", 32)]


class InceptionResidual(InceptionBlock):
    """Inception-ResNet block (Figures 16, 17, 19): ``act(x + drop_path(scale · conv1x1(concat(branches(x)))))``.

    The 1×1 "linear" convolution (with a bias, no norm, no activation) restores the input width.
    """

    def __init__(self, in_chs: int, branches: dict, scale: float, conv_layer=ConvNormAct,
                 drop_path_rate: float = 0.0, act: bool = True) -> None:
        super().__init__(in_chs, branches, conv_layer)
        self.conv2d = nn.Conv2d(self.out_chs, in_chs, 1)
        self.scale = scale
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()
        self.out_chs = in_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2d(super().forward(x)) * self.scale
        return self.act(add_residual(self.drop_path(out), x))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scale={self.scale}"


class InceptionResNetV2(StagedModel):
    """Inception-ResNet-v2 (named stages as in the released model: ``conv2d_1a`` … ``repeat_2``, ``block8``,
    ``conv2d_7b``); ``drop_path_rate`` is stochastic depth over the 40 residual blocks (linear rule)."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, table: list = IRV2_TABLE, num_features: int = 1536) -> None:
        # 75×75 is the smallest input the valid convolutions and pools leave a 1×1 map for.
        super().__init__(in_chans, num_classes, min_size=75)
        conv = _conv_layer()
        widths: dict[str, int] = {}
        chs = in_chans
        for name, item in IRV2_STEM:
            layer, chs = build_branch(chs, [item], conv)
            self.add_stage(name, layer)
            widths[name] = chs
        num_residual = sum(repeats for _, _, repeats, scale in table if scale is not None) + 1
        rates = iter(drop_path_rates(num_residual, drop_path_rate))
        for name, branches, repeats, scale in table:
            if scale is None:
                block = InceptionBlock(chs, branches, conv)
                chs = block.out_chs
            else:
                block = nn.Sequential(*[InceptionResidual(chs, branches, scale, conv, next(rates))
                                        for _ in range(repeats)])
            self.add_stage(name, block)
            widths[name] = chs
        self.add_stage("block8", InceptionResidual(chs, table[-1][1], 1.0, conv, next(rates), act=False))
        self.add_stage("conv2d_7b", conv(chs, num_features, 1))
        widths["conv2d_7b"] = num_features
        self.feature_info = [dict(num_chs=widths[name], reduction=r, module=name) for name, r in IRV2_FEATURES]
        self.head = ClassifierHead(num_features, num_classes, drop_rate=drop_rate)


@register_model(paper="Szegedy et al. 2017, Inception-v4, Inception-ResNet and the Impact of Residual "
                      "Connections on Learning", input_size=(3, 299, 299), reference="timm")
def inception_v4(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0) -> InceptionV4:
    """Inception-v4: 42,679,816 parameters (as timm). Minimum input 75×75."""
    return InceptionV4(num_classes, in_chans, drop_rate)


@register_model(paper="Szegedy et al. 2017, Inception-v4, Inception-ResNet and the Impact of Residual "
                      "Connections on Learning", input_size=(3, 299, 299), reference="timm")
def inception_resnet_v2(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0,
                        drop_path_rate: float = 0.0) -> InceptionResNetV2:
    """Inception-ResNet-v2: 55,843,464 parameters (as timm). Minimum input 75×75."""
    return InceptionResNetV2(num_classes, in_chans, drop_rate, drop_path_rate)
