"""Layout conversion by order, for the stage-table families (MobileNetV2/V3, MnasNet, EfficientNet…).

The references (torchvision's and timm's) register their parameters in the same order as cnnzoo's
blocks (stem, then per block: expansion, depthwise, SE reduce/expand, projection; head conv;
classifier), only under other names and nestings. So the i-th tensor of the reference's state dict
is renamed to cnnzoo's i-th key, after checking that both have the same number of tensors and that
every pair has the same shape and the same last name part class (weight/bias/running stats).
"""

from __future__ import annotations

import torch

_SUFFIXES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _kind(key: str) -> str:
    last = key.rsplit(".", 1)[-1]
    return last if last in _SUFFIXES else "other"


def convert_by_order(state_dict: dict[str, torch.Tensor], model_name: str, **model_kwargs) -> dict[str, torch.Tensor]:
    """Rename ``state_dict`` (a reference's) into cnnzoo's layout of ``model_name`` by tensor order."""
    import cnnzoo

    src = list(state_dict.items())
    num_classes = None
    if src and src[-1][0].endswith("bias") and src[-1][1].ndim == 1:
        num_classes = int(src[-1][1].shape[0])  # the classifier's bias comes last
    model = cnnzoo.create_model(model_name, num_classes=num_classes, device="meta", **model_kwargs)
    want = list(model.state_dict().items())
    if len(src) != len(want):
        raise ValueError(f"cannot convert to {model_name}: the checkpoint has {len(src)} tensors, "
                         f"the model {len(want)}; is it the same architecture?")
    out = {}
    for (skey, value), (wkey, wvalue) in zip(src, want, strict=True):
        if tuple(value.shape) != tuple(wvalue.shape) or _kind(skey) != _kind(wkey):
            raise ValueError(f"cannot convert to {model_name}: checkpoint tensor {skey} {tuple(value.shape)} "
                             f"does not match {wkey} {tuple(wvalue.shape)}")
        out[wkey] = value
    return out


def by_order(state_dict: dict[str, torch.Tensor], model_name: str) -> dict[str, torch.Tensor]:
    """A ``LAYOUTS`` entry: :func:`convert_by_order` with the model's default options."""
    return convert_by_order(state_dict, model_name)
