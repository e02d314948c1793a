"""Weights: the layouts of the reference implementations (torchvision, timm) mapped onto cnnzoo's, and
the weights that ship inside the package.

    model = cnnzoo.create_model("resnet50", pretrained="resnet50-11ad3fa6.pth")   # torchvision's file
    cnnzoo.load_weights(model, "model.safetensors")                              # timm's, or ours
    model = cnnzoo.create_model("fashion_cnn", pretrained=True)                   # shipped weights

Files are read and written by :mod:`cnnzoo.checkpoint`; this package turns a state dict of any known
layout into the model's (:func:`load_state_dict`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from cnnzoo.data.config import IMAGENET_MEAN, IMAGENET_STD  # re-exported: one definition
from cnnzoo.weights.loading import (
    LoadReport,
    WeightsError,
    adapt_input_conv,
    detect_layout,
    load_state_dict,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LoadReport",
    "WeightsError",
    "adapt_input_conv",
    "detect_layout",
    "load_state_dict",
    "pretrained_dir",
    "pretrained_path",
    "shipped_models",
]

_PRETRAINED = "pretrained"


def pretrained_dir() -> Path:
    """The directory of the weights that ship inside the package."""
    return Path(str(resources.files(__name__).joinpath(_PRETRAINED)))


def shipped_models() -> list[str]:
    """Names of the models whose weights ship with the package (``pretrained=True``)."""
    d = pretrained_dir()
    return sorted(p.name[: -len(".safetensors")] for p in d.glob("*.safetensors")) if d.is_dir() else []


def pretrained_path(name: str) -> Path:
    """The shipped weight file of ``name``; a ``ValueError`` lists the models that have one."""
    path = pretrained_dir() / f"{name}.safetensors"
    if not path.is_file():
        have = ", ".join(shipped_models()) or "none"
        raise ValueError(
            f"no weights ship with cnnzoo for {name!r} (models with shipped weights: {have}); "
            f"pass pretrained='path/to/checkpoint' to load a torchvision, timm or cnnzoo file"
        )
    return path
