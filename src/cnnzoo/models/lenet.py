"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document
recognition", §II-B, Fig. 2).

    input 32×32 → C1 6@5×5 → S2 2×2 subsampling → C3 16@5×5 (Table I connections) → S4 2×2
    subsampling → C5 120@5×5 → F6 84 → output

Choices, stated where they depart from or interpret the paper:

* Squashing: every layer up to F6 passes its weighted sum through f(a) = A·tanh(S·a) with
  A = 1.7159, S = 2/3 (§II-B and Appendix A).
* Subsampling (S2, S4): the four inputs are added, multiplied by one trainable coefficient per map
  and added to one trainable bias per map, then squashed (§II-B) — 2 parameters per map.
* C3 uses the paper's partial connection table (Table I: maps 0–5 see 3 contiguous S2 maps, 6–11
  see 4 contiguous, 12–14 see 4 non-contiguous, 15 sees all six): 1,516 parameters instead of
  2,416. ``connection_table=False`` gives the full 6→16 convolution.
* The output layer is a plain linear layer (84·num_classes + num_classes parameters), not the
  paper's Euclidean RBF units with hand-chosen fixed codes (§II-B, Eq. 7).
* Other input sizes: S4's map is pooled adaptively to the 5×5 grid C5 expects (an identity at the
  paper's 32×32), so 28×28 Fashion-MNIST images go in directly (the paper padded its 28×28 digits
  into a 32×32 field instead). The smallest input is 16×16 (C3 and S4 need a 6×6 S2 map).
* Initialisation: weights uniform in ±2.4/F with F the unit's fan-in (Appendix A); subsampling
  coefficients start at 1/4, so S2 and S4 start as average pooling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.layers import ClassifierHead
from cnnzoo.models._base import ZooModel
from cnnzoo.registry import register_model

# Table I: the S2 maps that each of C3's 16 maps is connected to.
C3_CONNECTIONS: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)

# (layer, maps, kernel) in the paper's order; S layers subsample 2×2.
LENET5_LAYERS = [
    ("c1", 6, 5),
    ("s2", 6, 2),
    ("c3", 16, 5),
    ("s4", 16, 2),
    ("c5", 120, 5),
]
LENET5_F6 = 84


class ScaledTanh(nn.Module):
    """The paper's squashing function f(a) = A·tanh(S·a), A = 1.7159, S = 2/3 (Appendix A)."""

    def __init__(self, amplitude: float = 1.7159, slope: float = 2.0 / 3.0) -> None:
        super().__init__()
        self.amplitude, self.slope = amplitude, slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope:.4f}"


class Subsampling(nn.Module):
    """S2/S4: sum of each 2×2 block × a trainable coefficient + a trainable bias, per map, then squash."""

    def __init__(self, channels: int, kernel_size: int = 2) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.full((channels,), 1.0 / kernel_size**2))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.act = ScaledTanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        summed = F.avg_pool2d(x, k) * (k * k)
        return self.act(summed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1))


