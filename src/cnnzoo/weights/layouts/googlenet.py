"""torchvision's GoogLeNet → cnnzoo: ``BasicConv2d.conv/bn`` are ConvNormAct children ``0``/``1``, ``fc``
is ``head.fc``; module names are otherwise the same (``inception3a.branch2.1``, ``aux1.fc1``…)."""

from __future__ import annotations

import torch

from cnnzoo.weights.layouts import rename_keys

CONV_BN_RULES = [
    (r"(^|\.)conv\.weight$", r"\g<1>0.weight"),
    (r"(^|\.)bn\.(weight|bias|running_mean|running_var|num_batches_tracked)$", r"\g<1>1.\2"),
]


def from_torchvision(state_dict: dict[str, torch.Tensor], model_name: str) -> dict[str, torch.Tensor]:
    return rename_keys(state_dict, [*CONV_BN_RULES, (r"^fc\.", "head.fc.")])


LAYOUTS = {"torchvision": from_torchvision}
