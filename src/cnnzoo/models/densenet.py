"""DenseNet-BC (Huang, Liu, van der Maaten & Weinberger 2017, "Densely connected convolutional
networks", §3 and Table 1).

Each dense layer sees the concatenation of all earlier maps in its block (Eq. 2) and adds ``k``
(the growth rate) new ones: BN-ReLU-Conv1×1 to 4k channels (the bottleneck, "-B"), then
BN-ReLU-Conv3×3 to k. Between blocks a transition (BN-ReLU-Conv1×1-AvgPool 2×2) halves the
channels (compression θ = 0.5, "-C") and the resolution. The stem is a 7×7/2 convolution and a 3×3/2
max-pool; the end is BN-ReLU, global average pooling and the classifier.

Dense layers are concatenations, not residual additions, so stochastic depth (``drop_path_rate``)
does not apply and the constructors do not take it. ``block_drop`` is the paper's dropout after each
convolution of a dense layer (§4.2, used without data augmentation); ``drop_rate`` is the dropout
before the classifier.

``memory_efficient=True`` recomputes each layer's concatenation and bottleneck during the backward
pass (``torch.utils.checkpoint``) instead of keeping them, the memory-saving scheme of Pleiss et al.
2017: the outputs and gradients are the same; it costs an extra forward of the bottlenecks. (In
training mode, batch-norm running statistics of the recomputed norm are updated a second time.)

Module names follow torchvision's (``features.denseblock1.denselayer1.norm1``…), so its weights load
after renaming only ``classifier`` to ``head.fc``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from torch import nn

from cnnzoo.layers import ClassifierHead
from cnnzoo.layers.init import init_conv_norm_linear
from cnnzoo.layers.pooling import MaxPool2d
from cnnzoo.models._base import ZooModel
from cnnzoo.registry import register_model

# Table 1 (and the paper's DenseNet-161): growth rate k, stem width (2k; 96 for k=48) and dense
# layers per block. Bottleneck width 4k, compression 0.5 in all.
DENSENET_CONFIGS: dict[str, dict] = {
    "densenet121": dict(growth_rate=32, num_init_features=64, block_config=(6, 12, 24, 16)),
    "densenet161": dict(growth_rate=48, num_init_features=96, block_config=(6, 12, 36, 24)),
    "densenet169": dict(growth_rate=32, num_init_features=64, block_config=(6, 12, 32, 32)),
    "densenet201": dict(growth_rate=32, num_init_features=64, block_config=(6, 12, 48, 32)),
}
BN_SIZE = 4  # bottleneck: 1×1 convolution to 4k channels (§3, "Bottleneck layers")
COMPRESSION = 0.5  # θ (§3, "Compression")


class DenseLayer(nn.Module):
    """BN-ReLU-Conv1×1(4k) → BN-ReLU-Conv3×3(k) on the concatenation of all earlier maps (Eq. 2)."""

    def __init__(self, in_chs: int, growth_rate: int, bn_size: int = BN_SIZE, block_drop: float = 0.0,
                 memory_efficient: bool = False) -> None:
        super().__init__()
        mid = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(in_chs)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_chs, mid, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(mid)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(mid, growth_rate, kernel_size=3, padding=1, bias=False)
        self.block_drop = float(block_drop)
        self.memory_efficient = memory_efficient

    def bottleneck(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Concatenate the earlier maps and apply BN-ReLU-Conv1×1 (the part that is recomputed)."""
        out = self.conv1(self.relu1(self.norm1(torch.cat(inputs, 1))))
        return F.dropout(out, self.block_drop, self.training) if self.block_drop else out

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if self.memory_efficient and torch.is_grad_enabled() and any(t.requires_grad for t in inputs):
            out = cp.checkpoint(self.bottleneck, *inputs, use_reentrant=False)
        else:
            out = self.bottleneck(*inputs)
        out = self.conv2(self.relu2(self.norm2(out)))
        return F.dropout(out, self.block_drop, self.training) if self.block_drop else out


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers (``denselayer1``…); returns the input and every new map, concatenated."""

    def __init__(self, num_layers: int, in_chs: int, growth_rate: int, bn_size: int = BN_SIZE,
                 block_drop: float = 0.0, memory_efficient: bool = False) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(in_chs + i * growth_rate, growth_rate, bn_size, block_drop, memory_efficient)
            self.add_module(f"denselayer{i + 1}", layer)
        self.out_chs = in_chs + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """BN-ReLU-Conv1×1 to θ·C channels, then 2×2 average pooling (§3, "Pooling layers")."""

    def __init__(self, in_chs: int, out_chs: int) -> None:
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(in_chs))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv2d(in_chs, out_chs, kernel_size=1, bias=False))
        self.add_module("pool", nn.AvgPool2d(kernel_size=2, stride=2))


class DenseNet(ZooModel):
    """Stem, dense blocks joined by transitions, BN-ReLU, classifier (``features`` as in torchvision)."""

    def __init__(self, growth_rate: int = 32, block_config: tuple[int, ...] = (6, 12, 24, 16),
                 num_init_features: int = 64, num_classes: int = 1000, in_chans: int = 3,
                 drop_rate: float = 0.0, block_drop: float = 0.0, bn_size: int = BN_SIZE,
                 compression: float = COMPRESSION, memory_efficient: bool = False) -> None:
        if not 0.0 < compression <= 1.0:
            raise ValueError(f"compression must be in (0, 1], got {compression!r}")
        # stride 32 with the default four blocks (stem 4, then three transitions)
        super().__init__(in_chans, num_classes, min_size=4 * 2 ** (len(block_config) - 1))
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(in_chans, num_init_features, 7, 2, 3, bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(num_init_features))
        self.features.add_module("relu0", nn.ReLU(inplace=True))
        self.features.add_module("pool0", MaxPool2d(kernel_size=3, stride=2, padding=1))
        self.feature_info.append(dict(num_chs=num_init_features, reduction=2, module="features.relu0"))
        chs, reduction = num_init_features, 4
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, chs, growth_rate, bn_size, block_drop, memory_efficient)
            self.features.add_module(f"denseblock{i + 1}", block)
            chs = block.out_chs
            if i < len(block_config) - 1:
                self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=f"features.denseblock{i + 1}"))
                out_chs = int(chs * compression)
                self.features.add_module(f"transition{i + 1}", Transition(chs, out_chs))
                chs, reduction = out_chs, reduction * 2
        self.features.add_module("norm5", nn.BatchNorm2d(chs))
        self.features.add_module("relu5", nn.ReLU(inplace=True))
        self.feature_info.append(dict(num_chs=chs, reduction=reduction, module="features.relu5"))
        self.head = ClassifierHead(chs, num_classes, drop_rate=drop_rate)
        init_conv_norm_linear(self, conv_mode="fan_in")

    def set_memory_efficient(self, enable: bool = True) -> None:
        """Switch gradient checkpointing of the dense layers' bottlenecks on or off."""
        for m in self.modules():
            if isinstance(m, DenseLayer):
                m.memory_efficient = enable

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def _densenet(name: str, num_classes: int, in_chans: int, drop_rate: float, block_drop: float,
              memory_efficient: bool) -> DenseNet:
    return DenseNet(**DENSENET_CONFIGS[name], num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate,
                    block_drop=block_drop, memory_efficient=memory_efficient)


