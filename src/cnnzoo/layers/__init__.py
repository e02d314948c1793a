"""Shared building blocks: every family is built from these."""

from cnnzoo.layers.activations import create_act, get_act_layer
from cnnzoo.layers.branches import InceptionBlock, build_branch
from cnnzoo.layers.classifier import ClassifierHead
from cnnzoo.layers.conv_head import ConvClassifierHead
from cnnzoo.layers.conv_norm_act import ConvNormAct
from cnnzoo.layers.drop_path import DropPath, add_residual, drop_path, drop_path_rates
from cnnzoo.layers.helpers import make_divisible, round_repeats, to_2tuple
from cnnzoo.layers.init import init_conv_norm_linear
from cnnzoo.layers.inverted_residual import BlockOptions, FusedMBConv, MBConv, Stage, build_stages
from cnnzoo.layers.padding import Conv2dSame, MaxPool2dSame, create_conv2d, pad_same
from cnnzoo.layers.pooling import MaxPool2d
from cnnzoo.layers.separable import DepthwiseSeparableConv
from cnnzoo.layers.shuffle import ChannelShuffle, channel_shuffle
from cnnzoo.layers.split_attention import RadixSoftmax, SplitAttention
from cnnzoo.layers.squeeze_excite import SqueezeExcite

__all__ = [
    "BlockOptions",
    "ChannelShuffle",
    "ClassifierHead",
    "Conv2dSame",
    "ConvClassifierHead",
    "ConvNormAct",
    "DepthwiseSeparableConv",
    "DropPath",
    "FusedMBConv",
    "InceptionBlock",
    "MBConv",
    "MaxPool2d",
    "MaxPool2dSame",
    "RadixSoftmax",
    "SplitAttention",
    "SqueezeExcite",
    "Stage",
    "add_residual",
    "build_branch",
    "build_stages",
    "channel_shuffle",
    "create_act",
    "create_conv2d",
    "drop_path",
    "drop_path_rates",
    "get_act_layer",
    "init_conv_norm_linear",
    "make_divisible",
    "pad_same",
    "round_repeats",
    "to_2tuple",
]
