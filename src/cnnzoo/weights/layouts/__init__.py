"""State-dict layouts of the reference implementations, one module per model family.

Each module here is named after a family (the module name in ``cnnzoo.models``) and defines
``LAYOUTS = {"torchvision": fn, "timm": fn}``, where ``fn(state_dict, model_name)`` returns the state
dict renamed (and, where needed, reshaped) into cnnzoo's layout for that model. Converters map keys by
their names, never by their order (a safetensors file stores its keys sorted). A converter that needs
the model's structure (which stage a block belongs to) also takes a ``model`` keyword: the cnnzoo model
being loaded, or ``None`` (it then builds ``model_name`` with default options on the meta device).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable

import torch
from torch import nn

from cnnzoo.registry import model_info

Converter = Callable[[dict[str, torch.Tensor], str], dict[str, torch.Tensor]]


def _layouts(family: str) -> dict[str, Converter]:
    names = {m.name for m in pkgutil.iter_modules(__path__)}
    if family not in names:
        return {}
    return dict(importlib.import_module(f"{__name__}.{family}").LAYOUTS)


def sources_for(model_name: str) -> list[str]:
    """The reference layouts (``"torchvision"``, ``"timm"``) that can be converted for this model."""
    return sorted(_layouts(model_info(model_name).family))


def convert_state_dict(state_dict: dict[str, torch.Tensor], model_name: str, source: str,
                       model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """Rename a reference implementation's state dict (``source``: ``"torchvision"`` or ``"timm"``)
    into cnnzoo's layout for ``model_name``; ``model`` is the cnnzoo model it is for, where the layout
    depends on the model's options (e.g. ``depth_mult``), else the default ``model_name`` is assumed."""
    family = model_info(model_name).family
    layouts = _layouts(family)
    if source not in layouts:
        known = ", ".join(sorted(layouts)) or "none"
        raise ValueError(f"no {source!r} layout for {model_name} (family {family}); known layouts: {known}")
    convert = layouts[source]
    if model is not None and "model" in inspect.signature(convert).parameters:
        return convert(dict(state_dict), model_name, model=model)
    return convert(dict(state_dict), model_name)


def rename_keys(state_dict: dict[str, torch.Tensor], rules: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """Apply regular-expression rename ``rules`` (pattern, replacement), in order, to every key."""
    import re

    compiled = [(re.compile(p), r) for p, r in rules]
    out = {}
    for key, value in state_dict.items():
        for pattern, repl in compiled:
            key = pattern.sub(repl, key)
        out[key] = value
    return out
