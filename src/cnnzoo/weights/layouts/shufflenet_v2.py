"""torchvision's ``shufflenet_v2_*`` → cnnzoo (same names; ``fc`` is ``head.fc``)."""

from __future__ import annotations

import torch

from cnnzoo.weights.layouts import rename_keys

_TORCHVISION = [(r"^fc\.", "head.fc.")]


def torchvision(state_dict: dict[str, torch.Tensor], model_name: str) -> dict[str, torch.Tensor]:
    return rename_keys(state_dict, _TORCHVISION)


LAYOUTS = {"torchvision": torchvision}
