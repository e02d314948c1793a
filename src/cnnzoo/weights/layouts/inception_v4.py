"""timm's Inception-v4 and Inception-ResNet-v2 → cnnzoo.

Module names are timm's (``features.N.branchK``, ``conv2d_1a``, ``repeat_1.N.conv2d``…) except:
timm's ``ConvNormAct.conv/bn`` are children ``0``/``1`` here; the flat split layers of Inception-C
(``branch1_0``, ``branch1_1a``/``_1b``) are the children of one branch (``branch1.0``, ``branch1.1.a``/``.b``);
the classifier (``last_linear`` / ``classif``) is ``head.fc``.
"""

from __future__ import annotations

import torch

from cnnzoo.weights.layouts import rename_keys
from cnnzoo.weights.layouts.googlenet import CONV_BN_RULES


def from_timm(state_dict: dict[str, torch.Tensor], model_name: str) -> dict[str, torch.Tensor]:
    rules = [
        (r"\.(branch\d)_(\d)([ab])\.", r".\1.\2.\3."),
        (r"\.(branch\d)_(\d)\.", r".\1.\2."),
        *CONV_BN_RULES,
        (r"^(last_linear|classif)\.", "head.fc."),
    ]
    return rename_keys(state_dict, rules)


LAYOUTS = {"timm": from_timm}
