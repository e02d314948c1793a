"""timm's ``mobilenetv1_*`` → cnnzoo ``mobilenet_v1`` (blocks share names; stem and head are renamed).

timm's MobileNet v1 uses ReLU6 where the paper uses ReLU: build the model with ``act_layer="relu6"``
(and ``width_mult=1.25`` for ``mobilenetv1_125``) before loading timm's weights.
"""

from __future__ import annotations

import torch

from cnnzoo.weights.layouts import rename_keys

_TIMM = [
    (r"^conv_stem\.", "stem.0."),
    (r"^bn1\.", "stem.1."),
    (r"^classifier\.", "head.fc."),
]


def timm(state_dict: dict[str, torch.Tensor], model_name: str) -> dict[str, torch.Tensor]:
    return rename_keys(state_dict, _TIMM)


LAYOUTS = {"timm": timm}
