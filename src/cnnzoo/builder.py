"""The builder: one registered variant → one ``nn.Module``, with its arguments checked and recorded.

:func:`build_model` is the only place that calls a family's constructor. It checks the common
arguments, rejects keywords the constructor does not take, builds (on any device, ``meta`` included)
and records on the model what it was built as: ``model.model_info`` (the catalogue entry with the
model's own classes and channels) and ``model.model_args`` (the exact constructor arguments), which
the checkpoint header stores so that a saved model is rebuilt exactly (:mod:`cnnzoo.checkpoint`).
Weights and ``features_only`` are the factory's concern (:mod:`cnnzoo.factory`).
"""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import torch
from torch import nn

import cnnzoo.models  # noqa: F401  (importing the families fills the registry)
from cnnzoo.registry import model_info

__all__ = ["build_model", "count_params", "COMMON_ARGS"]

#: the arguments every constructor takes; the family's own options come as keywords
COMMON_ARGS = ("num_classes", "in_chans", "drop_rate", "drop_path_rate")


def count_params(model: nn.Module) -> int:
    """Number of parameters (works on ``meta`` models)."""
    return sum(p.numel() for p in model.parameters())


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


def _check_common(num_classes: Any, in_chans: Any, drop_rate: Any, drop_path_rate: Any) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
        raise ValueError(f"num_classes must be an int >= 0 (0 removes the classifier), got {num_classes!r}")
    if isinstance(in_chans, bool) or not isinstance(in_chans, int) or in_chans < 1:
        raise ValueError(f"in_chans must be an int >= 1, got {in_chans!r}")
    for key, rate in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
        if rate is not None and not (isinstance(rate, (int, float)) and 0.0 <= float(rate) < 1.0):
            raise ValueError(f"{key} must be a number in [0, 1), got {rate!r}")


def _constructor_args(name: str, fn: Any, call: dict[str, Any]) -> dict[str, Any]:
    """``call`` without the rates the constructor does not take (an error if one is asked for)."""
    params = inspect.signature(fn).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = [k for k in call if k not in params and k not in COMMON_ARGS] if not accepts_any else []
    if unknown:
        allowed = sorted(k for k, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        raise TypeError(f"{name}() got unknown keyword(s) {', '.join(map(repr, unknown))}; "
                        f"it accepts: {', '.join(allowed)}")
    out = {}
    for key, value in call.items():
        if key in ("drop_rate", "drop_path_rate") and key not in params and not accepts_any:
            if value:
                raise TypeError(f"{name}() does not support {key}")
            continue
        if value is not None or key not in ("drop_rate", "drop_path_rate"):
            out[key] = value
    return out


def build_model(name: str, num_classes: int | None = None, in_chans: int | None = None,
                drop_rate: float | None = None, drop_path_rate: float | None = None,
                device: str | torch.device | None = None, **kwargs: Any) -> nn.Module:
    """Build the registered variant ``name`` with random weights.

    Args:
        name: a name from :func:`cnnzoo.list_models`.
        num_classes, in_chans: default the variant's (1000 and 3 for ImageNet models).
        drop_rate, drop_path_rate: default the variant's own.
        device: build directly on this device (``"meta"``: shapes only, no memory, no init).
        **kwargs: the family's own options; unknown keywords are an error that lists the accepted ones.

    The model carries ``model_info`` and ``model_args``: every argument the constructor received, so
    that ``build_model(name, **model.model_args)`` builds the same architecture again.
    """
    info = model_info(name)
    fn = info.constructor
    if fn is None:
        raise ValueError(f"{name!r} is registered without a constructor")
    num_classes = info.num_classes if num_classes is None else num_classes
    in_chans = info.default_in_chans if in_chans is None else in_chans
    _check_common(num_classes, in_chans, drop_rate, drop_path_rate)
    call = _constructor_args(name, fn, dict(kwargs, num_classes=num_classes, in_chans=in_chans,
                                            drop_rate=drop_rate, drop_path_rate=drop_path_rate))
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
    # a constructor may record its arguments in resolved form (mbconv: the parsed table, not a file path)
    model.model_args = {**call, **getattr(model, "resolved_args", {})}
    return model
