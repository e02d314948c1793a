"""SqueezeNet (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and
<0.5MB model size").

§3.1's strategies: replace 3×3 filters by 1×1 ones, cut the inputs of the 3×3 filters with
"squeeze" layers, and down-sample late so that most layers see large maps. The Fire module (§3.2)
squeezes with 1×1 filters and expands with 1×1 and 3×3 filters whose outputs are concatenated.
The classifier (§3.3) is a 1×1 convolution to the classes after dropout 0.5, then global average
pooling (no fully connected layer). ``squeezenet1_1`` is the v1.1 of the reference repository: a
3×3/2 first convolution with 64 filters and earlier pooling, 2.4× cheaper at the same accuracy.
Convolutions have biases and there is no batch norm, as in the paper.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.layers import ConvClassifierHead
from cnnzoo.layers.pooling import MaxPool2d
from cnnzoo.models._base import ZooModel
from cnnzoo.registry import register_model

# Table 1 (v1.0) and the reference repository's v1.1: the first convolution (filters, kernel, stride 2),
# then "M" for a 3×3/2 max pool or (squeeze 1×1, expand 1×1, expand 3×3) filters of a Fire module.
SQUEEZENET_CFGS: dict[str, dict] = {
    "1_0": dict(stem=(96, 7), layers=[
        "M", (16, 64, 64), (16, 64, 64), (32, 128, 128),
        "M", (32, 128, 128), (48, 192, 192), (48, 192, 192), (64, 256, 256),
        "M", (64, 256, 256)]),
    "1_1": dict(stem=(64, 3), layers=[
        "M", (16, 64, 64), (16, 64, 64),
        "M", (32, 128, 128), (32, 128, 128),
        "M", (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)]),
}


class Fire(nn.Module):
    """Fire module (§3.2): squeeze 1×1 → ReLU → [expand 1×1 → ReLU ‖ expand 3×3 → ReLU] concatenated."""

    def __init__(self, in_chs: int, squeeze: int, expand1x1: int, expand3x3: int) -> None:
        super().__init__()
        self.out_chs = expand1x1 + expand3x3
        self.squeeze = nn.Conv2d(in_chs, squeeze, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(ZooModel):
    """``features`` (first convolution, max pools and Fire modules, as torchvision's layout) and a
    :class:`~cnnzoo.layers.ConvClassifierHead` (``head.fc`` is the 1×1 classifier convolution).

    Not residual (the paper's bypass variants are not built here), so there is no ``drop_path_rate``.
    Max pools use ``ceil_mode`` as in the Caffe reference.
    """

    def __init__(self, cfg: dict, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0) -> None:
        # the smallest side that leaves a 1×1 map at the end (v1.0: 7×7/2 conv and three pools; v1.1: 3×3/2)
        super().__init__(in_chans, num_classes, min_size=cfg["min_size"])
        stem_chs, k = cfg["stem"]
        layers: list[nn.Module] = [nn.Conv2d(in_chans, stem_chs, k, stride=2), nn.ReLU(inplace=True)]
        chs, reduction = stem_chs, 2
        for item in cfg["layers"]:
            if item == "M":
                self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=f"features.{len(layers) - 1}"))
                layers.append(MaxPool2d(3, stride=2, ceil_mode=True))
                reduction *= 2
            else:
                layers.append(Fire(chs, *item))
                chs = layers[-1].out_chs
        self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=f"features.{len(layers) - 1}"))
        self.features = nn.Sequential(*layers)
        self.head = ConvClassifierHead(chs, num_classes, drop_rate=drop_rate)
        # He initialisation (as torchvision's reference; the paper's Caffe model uses Xavier): with
        # PyTorch's default init each ReLU layer of this net without batch norm shrinks the signal, the
        # first layers' gradients start near 1e-8 and training stays at chance
        for m in self.features.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def _squeezenet(version: str, min_size: int, **kwargs) -> SqueezeNet:
    return SqueezeNet(dict(SQUEEZENET_CFGS[version], min_size=min_size), **kwargs)


@register_model(paper="Iandola et al. 2016, SqueezeNet (arXiv:1602.07360), Table 1", reference="torchvision")
def squeezenet1_0(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5) -> SqueezeNet:
    """SqueezeNet 1.0 (1,248,424 parameters; 819 M MACs at 224).

    ``drop_rate`` is the dropout before the 1×1 classifier convolution (0.5 as in the paper).
    """
    return _squeezenet("1_0", 21, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)


@register_model(paper="Iandola et al. 2016, SqueezeNet (arXiv:1602.07360), v1.1 of the reference repository",
                reference="torchvision")
def squeezenet1_1(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5) -> SqueezeNet:
    """SqueezeNet 1.1 (1,235,496 parameters; 349 M MACs at 224): 3×3/2 first convolution with 64 filters
    and earlier pooling. ``drop_rate`` as in :func:`squeezenet1_0`."""
    return _squeezenet("1_1", 17, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)
