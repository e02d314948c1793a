"""torchvision's ``squeezenet1_*`` → cnnzoo (``features`` share names; ``classifier.1`` is ``head.fc``)."""

from __future__ import annotations

import torch

from cnnzoo.weights.layouts import rename_keys

_TORCHVISION = [(r"^classifier\.1\.", "head.fc.")]


def torchvision(state_dict: dict[str, torch.Tensor], model_name: str) -> dict[str, torch.Tensor]:
    return rename_keys(state_dict, _TORCHVISION)


LAYOUTS = {"torchvision": torchvision}
