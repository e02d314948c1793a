"""Convolution → batch norm → activation, the unit almost every backbone is made of."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from cnnzoo.layers.activations import ActLayer, create_act
from cnnzoo.layers.padding import create_conv2d


class ConvNormAct(nn.Sequential):
    """``Conv2d(bias=False) → BatchNorm2d → activation`` as a Sequential (children ``0``, ``1``, ``2``).

    The Sequential layout is that of torchvision's ``Conv2dNormActivation``. ``act_layer=None``
    leaves the activation out (a linear bottleneck, MobileNetV2 §3.2); ``norm_layer=None`` leaves
    the norm out and gives the convolution a bias.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int = 1,
        groups: int = 1,
        dilation: int = 1,
        act_layer: ActLayer = nn.ReLU,
        norm_layer: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
        padding: str | int = "",
        bias: bool | None = None,
    ) -> None:
        bias = norm_layer is None if bias is None else bias
        layers: list[nn.Module] = [
            create_conv2d(in_chs, out_chs, kernel_size, stride, dilation, groups, bias, padding)
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_chs))
        if act_layer is not None:
            layers.append(create_act(act_layer))
        super().__init__(*layers)
        self.in_chs, self.out_chs, self.stride = in_chs, out_chs, stride
