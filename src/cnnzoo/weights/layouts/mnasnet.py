"""torchvision's (``mnasnet*``) and timm's (``mnasnet_a1``, ``mnasnet_100``) MnasNet layouts → cnnzoo,
by key names.

torchvision's ``layers`` is one flat sequence for the stem and the first (depthwise-separable) block:
``layers.0``/``1`` the stem convolution and norm, ``3``/``4`` the depthwise and ``6``/``7`` the
projection convolution and norm (ReLUs between); ``layers.8 … 13`` are the six stages of inverted
residuals, whose ``layers`` hold expansion (``0``/``1``), depthwise (``3``/``4``) and projection
(``6``/``7``); ``layers.14``/``15`` the head convolution and norm. timm's layout is its ``EfficientNet``
class's.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from cnnzoo.weights.layouts import _mbconv
from cnnzoo.weights.layouts._mbconv import Structure

_FIRST = 8  # torchvision's first stage of inverted residuals, cnnzoo's stage 2
_FLAT = {0: "features.0.0", 1: "features.0.1", 3: "features.1.0.conv_dw.0", 4: "features.1.0.conv_dw.1",
         6: "features.1.0.conv_pwl.0", 7: "features.1.0.conv_pwl.1"}
_HEAD = {14: "0", 15: "1"}
_TOP = re.compile(r"layers\.(\d+)")
_BLOCK = re.compile(r"layers\.(\d+)\.(\d+)\.layers\.(\d+)")


def _module(path: str, st: Structure) -> str | None:
    if path == "classifier.1":
        return "head.fc"
    m = _TOP.fullmatch(path)
    if m:
        i = int(m[1])
        if i in _HEAD:
            return None if st.head is None else f"features.{st.head}.{_HEAD[i]}"
        return _FLAT.get(i) if st.parts(1, 0) == ("conv_dw", "conv_pwl") else None
    m = _BLOCK.fullmatch(path)
    if m is None:
        return None
    stage, block, j = int(m[1]) - _FIRST + 2, int(m[2]), int(m[3])
    parts = st.parts(stage, block) if stage >= 2 else None
    if parts != ("conv_pw", "conv_dw", "conv_pwl") or j % 3 == 2:
        return None
    return f"features.{stage}.{block}.{parts[j // 3]}.{j % 3}"  # conv (0) and norm (1) per part


def torchvision(state_dict: dict[str, torch.Tensor], model_name: str,
                model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    st = _mbconv.structure(model_name, model)
    return _mbconv.rename(state_dict, lambda path: _module(path, st), "torchvision's MnasNet", model_name)


LAYOUTS = {"torchvision": torchvision, "timm": _mbconv.timm}
