"""torchvision's and timm's ResNet layouts: the same module names, a bare ``fc`` for the classifier."""

from __future__ import annotations

import torch

from cnnzoo.weights.layouts import rename_keys

_RULES = [(r"^fc\.", "head.fc.")]


def _convert(state_dict: dict[str, torch.Tensor], model_name: str) -> dict[str, torch.Tensor]:
    return rename_keys(state_dict, _RULES)


LAYOUTS = {"torchvision": _convert, "timm": _convert}
