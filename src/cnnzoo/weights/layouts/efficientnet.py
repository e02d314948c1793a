"""torchvision's (``efficientnet_b0…b7``, ``efficientnet_v2_s/m/l``) and timm's (``efficientnet_*``,
``tf_efficientnet_*``) EfficientNet layouts → cnnzoo, by key names.

torchvision's stages and blocks are numbered as here (``features.{s}.{b}``; stem ``features.0``, head
convolution ``features.{S+1}``, classifier ``classifier.1``) and each ``block`` holds only the layers
the block has, in forward order (expansion, depthwise, SE, projection; for Fused-MBConv the fused
expansion and the projection): the ``k``-th is the block's ``k``-th part in the cnnzoo model (see
``_mbconv``). timm's layout is its ``EfficientNet`` class's.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from cnnzoo.weights.layouts import _mbconv
from cnnzoo.weights.layouts._mbconv import Structure

_BLOCK = re.compile(r"features\.(\d+)\.(\d+)\.block\.(\d+)\.(\w+)")


def _module(path: str, st: Structure) -> str | None:
    if path == "classifier.1":
        return "head.fc"
    m = _BLOCK.fullmatch(path)
    if m is None:
        return _mbconv.torchvision_stem_head(path, st, len(st.stages) + 1)
    stage, block = int(m[1]), int(m[2])
    return _mbconv.torchvision_block(f"features.{stage}.{block}", st.parts(stage, block), int(m[3]), m[4])


def torchvision(state_dict: dict[str, torch.Tensor], model_name: str,
                model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    st = _mbconv.structure(model_name, model)
    return _mbconv.rename(state_dict, lambda path: _module(path, st), "torchvision's EfficientNet", model_name)


LAYOUTS = {"torchvision": torchvision, "timm": _mbconv.timm}