class ConnectionTableConv2d(nn.Module):
    """A convolution in which output map ``o`` only sees the input maps ``table[o]`` (Table I).

    Only the connected kernels are parameters (``weight`` holds them packed, one k×k kernel per
    connection); the dense kernel is assembled at each forward with zeros elsewhere.
    """

    def __init__(self, in_chs: int, table: tuple[tuple[int, ...], ...], kernel_size: int) -> None:
        super().__init__()
        if any(not 0 <= i < in_chs for ins in table for i in ins):
            raise ValueError(f"connection table refers to input maps outside 0..{in_chs - 1}")
        self.in_chs, self.out_chs, self.kernel_size = in_chs, len(table), kernel_size
        self.table = table
        self._index = [o * in_chs + i for o, ins in enumerate(table) for i in ins]
        self.weight = nn.Parameter(torch.empty(len(self._index), kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(self.out_chs))
        # fan-in of each output map: (connected maps) × k × k
        self.fan_in = [len(ins) * kernel_size**2 for ins in table]

    def dense_weight(self) -> torch.Tensor:
        """The equivalent (out, in, k, k) kernel, zero where Table I has no connection."""
        k = self.kernel_size
        index = torch.as_tensor(self._index, dtype=torch.long, device=self.weight.device)
        full = self.weight.new_zeros(self.out_chs * self.in_chs, k, k).index_copy(0, index, self.weight)
        return full.view(self.out_chs, self.in_chs, k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.dense_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_chs}, {self.out_chs}, kernel_size={self.kernel_size}, connections={len(self._index)}"


class LeNet5(ZooModel):
    """LeNet-5: C1-S2-C3-S4-C5 feature extractor, F6 + output as the classifier head.

    Modules are named after the paper's layers (``c1``, ``s2``, ``c3``, ``s4``, ``c5``; F6 is
    ``head.hidden.0`` and the output layer ``head.fc``).
    """

    def __init__(self, num_classes: int = 10, in_chans: int = 1, drop_rate: float = 0.0,
                 connection_table: bool = True) -> None:
        super().__init__(in_chans, num_classes, min_size=16)
        (_, c1, k1), (_, _, ks2), (_, c3, k3), (_, _, ks4), (_, c5, k5) = LENET5_LAYERS
        self.c1 = nn.Sequential(nn.Conv2d(in_chans, c1, k1), ScaledTanh())
        self.s2 = Subsampling(c1, ks2)
        conv3 = ConnectionTableConv2d(c1, C3_CONNECTIONS, k3) if connection_table else nn.Conv2d(c1, c3, k3)
        self.c3 = nn.Sequential(conv3, ScaledTanh())
        self.s4 = Subsampling(c3, ks4)
        # C5 sees a 5×5 grid: S4's map at 32×32 inputs, pooled adaptively to it otherwise.
        self.pool = nn.AdaptiveAvgPool2d(k5)
        self.c5 = nn.Sequential(nn.Conv2d(c3, c5, k5), ScaledTanh())
        self.feature_info = [
            dict(num_chs=c1, reduction=2, module="s2"),
            dict(num_chs=c3, reduction=4, module="s4"),
            dict(num_chs=c5, reduction=32, module="c5"),  # a 1×1 map (the whole 32×32 input)
        ]
        self.head = ClassifierHead(c5, num_classes, hidden=(LENET5_F6,), act_layer=ScaledTanh, drop_rate=0.0)
        # dropout (not in the paper) goes between F6 and the output, where ClassifierHead has none
        self.head.drop = nn.Dropout(drop_rate) if drop_rate else nn.Identity()
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        # Appendix A: uniform in (-2.4/F, 2.4/F), F = fan-in of the unit.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                bound = 2.4 / (m.weight[0].numel())
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.uniform_(m.bias, -bound, bound)
            elif isinstance(m, ConnectionTableConv2d):
                start = 0
                for o, ins in enumerate(m.table):
                    bound = 2.4 / m.fan_in[o]
                    nn.init.uniform_(m.weight[start:start + len(ins)], -bound, bound)
                    nn.init.uniform_(m.bias[o:o + 1], -bound, bound)
                    start += len(ins)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.s2(self.c1(x))
        x = self.s4(self.c3(x))
        return self.c5(self.pool(x))


@register_model(paper="LeCun et al. 1998, Gradient-based learning applied to document recognition",
                input_size=(1, 32, 32), num_classes=10, pretrained_accuracy=0.8864)
def lenet5(num_classes: int = 10, in_chans: int = 1, drop_rate: float = 0.0,
           connection_table: bool = True) -> LeNet5:
    """LeNet-5: 60,850 parameters at 10 classes, 1 channel (61,750 with ``connection_table=False``).

    ``connection_table`` uses the paper's Table I partial connections in C3; ``drop_rate`` is a
    dropout (not in the paper) between F6 and the output layer. Accepts inputs of 16×16 and up;
    28×28 Fashion-MNIST images work directly.
    """
    return LeNet5(num_classes, in_chans, drop_rate, connection_table)


__all__ = ["LeNet5", "ConnectionTableConv2d", "Subsampling", "ScaledTanh", "lenet5", "C3_CONNECTIONS"]
