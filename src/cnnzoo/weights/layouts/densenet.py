"""torchvision's DenseNet → cnnzoo: ``features.*`` keep their names (``features.denseblock1.denselayer1.
norm1.weight``…); ``classifier`` becomes ``head.fc``. Old torchvision checkpoints that name the layers
``norm.1``/``conv.2`` are read as ``norm1``/``conv2`` too."""

from __future__ import annotations

import torch

from cnnzoo.weights.layouts import rename_keys

_TORCHVISION = [
    (r"^classifier\.", "head.fc."),
    # pre-0.4 torchvision checkpoints: denselayer1.norm.1.weight → denselayer1.norm1.weight
    (r"(denselayer\d+\.(?:norm|relu|conv))\.((?:1|2))\.", r"\1\2."),
]


def from_torchvision(state_dict: dict[str, torch.Tensor], model_name: str) -> dict[str, torch.Tensor]:
    return rename_keys(state_dict, _TORCHVISION)


LAYOUTS = {"torchvision": from_torchvision}
