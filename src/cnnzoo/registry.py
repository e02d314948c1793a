"""The model registry: every family module registers its variants with ``@register_model``.

There is no hand-kept central list: importing ``cnnzoo.models`` imports every family module,
and each decorated constructor adds itself here together with its metadata.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import functools
import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

__all__ = [
    "ModelInfo",
    "register_model",
    "create_model",
    "list_models",
    "model_info",
    "count_params",
]


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
        """Parameter count at the variant's default classes and channels (built on ``meta``)."""
        return _meta_facts(self.name)[0]

    @property
    def min_size(self) -> int:
        """Smallest input side the model accepts (the model itself says; built on ``meta``)."""
        return _meta_facts(self.name)[1]


@contextlib.contextmanager
def _skip_init() -> Iterator[None]:
    """Make ``torch.nn.init``'s initialisers no-ops: on ``meta`` their values mean nothing, and the
    first random op on ``meta`` imports ``torch._dynamo`` (≈ 2.5 s of a training run's start)."""
    init = torch.nn.init
    saved = {n: getattr(init, n) for n in dir(init) if n.endswith("_") and not n.startswith("_")}
    try:
        for n in saved:
            setattr(init, n, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for n, f in saved.items():
            setattr(init, n, f)


@functools.cache
def _meta_facts(name: str) -> tuple[int, int]:
    model = create_model(name, device="meta")
    return count_params(model), int(getattr(model, "min_size", 1))


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


def _ensure_loaded() -> None:
    # Importing the package imports every family module (see cnnzoo/models/__init__.py).
    import cnnzoo.models  # noqa: F401


def _lookup(name: str) -> ModelInfo:
    _ensure_loaded()
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str, got {type(name).__name__}")
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
        hint = f" Closest registered names: {', '.join(close)}." if close else ""
        raise ValueError(f"Unknown model {name!r}.{hint} See cnnzoo.list_models() for all names.")
    return _REGISTRY[name]


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    """Registered model names matching the shell wildcard ``pattern`` (e.g. ``"resnet*"``), sorted."""
    _ensure_loaded()
    names = [n for n, i in _REGISTRY.items() if fnmatch.fnmatchcase(n, pattern)]
    if family is not None:
        names = [n for n in names if _REGISTRY[n].family == family]
    return sorted(names, key=_natural_key)


def _natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def model_info(name: str) -> ModelInfo:
    """Metadata of a registered model: default/minimum input size, paper, parameter count (``.params``)."""
    return _lookup(name)


def count_params(model: nn.Module) -> int:
    """Number of parameters (works on ``meta`` models)."""
    return sum(p.numel() for p in model.parameters())


def create_model(
    name: str,
    pretrained: bool | str = False,
    num_classes: int | None = None,
    in_chans: int | None = None,
    drop_rate: float | None = None,
    drop_path_rate: float | None = None,
    features_only: bool = False,
    out_indices: tuple[int, ...] | None = None,
    device: str | torch.device | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model.

    Args:
        name: a name from :func:`list_models`.
        pretrained: ``True`` for the weights that ship with the package (their classes, input
            channels and the options they were trained with become the defaults), or a path to a
            checkpoint (see :func:`cnnzoo.load_weights`).
        num_classes: classifier outputs (default: the variant's, 1000 for ImageNet models).
        in_chans: input channels (default: the variant's, 3 for ImageNet models).
        drop_rate: dropout before the classifier (default: the variant's own, e.g. the paper's).
        drop_path_rate: stochastic-depth rate, where the family has residual blocks (default: the variant's).
        features_only: return a feature extractor giving each stage's feature map.
        out_indices: which stages ``features_only`` returns (default: all).
        device: build directly on this device (``"meta"`` builds shapes only, no memory).
        **kwargs: the family's own options (e.g. ``width_mult``); unknown keywords are an error.
    """
    info = _lookup(name)
    fn = info.constructor
    assert fn is not None
    if pretrained is True:
        from cnnzoo.weights import shipped_defaults  # the shipped weights set the defaults

        shipped = shipped_defaults(name)
        num_classes = shipped["num_classes"] if num_classes is None else num_classes
        in_chans = shipped["in_chans"] if in_chans is None else in_chans
        # the options the weights were trained with (e.g. batch_norm, stem_stride), unless given
        trained_with = dict(shipped.get("model_kwargs") or {})
        trained_drop = trained_with.pop("drop_rate", None)
        drop_rate = trained_drop if drop_rate is None else drop_rate
        kwargs = {**trained_with, **kwargs}
    num_classes = info.num_classes if num_classes is None else num_classes
    in_chans = info.default_in_chans if in_chans is None else in_chans
    if not isinstance(num_classes, int) or num_classes < 0:
        raise ValueError(f"num_classes must be an int >= 0 (0 removes the classifier), got {num_classes!r}")
    if not isinstance(in_chans, int) or in_chans < 1:
        raise ValueError(f"in_chans must be a positive int, got {in_chans!r}")
    for key, rate in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
        if rate is not None and not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"{key} must be in [0, 1), got {rate!r}")

    params = inspect.signature(fn).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = [k for k in kwargs if k not in params] if not accepts_any else []
    if unknown:
        allowed = sorted(
            k for k, p in params.items()
            if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD
        )
        raise TypeError(
            f"{name}() got unknown keyword(s) {', '.join(map(repr, unknown))}; "
            f"it accepts: {', '.join(allowed)}"
        )
    call = dict(kwargs)
    call.update(num_classes=num_classes, in_chans=in_chans)
    for key, value in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
        if value is None:
            continue
        if key in params or accepts_any:
            call[key] = value
        elif value:
            raise TypeError(f"{name}() does not support {key}")

    on_meta = device is not None and torch.device(device).type == "meta"
    try:
        with torch.device(device) if device is not None else contextlib.nullcontext(), \
                _skip_init() if on_meta else contextlib.nullcontext():
            model = fn(**call)
    except TypeError as err:
        if "unexpected keyword argument" not in str(err):
            raise
        bad = re.findall(r"argument '(\w+)'", str(err))
        raise TypeError(f"{name}() got unknown keyword {', '.join(map(repr, bad)) or str(err)}") from None
    model.model_info = replace(info, num_classes=num_classes, input_size=(in_chans, *info.input_size[1:]))

    if pretrained:
        from cnnzoo.weights import load_pretrained

        load_pretrained(model, name, pretrained)

    if features_only:
        from cnnzoo.models._features import FeatureExtractor

        model = FeatureExtractor(model, out_indices=out_indices)
    elif out_indices is not None:
        raise ValueError("out_indices is only used with features_only=True")
    return model
