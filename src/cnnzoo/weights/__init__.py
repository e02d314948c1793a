"""Weights: reading checkpoints safely and mapping reference layouts (torchvision, timm) onto cnnzoo's.

    model = cnnzoo.create_model("resnet50", pretrained="resnet50-11ad3fa6.pth")   # torchvision's file
    cnnzoo.load_weights(model, "model.safetensors")                              # timm's, or ours
    model = cnnzoo.create_model("fashion_cnn", pretrained=True)                   # shipped weights

See :func:`load_weights` for the formats and layouts accepted and :func:`convert_checkpoint` for
cnnzoo's own file format (safetensors with a metadata header).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnzoo.weights.io import FORMAT, HEADER_KEYS, parse_metadata, read_checkpoint, read_metadata, save_safetensors
from cnnzoo.weights.loading import (
    LoadReport,
    WeightsError,
    adapt_input_conv,
    detect_layout,
    load_state_dict,
    load_weights,
)

__all__ = [
    "HEADER_KEYS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LoadReport",
    "WeightsError",
    "adapt_input_conv",
    "convert_checkpoint",
    "detect_layout",
    "load_pretrained",
    "load_state_dict",
    "load_weights",
    "parse_metadata",
    "pretrained_path",
    "read_checkpoint",
    "read_metadata",
    "save_safetensors",
    "save_weights",
    "shipped_defaults",
    "shipped_models",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Fashion-MNIST's training-set pixel mean and standard deviation (pixels in [0, 1]).
FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")

_PRETRAINED = "pretrained"


def _pretrained_dir() -> Path:
    return Path(str(resources.files(__name__).joinpath(_PRETRAINED)))


def shipped_models() -> list[str]:
    """Names of the models whose weights ship with the package (``pretrained=True``)."""
    d = _pretrained_dir()
    return sorted(p.name[: -len(".safetensors")] for p in d.glob("*.safetensors")) if d.is_dir() else []


def pretrained_path(name: str) -> Path:
    """The shipped weight file of ``name``; a ``ValueError`` lists the models that have one."""
    path = _pretrained_dir() / f"{name}.safetensors"
    if not path.is_file():
        have = ", ".join(shipped_models()) or "none"
        raise ValueError(
            f"no weights ship with cnnzoo for {name!r} (models with shipped weights: {have}); "
            f"pass pretrained='path/to/checkpoint' to load a torchvision, timm or cnnzoo file"
        )
    return path


def shipped_defaults(name: str) -> dict[str, Any]:
    """The header of ``name``'s shipped weights, decoded (``num_classes``, ``in_chans``, ``input_size``,
    ``mean``, ``std``, ``classes``, ``accuracy``…)."""
    return parse_metadata(read_metadata(pretrained_path(name)))


def load_pretrained(model: nn.Module, name: str, pretrained: bool | str | os.PathLike) -> LoadReport:
    """What ``create_model(name, pretrained=...)`` does: ``True`` loads the shipped weights,
    a path loads that file (see :func:`load_weights`)."""
    path = pretrained_path(name) if pretrained is True else pretrained
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"pretrained must be True or a path, got {type(pretrained).__name__}")
    report = load_weights(model, path, model_name=name)
    model.pretrained_cfg = dict(parse_metadata(report.metadata), file=str(path))
    return report


def save_weights(model: nn.Module, path: str | os.PathLike, *, architecture: str | None = None,
                 mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
                 classes: list[str] | tuple[str, ...] | None = None, dtype: torch.dtype | None = None,
                 img_size: int | None = None, model_kwargs: dict[str, Any] | None = None,
                 **extra: Any) -> Path:
    """Write ``model``'s weights as a cnnzoo safetensors file with its metadata header (the header of
    the training engine's checkpoints, :data:`HEADER_KEYS`): architecture, classes, input channels and
    size, mean/std, and ``extra`` entries such as ``dataset``, ``accuracy`` (top-1 in %), ``epoch``,
    ``source``. ``dtype=torch.float16`` halves the file."""
    from cnnzoo import __version__

    info = getattr(model, "model_info", None)
    arch = architecture or getattr(info, "name", None)
    if arch is None:
        raise ValueError("save_weights: give architecture= for a model not built by cnnzoo.create_model")
    in_chans = int(getattr(model, "in_chans", info.input_size[0] if info else 3))
    if img_size is None:
        img_size = int(info.input_size[-1]) if info else 224
    if mean is None or std is None:
        mean, std = _default_norm(in_chans)
    meta = dict(format=FORMAT, model=arch, model_kwargs=dict(model_kwargs or {}),
                num_classes=int(getattr(model, "num_classes", 0)), in_chans=in_chans, img_size=int(img_size),
                mean=list(mean), std=list(std), classes=list(classes) if classes else None, weights="model",
                cnnzoo_version=__version__)
    meta.update({k: v for k, v in extra.items() if v is not None})
    return save_safetensors(model.state_dict(), path, meta, dtype=dtype)


def _default_norm(in_chans: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if in_chans == 3:
        return IMAGENET_MEAN, IMAGENET_STD
    if in_chans == 1:
        return FASHION_MNIST_MEAN, FASHION_MNIST_STD
    return (0.5,) * in_chans, (0.5,) * in_chans


def convert_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, model_name: str, *,
                       layout: str | None = None, dtype: torch.dtype | None = None,
                       mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
                       **model_kwargs: Any) -> tuple[Path, LoadReport]:
    """Convert a torchvision/timm/cnnzoo checkpoint of ``model_name`` into a cnnzoo safetensors file.

    The number of classes and input channels are taken from the checkpoint; the weights are loaded
    strictly into a cnnzoo model (so a file that does not fit fails here, naming the keys) and saved
    with the metadata header. ``model_kwargs`` are the family's options (e.g. ``padding="same"``).
    """
    import cnnzoo
    from cnnzoo.weights.loading import _classifier_name, _input_conv_key

    sd, meta = read_checkpoint(src)
    probe = cnnzoo.create_model(model_name, device="meta", **model_kwargs)
    source, converted = detect_layout(sd, probe, model_name, layout)
    kwargs = dict(model_kwargs)
    fc = _classifier_name(probe)
    if fc and f"{fc}.weight" in converted:
        kwargs["num_classes"] = int(converted[f"{fc}.weight"].shape[0])
    elif fc:  # a checkpoint without classifier
        kwargs["num_classes"] = 0
    key = _input_conv_key(probe)
    if key and key in converted and converted[key].ndim == 4:
        kwargs["in_chans"] = int(converted[key].shape[1])
    model = cnnzoo.create_model(model_name, **kwargs)
    report = load_state_dict(model, sd, strict=True, model_name=model_name, layout=source, metadata=meta,
                             what=f"checkpoint {Path(src).name}")
    old = parse_metadata(meta)
    if mean is None and isinstance(old.get("mean"), list):
        mean, std = tuple(old["mean"]), tuple(old["std"])
    extra = {k: old[k] for k in ("dataset", "accuracy", "epoch", "classes", "img_size") if k in old}
    classes = extra.pop("classes", None)
    extra["source"] = old.get("source") or f"{Path(src).name} ({source} layout)"
    path = save_weights(model, dst, architecture=model_name, mean=mean, std=std, classes=classes, dtype=dtype,
                        model_kwargs=model_kwargs, **extra)
    return path, report