_PAPER = "Huang et al. 2017, Densely connected convolutional networks"


@register_model(paper=_PAPER, reference="torchvision")
def densenet121(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0, block_drop: float = 0.0,
                memory_efficient: bool = False) -> DenseNet:
    """DenseNet-BC-121 (k=32, blocks 6-12-24-16): 7,978,856 parameters.

    ``memory_efficient`` checkpoints the dense layers' bottlenecks; ``block_drop`` is the dropout
    inside dense layers; no ``drop_path_rate`` (dense connections are not residual).
    """
    return _densenet("densenet121", num_classes, in_chans, drop_rate, block_drop, memory_efficient)


@register_model(paper=_PAPER, reference="torchvision")
def densenet161(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0, block_drop: float = 0.0,
                memory_efficient: bool = False) -> DenseNet:
    """DenseNet-BC-161 (k=48, stem 96, blocks 6-12-36-24): 28,681,000 parameters.

    Options as :func:`densenet121`.
    """
    return _densenet("densenet161", num_classes, in_chans, drop_rate, block_drop, memory_efficient)


@register_model(paper=_PAPER, reference="torchvision")
def densenet169(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0, block_drop: float = 0.0,
                memory_efficient: bool = False) -> DenseNet:
    """DenseNet-BC-169 (k=32, blocks 6-12-32-32): 14,149,480 parameters.

    Options as :func:`densenet121`.
    """
    return _densenet("densenet169", num_classes, in_chans, drop_rate, block_drop, memory_efficient)


@register_model(paper=_PAPER, reference="torchvision")
def densenet201(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0, block_drop: float = 0.0,
                memory_efficient: bool = False) -> DenseNet:
    """DenseNet-BC-201 (k=32, blocks 6-12-48-32): 20,013,928 parameters.

    Options as :func:`densenet121`.
    """
    return _densenet("densenet201", num_classes, in_chans, drop_rate, block_drop, memory_efficient)
