"""torchvision's MobileNetV3 layout → cnnzoo, by key names.

torchvision numbers the blocks across stages (``features.1 …``; the stem is ``features.0``, the head
convolution the one after the last block) and builds in each ``block`` only the layers it has, in
order: 1×1 expansion (where the expanded width differs from the input), depthwise, SE, projection.
The stage of a block number and the parts of each block come from the cnnzoo model (see ``_mbconv``).
The classifier's hidden linear layer is ``classifier.0``, the final one ``classifier.3``.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from cnnzoo.weights.layouts import _mbconv
from cnnzoo.weights.layouts._mbconv import Structure

_BLOCK = re.compile(r"features\.(\d+)\.block\.(\d+)\.(\w+)")
_CLASSIFIER = {"classifier.0": "head.hidden.0", "classifier.3": "head.fc"}


def _module(path: str, st: Structure) -> str | None:
    if path in _CLASSIFIER:
        return _CLASSIFIER[path]
    m = _BLOCK.fullmatch(path)
    if m is None:
        return _mbconv.torchvision_stem_head(path, st, st.num_blocks + 1)
    where = st.flat(int(m[1]) - 1)
    if where is None:
        return None
    return _mbconv.torchvision_block("features.{}.{}".format(*where), st.parts(*where), int(m[2]), m[3])


def torchvision(state_dict: dict[str, torch.Tensor], model_name: str,
                model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    st = _mbconv.structure(model_name, model)
    return _mbconv.rename(state_dict, lambda path: _module(path, st), "torchvision's MobileNetV3", model_name)


LAYOUTS = {"torchvision": torchvision}
