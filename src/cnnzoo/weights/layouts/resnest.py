"""timm's ResNeSt layout: cnnzoo mirrors its module names;
only the classifier moves from a bare ``fc`` to ``head.fc``."""

from __future__ import annotations

import torch

from cnnzoo.weights.layouts import rename_keys

_RULES = [(r"^fc\.", "head.fc.")]


def _convert(state_dict: dict[str, torch.Tensor], model_name: str) -> dict[str, torch.Tensor]:
    return rename_keys(state_dict, _RULES)


LAYOUTS = {"timm": _convert}
