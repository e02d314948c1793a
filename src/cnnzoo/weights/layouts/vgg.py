"""torchvision's VGG → cnnzoo: ``features`` keep their indices; the classifier's linears
(``classifier.0``, ``classifier.3``, ``classifier.6``) become ``head.hidden.0``, ``head.hidden.3``
and ``head.fc``."""

from __future__ import annotations

import torch

from cnnzoo.weights.layouts import rename_keys

_TORCHVISION = [
    (r"^classifier\.0\.", "head.hidden.0."),
    (r"^classifier\.3\.", "head.hidden.3."),
    (r"^classifier\.6\.", "head.fc."),
]


def from_torchvision(state_dict: dict[str, torch.Tensor], model_name: str) -> dict[str, torch.Tensor]:
    return rename_keys(state_dict, _TORCHVISION)


LAYOUTS = {"torchvision": from_torchvision}
