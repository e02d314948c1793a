"""The depthwise-separable convolution (MobileNet, Howard et al. 2017, §3.1 and Fig. 3).

A k×k depthwise convolution (one filter per input channel) followed by a 1×1 pointwise
convolution that mixes channels, each with batch norm and an activation: ``k²·M + M·N`` weights
instead of ``k²·M·N`` (Eq. 5 vs. Eq. 2). MobileNet v1 is a stack of these; the first block of
MobileNetV2/EfficientNet uses it with a linear pointwise (``pw_act=False``) and a skip.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from cnnzoo.layers.activations import ActLayer, create_act
from cnnzoo.layers.drop_path import DropPath, add_residual
from cnnzoo.layers.padding import create_conv2d


class DepthwiseSeparableConv(nn.Module):
    """``dw k×k → BN → act → (SE) → pw 1×1 → BN → act`` (attribute names follow timm's layout).

    Args:
        in_chs: input channels (= depthwise channels).
        out_chs: output channels of the pointwise convolution.
        kernel_size: depthwise kernel (3 in MobileNet v1).
        stride: depthwise stride (1 or 2).
        dilation: depthwise dilation.
        act_layer: activation after both convolutions (ReLU in the paper; timm's weights use ReLU6).
        norm_layer: normalisation after both convolutions.
        pw_act: ``False`` leaves the activation after the pointwise convolution out (linear output).
        se_layer: optional squeeze-and-excitation built as ``se_layer(in_chs)``, between dw and pw.
        skip: add the input to the output when shapes allow (stride 1, ``in_chs == out_chs``).
        drop_path_rate: stochastic depth on the residual branch (only with a skip).
        padding: ``""`` symmetric or ``"same"`` (TensorFlow) for the depthwise convolution.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        act_layer: ActLayer = nn.ReLU,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d,
        pw_act: bool = True,
        se_layer: Callable[[int], nn.Module] | None = None,
        skip: bool = False,
        drop_path_rate: float = 0.0,
        padding: str | int = "",
    ) -> None:
        super().__init__()
        self.in_chs, self.out_chs, self.stride = in_chs, out_chs, stride
        self.conv_dw = create_conv2d(in_chs, in_chs, kernel_size, stride, dilation, groups=in_chs, padding=padding)
        self.bn1 = norm_layer(in_chs)
        self.act1 = create_act(act_layer)
        self.se = se_layer(in_chs) if se_layer is not None else nn.Identity()
        self.conv_pw = create_conv2d(in_chs, out_chs, 1)
        self.bn2 = norm_layer(out_chs)
        self.act2 = create_act(act_layer if pw_act else None)
        self.has_skip = skip and stride == 1 and in_chs == out_chs
        self.drop_path = DropPath(drop_path_rate) if self.has_skip and drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.act1(self.bn1(self.conv_dw(x)))
        x = self.se(x)
        x = self.act2(self.bn2(self.conv_pw(x)))
        if self.has_skip:
            x = add_residual(self.drop_path(x), shortcut)
        return x
