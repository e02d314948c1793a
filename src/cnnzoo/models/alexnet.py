"""AlexNet (Krizhevsky, Sutskever & Hinton 2012, "ImageNet classification with deep convolutional
neural networks", §3, Fig. 2), in its single-tower form.

The channel widths are those of torchvision's model (64-192-384-256-256, from Krizhevsky 2014,
"One weird trick for parallelizing convolutional neural networks"), so that ``alexnet`` matches it
exactly. ``alexnet_lrn`` adds what the 2012 paper has and torchvision leaves out: local response
normalisation after the ReLUs of conv1 and conv2 (§3.3, k=2, n=5, α=1e-4, β=0.75), each followed by
the overlapping 3×3/2 max-pooling (§3.4) that both variants use.

Both classifiers are the paper's: pooling to a 6×6 grid, two hidden layers of 4096 with dropout 0.5
on their outputs (§4.2), then the output layer. torchvision applies its dropouts to the *inputs* of
the two hidden layers instead; in eval mode the two are the same function.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.layers import ClassifierHead
from cnnzoo.layers.pooling import MaxPool2d
from cnnzoo.models._base import ZooModel
from cnnzoo.registry import register_model

# (out_channels, kernel, stride, padding, local response norm after the ReLU, max-pool 3/2 after)
ALEXNET_CONVS = [
    (64, 11, 4, 2, True, True),
    (192, 5, 1, 2, True, True),
    (384, 3, 1, 1, False, False),
    (256, 3, 1, 1, False, False),
    (256, 3, 1, 1, False, True),
]
ALEXNET_HIDDEN = (4096, 4096)
ALEXNET_POOL = 6  # the classifier sees a 6×6 grid (224×224 inputs give exactly that)

# §3.3: b = a / (k + α Σ a²)^β over n adjacent maps; torch's LocalResponseNorm divides α by n,
# so the paper's α = 1e-4 is α·n = 5e-4 there.
LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K = 5, 1e-4, 0.75, 2.0


class AlexNet(ZooModel):
    """Five convolutions with ReLU (and optionally LRN), three overlapping max-pools, an MLP head.

    ``features`` is a flat Sequential (torchvision's indices when ``lrn=False``).
    """

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, hidden_drop: float = 0.5,
                 lrn: bool = False, convs: list[tuple] = ALEXNET_CONVS) -> None:
        # 63 is the smallest side that leaves the last max-pool a 3×3 map to pool.
        super().__init__(in_chans, num_classes, min_size=63)
        layers: list[nn.Module] = []
        chs, reduction = in_chans, 1
        for out_chs, k, stride, pad, norm, pool in convs:
            layers += [nn.Conv2d(chs, out_chs, k, stride, pad), nn.ReLU(inplace=True)]
            if lrn and norm:
                layers.append(nn.LocalResponseNorm(LRN_SIZE, alpha=LRN_ALPHA * LRN_SIZE, beta=LRN_BETA, k=LRN_K))
            chs, reduction = out_chs, reduction * stride
            if pool:
                # a stage ends where it is pooled: its map is the one going into the pool
                self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=f"features.{len(layers) - 1}"))
                layers.append(MaxPool2d(kernel_size=3, stride=2))
                reduction *= 2
        self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=f"features.{len(layers) - 1}"))
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(chs, num_classes, pool_size=ALEXNET_POOL, hidden=ALEXNET_HIDDEN,
                                   hidden_drop=hidden_drop)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def _alexnet(lrn: bool, num_classes: int, in_chans: int, drop_rate: float) -> AlexNet:
    return AlexNet(num_classes, in_chans, hidden_drop=drop_rate, lrn=lrn)


_PAPER = "Krizhevsky et al. 2012, ImageNet classification with deep convolutional neural networks"


@register_model(paper=_PAPER, reference="torchvision")
def alexnet(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5) -> AlexNet:
    """AlexNet as in torchvision (no LRN): 61,100,840 parameters.

    ``drop_rate`` is the dropout on the two hidden layers' outputs (the paper's 0.5). Inputs of
    63×63 and up.
    """
    return _alexnet(False, num_classes, in_chans, drop_rate)


@register_model(paper=_PAPER)
def alexnet_lrn(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5) -> AlexNet:
    """AlexNet with the paper's local response normalisation after conv1 and conv2: 61,100,840
    parameters (LRN has none). No reference implementation has it.

    ``drop_rate`` is the dropout on the two hidden layers' outputs (0.5).
    """
    return _alexnet(True, num_classes, in_chans, drop_rate)
