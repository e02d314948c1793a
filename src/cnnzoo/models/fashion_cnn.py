"""The Fashion-MNIST CNN of the seed review (the Keras model of Géron, *Hands-On Machine Learning*, ch. 14).

    Conv 64 7×7 same → maxpool 2 → 2× Conv 128 3×3 → maxpool 2 → 2× Conv 256 3×3 → maxpool 2
    → Flatten → Dense 128 → Dropout 0.5 → Dense 64 → Dropout 0.5 → Dense 10
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.layers import ClassifierHead, ConvNormAct
from cnnzoo.layers.pooling import MaxPool2d
from cnnzoo.models._base import ZooModel
from cnnzoo.registry import register_model

# (out_channels, kernel, convs) per stage; each stage ends with a 2×2 max-pool.
FASHION_CNN_STAGES = [
    (64, 7, 1),
    (128, 3, 2),
    (256, 3, 2),
]


class FashionCNN(ZooModel):
    """Plain VGG-like CNN: Keras-style convolutions with bias and ReLU, no batch norm.

    The flatten of the 3×3 grid that a 28×28 input leaves is kept for any input size by pooling
    adaptively to 3×3 first (an identity at 28×28).
    """

    def __init__(self, num_classes: int = 10, in_chans: int = 1, drop_rate: float = 0.5,
                 stages: list[tuple[int, int, int]] = FASHION_CNN_STAGES, batch_norm: bool = False) -> None:
        super().__init__(in_chans, num_classes, min_size=8)
        norm = nn.BatchNorm2d if batch_norm else None
        layers: list[nn.Module] = []
        chs = in_chans
        for i, (out_chs, k, n) in enumerate(stages):
            for _ in range(n):
                layers.append(ConvNormAct(chs, out_chs, k, norm_layer=norm))
                chs = out_chs
            layers.append(MaxPool2d(2))
            self.feature_info.append(dict(num_chs=chs, reduction=2 ** (i + 1), module=f"features.{len(layers) - 1}"))
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(chs, num_classes, pool_size=3, hidden=(128, 64), hidden_drop=drop_rate)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


@register_model(paper="Géron 2019, Hands-On ML ch. 14 (the seed review's Fashion-MNIST CNN)",
                input_size=(1, 28, 28), num_classes=10, pretrained_accuracy=0.9293)
def fashion_cnn(num_classes: int = 10, in_chans: int = 1, drop_rate: float = 0.5,
                batch_norm: bool = False) -> FashionCNN:
    """The seed review's Keras Fashion-MNIST CNN (1,413,834 parameters at 10 classes, 1 channel).

    ``drop_rate`` is the dropout after each hidden dense layer (0.5 as in the seed);
    ``batch_norm=True`` adds batch norm after every convolution.
    """
    return FashionCNN(num_classes, in_chans, drop_rate, batch_norm=batch_norm)
