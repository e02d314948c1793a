"""A convolutional classifier head: the classes come from a 1×1 convolution, then global pooling
(Network-in-Network, Lin et al. 2013; SqueezeNet §3.3 "conv10").

It has :class:`~cnnzoo.layers.ClassifierHead`'s interface (``fc``, ``num_features``, ``reset``,
``forward(x, pre_logits)``), so ``reset_classifier``/``forward_head`` work the same; ``fc`` is the
1×1 ``Conv2d`` (its ``out_channels`` is the number of classes).
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.layers.activations import ActLayer, create_act


class ConvClassifierHead(nn.Module):
    """``dropout → conv 1×1 to classes → activation → global average pool → flatten``.

    Args:
        in_features: channels of the last feature map.
        num_classes: outputs; 0 leaves the convolution out (``forward`` returns pooled features).
        drop_rate: dropout before the 1×1 convolution (SqueezeNet: 0.5).
        act_layer: activation after the 1×1 convolution (SqueezeNet: ReLU; ``None`` for none).
    """

    def __init__(self, in_features: int, num_classes: int, drop_rate: float = 0.0,
                 act_layer: ActLayer = nn.ReLU) -> None:
        super().__init__()
        self.num_features = in_features
        self.num_classes = num_classes
        self.drop = nn.Dropout(drop_rate) if drop_rate else nn.Identity()
        self.fc: nn.Module = self._make_fc(num_classes)
        self.act = create_act(act_layer)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)

    def _make_fc(self, num_classes: int) -> nn.Module:
        if num_classes <= 0:
            return nn.Identity()
        fc = nn.Conv2d(self.num_features, num_classes, 1)
        # a small final layer, as in the SqueezeNet reference, keeps the ReLU outputs alive at start
        nn.init.normal_(fc.weight, std=0.01)
        nn.init.zeros_(fc.bias)
        return fc

    def reset(self, num_classes: int) -> None:
        """Replace the 1×1 classifier convolution with a fresh one of ``num_classes`` outputs."""
        self.num_classes = num_classes
        device = next((p.device for p in self.parameters()), None)
        fc = self._make_fc(num_classes)
        self.fc = fc.to(device) if device is not None else fc

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if pre_logits or self.num_classes <= 0:
            return self.flatten(self.global_pool(x))
        x = self.act(self.fc(self.drop(x)))
        return self.flatten(self.global_pool(x))

