"""The classifier head: global pooling → (hidden layers) → dropout → linear."""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.layers.activations import ActLayer, create_act
from cnnzoo.layers.helpers import to_2tuple


class ClassifierHead(nn.Module):
    """Pool the feature map, optionally pass it through hidden linear layers, then classify.

    Args:
        in_features: channels of the last feature map.
        num_classes: outputs; 0 leaves the final linear out (``forward`` returns pre-logits).
        pool_size: 1 for global average pooling; a larger size pools adaptively to that grid and
            flattens it (VGG's 7×7, AlexNet's 6×6), so any input size gives the same features.
        pool_type: ``"avg"`` or ``"max"``.
        hidden: widths of hidden linear layers (VGG's 4096, 4096; MobileNetV3's 1280).
        act_layer: activation after each hidden layer.
        hidden_drop: dropout after each hidden activation (VGG and AlexNet 0.5, MobileNetV3 0.2).
        drop_rate: dropout right before the final linear when there is no hidden layer.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        pool_size: int | tuple[int, int] = 1,
        pool_type: str = "avg",
        hidden: tuple[int, ...] = (),
        act_layer: ActLayer = nn.ReLU,
        hidden_drop: float = 0.0,
        drop_rate: float = 0.0,
        hidden_bias: bool = True,
    ) -> None:
        super().__init__()
        if pool_type not in ("avg", "max"):
            raise ValueError(f"pool_type must be 'avg' or 'max', got {pool_type!r}")
        size = to_2tuple(pool_size)
        pool = nn.AdaptiveAvgPool2d(size) if pool_type == "avg" else nn.AdaptiveMaxPool2d(size)
        self.global_pool = pool
        self.flatten = nn.Flatten(1)
        layers: list[nn.Module] = []
        width = in_features * size[0] * size[1]
        for h in hidden:
            layers += [nn.Linear(width, h, bias=hidden_bias), create_act(act_layer)]
            if hidden_drop:
                layers.append(nn.Dropout(hidden_drop))
            width = h
        self.hidden = nn.Sequential(*layers)
        self.drop = nn.Dropout(drop_rate) if drop_rate and not hidden else nn.Identity()
        self.num_features = width
        self.num_classes = num_classes
        self.fc: nn.Module = nn.Linear(width, num_classes) if num_classes > 0 else nn.Identity()

    def reset(self, num_classes: int) -> None:
        """Replace the final linear layer with a freshly initialised one of ``num_classes`` outputs."""
        self.num_classes = num_classes
        device = next((p.device for p in self.parameters()), None)
        fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.fc = fc.to(device) if device is not None else fc

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.hidden(self.flatten(self.global_pool(x)))
        x = self.drop(x)
        return x if pre_logits else self.fc(x)
