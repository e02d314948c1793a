"""The model catalogue: every family module registers its variants with ``@register_model``.

A passive catalogue: it records what each variant is (name, family, paper, default input size,
scaling coefficients) and answers :func:`list_models` and :func:`model_info`. It builds nothing and
imports neither the models nor the weights; :mod:`cnnzoo.builder` and :mod:`cnnzoo.factory` build
from it. Importing the ``cnnzoo`` package imports every family module, which fills it.

Facts that need a built model (parameter count, GMACs, smallest input) come from the table computed
once for the zoo's own variants (``zoo_facts.json``, written by ``scripts/update_readme_table.py``
and checked by the tests), or, for a variant registered later, from the builder on the ``meta`` device.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from torch import nn

__all__ = ["ModelFacts", "ModelInfo", "register_model", "list_models", "model_info", "model_facts",
           "set_facts_provider"]


@dataclass(frozen=True)
class ModelFacts:
    """What a variant costs at its default classes, channels and input size."""

    params: int
    gmacs: float
    min_size: int


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows of one variant (before it is built)."""

    name: str
    family: str
    paper: str
    input_size: tuple[int, int, int] = (3, 224, 224)
    num_classes: int = 1000
    #: scaling coefficients behind the variant (width, depth, resolution, dropout…), if any
    scaling: dict[str, float] = field(default_factory=dict)
    #: fashion-MNIST accuracy of weights that ship with the package, if any
    pretrained_accuracy: float | None = None
    #: the reference implementation with the same architecture ("torchvision" / "timm"), if any
    reference: str | None = None
    constructor: Callable[..., nn.Module] | None = field(default=None, repr=False, compare=False)

    @property
    def default_in_chans(self) -> int:
        return self.input_size[0]

    @property
    def params(self) -> int:
        """Parameter count at the variant's default classes and channels."""
        return model_facts(self.name).params

    @property
    def min_size(self) -> int:
        """Smallest input side the model accepts."""
        return model_facts(self.name).min_size

    @property
    def gmacs(self) -> float:
        """Multiply-accumulates (×1e9) of one image at the default input size."""
        return model_facts(self.name).gmacs


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    *,
    paper: str,
    input_size: tuple[int, int, int] = (3, 224, 224),
    num_classes: int = 1000,
    scaling: dict[str, float] | None = None,
    reference: str | None = None,
    pretrained_accuracy: float | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a model constructor under its function name.

    The constructor takes ``num_classes``, ``in_chans``, ``drop_rate``, ``drop_path_rate`` and
    its family's own keywords. ``input_size`` is the default (channels, height, width); the
    smallest accepted input is the model's own ``min_size`` attribute.
    """

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = fn.__name__
        if name in _REGISTRY:
            raise RuntimeError(f"model {name!r} is registered twice")
        family = fn.__module__.rsplit(".", 1)[-1]
        _REGISTRY[name] = ModelInfo(
            name=name,
            family=family,
            paper=paper,
            input_size=input_size,
            num_classes=num_classes,
            scaling=dict(scaling or {}),
            reference=reference,
            pretrained_accuracy=pretrained_accuracy,
            constructor=fn,
        )
        return fn

    return decorator


def _lookup(name: str) -> ModelInfo:
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str, got {type(name).__name__}")
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
        hint = f" Closest registered names: {', '.join(close)}." if close else ""
        raise ValueError(f"Unknown model {name!r}.{hint} `cnnzoo list` (or cnnzoo.list_models()) shows every name.")
    return _REGISTRY[name]


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    """Registered model names matching the shell wildcard ``pattern`` (e.g. ``"resnet*"``), sorted."""
    names = [n for n, i in _REGISTRY.items() if fnmatch.fnmatchcase(n, pattern)]
    if family is not None:
        names = [n for n in names if _REGISTRY[n].family == family]
    return sorted(names, key=_natural_key)


def _natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def model_info(name: str) -> ModelInfo:
    """Metadata of a registered model: default/minimum input size, paper, parameter count (``.params``)."""
    return _lookup(name)


# -- facts -------------------------------------------------------------------------------------------
FACTS_FILE = "zoo_facts.json"
_facts_provider: Callable[[str], ModelFacts] | None = None


@functools.cache
def _shipped_facts() -> dict[str, ModelFacts]:
    path = resources.files("cnnzoo").joinpath(FACTS_FILE)
    if not path.is_file():
        return {}
    return {name: ModelFacts(**row) for name, row in json.loads(path.read_text()).items()}


def set_facts_provider(provider: Callable[[str], ModelFacts]) -> None:
    """Where :func:`model_facts` measures a variant that is not in the shipped table (the builder sets it)."""
    global _facts_provider
    _facts_provider = provider


@functools.cache
def model_facts(name: str) -> ModelFacts:
    """Parameters, GMACs and the smallest input side of ``name`` at its defaults."""
    _lookup(name)
    shipped = _shipped_facts().get(name)
    if shipped is not None:
        return shipped
    if _facts_provider is None:
        raise RuntimeError(f"no facts for {name!r}: import cnnzoo (its builder measures models)")
    return _facts_provider(name)
