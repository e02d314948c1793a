"""torchvision's AlexNet → cnnzoo: ``features`` keep their indices; the classifier's linears
(``classifier.1``, ``classifier.4``, ``classifier.6``) become ``head.hidden.0``, ``head.hidden.3``
and ``head.fc``. Only ``alexnet`` has a reference (torchvision's AlexNet has no LRN)."""

from __future__ import annotations

import torch

from cnnzoo.weights.layouts import rename_keys

_TORCHVISION = [
    (r"^classifier\.1\.", "head.hidden.0."),
    (r"^classifier\.4\.", "head.hidden.3."),
    (r"^classifier\.6\.", "head.fc."),
]


def from_torchvision(state_dict: dict[str, torch.Tensor], model_name: str) -> dict[str, torch.Tensor]:
    if model_name != "alexnet":
        raise ValueError(f"torchvision has no {model_name} (its AlexNet has no local response norm); use alexnet")
    return rename_keys(state_dict, _TORCHVISION)


LAYOUTS = {"torchvision": from_torchvision}
