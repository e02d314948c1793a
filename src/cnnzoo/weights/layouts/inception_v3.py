"""torchvision's / timm's Inception v3 → cnnzoo (both have the same layout).

Their flat branch layers ``branch7x7dbl_3`` (numbered from 1) are children of one branch here
(``branch7x7dbl.2``), their split layers ``branch3x3_2a`` / ``_2b`` the ``a`` / ``b`` parts of a split
(``branch3x3.1.a``); a pooling branch's projection follows its pool (``branch_pool.1``).
``BasicConv2d.conv/bn`` are ConvNormAct children ``0``/``1``, ``fc`` is ``head.fc``.
"""

from __future__ import annotations

import re

import torch

from cnnzoo.weights.layouts import rename_keys
from cnnzoo.weights.layouts.googlenet import CONV_BN_RULES

_NUMBERED = re.compile(r"\.(branch\w+?)_(\d)([ab]?)\.")


def _branch(match: re.Match) -> str:
    name, index, part = match.group(1), int(match.group(2)) - 1, match.group(3)
    return f".{name}.{index}." + (f"{part}." if part else "")


def from_reference(state_dict: dict[str, torch.Tensor], model_name: str) -> dict[str, torch.Tensor]:
    state_dict = {_NUMBERED.sub(_branch, k): v for k, v in state_dict.items()}
    rules = [(r"\.branch_pool\.(conv|bn)\.", r".branch_pool.1.\1."), *CONV_BN_RULES, (r"^fc\.", "head.fc.")]
    return rename_keys(state_dict, rules)


LAYOUTS = {"torchvision": from_reference, "timm": from_reference}
