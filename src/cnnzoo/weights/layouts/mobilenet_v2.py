"""torchvision's and timm's (``mobilenetv2_*``) MobileNetV2 layouts → cnnzoo, by key names.

torchvision numbers the blocks across stages (``features.1 … features.17``; the stem is ``features.0``,
the head convolution the one after the last block) and lists a block's layers in ``conv``: its
ConvBNReLU layers (``conv.0``: the 1×1 expansion where it has one, then the depthwise convolution)
followed by the projection as a bare convolution and norm. Which stage a block number falls in, and
whether the block has an expansion, come from the cnnzoo model (see ``_mbconv``). timm's layout is
its ``EfficientNet`` class's.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from cnnzoo.weights.layouts import _mbconv
from cnnzoo.weights.layouts._mbconv import Structure

_BLOCK = re.compile(r"features\.(\d+)\.conv\.(\d+)(?:\.([01]))?")


def _module(path: str, st: Structure) -> str | None:
    if path == "classifier.1":
        return "head.fc"
    m = _BLOCK.fullmatch(path)
    if m is None:
        return _mbconv.torchvision_stem_head(path, st, st.num_blocks + 1)
    where = st.flat(int(m[1]) - 1)
    parts = st.parts(*where) if where else None
    if parts is None:
        return None
    prefix, k, child = "features.{}.{}".format(*where), int(m[2]), m[3]
    *normact, proj = parts  # ConvNormAct layers, then the projection's conv and norm
    if child is not None and k < len(normact):
        return f"{prefix}.{normact[k]}.{child}"
    if child is None and k in (len(normact), len(normact) + 1):
        return f"{prefix}.{proj}.{k - len(normact)}"
    return None


def torchvision(state_dict: dict[str, torch.Tensor], model_name: str,
                model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    st = _mbconv.structure(model_name, model)
    return _mbconv.rename(state_dict, lambda path: _module(path, st), "torchvision's MobileNetV2", model_name)


LAYOUTS = {"torchvision": torchvision, "timm": _mbconv.timm}
