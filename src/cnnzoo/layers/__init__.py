"""Shared building blocks: every family is built from these."""

from cnnzoo.layers.activations import create_act, get_act_layer
from cnnzoo.layers.classifier import ClassifierHead
from cnnzoo.layers.conv_norm_act import ConvNormAct
from cnnzoo.layers.drop_path import DropPath, drop_path, drop_path_rates
from cnnzoo.layers.helpers import make_divisible, round_repeats, to_2tuple
from cnnzoo.layers.padding import Conv2dSame, MaxPool2dSame, create_conv2d, pad_same
from cnnzoo.layers.split_attention import RadixSoftmax, SplitAttention
from cnnzoo.layers.squeeze_excite import SqueezeExcite

__all__ = [
    "ClassifierHead",
    "Conv2dSame",
    "ConvNormAct",
    "DropPath",
    "MaxPool2dSame",
    "RadixSoftmax",
    "SplitAttention",
    "SqueezeExcite",
    "create_act",
    "create_conv2d",
    "drop_path",
    "drop_path_rates",
    "get_act_layer",
    "make_divisible",
    "pad_same",
    "round_repeats",
    "to_2tuple",
]
