"""Loading a checkpoint into a cnnzoo model: layout detection, adaptation and clear errors.

The steps of :func:`load_state_dict` (the file is read by :func:`cnnzoo.checkpoint.load_weights`):

1. detect its layout: cnnzoo's own, or torchvision's / timm's for the same architecture — every
   converter of the model's family is tried and the one whose keys match the model's best wins;
2. adapt the first convolution when the model has another number of input channels than the
   checkpoint (summed over RGB for one channel, tiled and rescaled otherwise);
3. drop the classifier with a warning when the number of classes differs (it keeps its fresh init);
4. load, naming every missing, unexpected and wrong-shaped key if anything is left over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from cnnzoo._warn import warn_user
from cnnzoo.models._features import FeatureExtractor
from cnnzoo.tables import plural
from cnnzoo.weights.layouts import convert_state_dict, sources_for

__all__ = ["LoadReport", "WeightsError", "adapt_input_conv", "classifier_name", "detect_layout", "input_conv_key",
           "load_state_dict", "model_name_of"]

_SHOW = 12  # how many key names an error message lists per kind


class WeightsError(ValueError):
    """A checkpoint does not fit the model; the message names the keys."""


@dataclass
class LoadReport:
    """What :func:`load_weights` did."""

    layout: str
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    wrong_shape: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    reinitialized: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    source_classes: int | None = None  # the checkpoint's classes, where its classifier was re-initialised
    metadata: dict[str, str] = field(default_factory=dict)


def _base(model: nn.Module) -> nn.Module:
    """The classifier inside a ``features_only`` wrapper."""
    return model.model if isinstance(model, FeatureExtractor) else model


def model_name_of(model: nn.Module) -> str | None:
    """The registered name a model was built as (``None`` for a model not built by cnnzoo)."""
    info = getattr(_base(model), "model_info", None)
    return getattr(info, "name", None)


# -- layout detection ------------------------------------------------------------------------------
def _score(sd: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> tuple[int, int, int]:
    """(keys in common with equal shapes, keys in common, -unexpected): higher is a better match."""
    common = sd.keys() & target.keys()
    same = sum(tuple(sd[k].shape) == tuple(target[k].shape) for k in common)
    return same, len(common), -len(sd.keys() - target.keys())


def detect_layout(state_dict: dict[str, torch.Tensor], model: nn.Module, model_name: str | None = None,
                  layout: str | None = None, errors: list[str] | None = None) -> tuple[str, dict[str, torch.Tensor]]:
    """Find which layout ``state_dict`` is in (``"cnnzoo"``, ``"torchvision"``, ``"timm"``) for ``model``
    and return it with the state dict converted into cnnzoo's layout.

    Every converter registered for the model's family is tried (see :mod:`cnnzoo.weights.layouts`);
    an exact match of the keys wins, else the layout that matches the most keys (with equal shapes
    first). Where the references' layouts are the same for a model (torchvision's and timm's ResNets),
    the name says both, ``"torchvision/timm"``. ``layout`` forces one; ``errors`` collects why the
    other layouts failed.
    """
    name = model_name or model_name_of(model)
    target = _base(model).state_dict()
    references = sources_for(name) if name else []
    sources = ["cnnzoo"] + sorted(references, key=lambda s: (s != "torchvision", s))
    if layout is not None:
        if layout not in sources:
            raise WeightsError(f"layout {layout!r} is not known for {name}; known: {', '.join(sources)}")
        sources = [layout]
    best: tuple[tuple[int, int, int], str, dict[str, torch.Tensor]] | None = None
    exact: list[tuple[str, dict[str, torch.Tensor]]] = []
    errors = [] if errors is None else errors
    for source in sources:
        try:
            converted = dict(state_dict) if source == "cnnzoo" else \
                convert_state_dict(state_dict, name, source, model=_base(model))
        except Exception as err:  # a converter that does not fit this checkpoint
            errors.append(f"{source}: {err}")
            continue
        if converted.keys() == target.keys():
            if source == "cnnzoo":
                return source, converted
            exact.append((source, converted))
            continue
        score = _score(converted, target)
        if best is None or score > best[0]:
            best = (score, source, converted)
    if exact:
        return "/".join(s for s, _ in exact), exact[0][1]
    if best is None:
        raise WeightsError(f"no layout could convert this checkpoint for {name}: {'; '.join(errors)}")
    return best[1], best[2]


# -- adaptation --------------------------------------------------------------------------------------
def adapt_input_conv(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """A first-convolution weight ``(out, c, kh, kw)`` for ``in_chans`` input channels.

    One channel: the sum over the checkpoint's channels (a grey image gives the RGB model's response
    to the same grey). Other counts: the channels tiled cyclically and scaled by ``c / in_chans`` (the
    rule timm users know); for a multiple of ``c`` channels, an image repeated over them gives the RGB
    model's response exactly.
    """
    c = weight.shape[1]
    if in_chans == c:
        return weight
    dtype = weight.dtype
    w = weight.float()
    if in_chans == 1:
        w = w.sum(dim=1, keepdim=True)
    else:
        w = w.repeat(1, math.ceil(in_chans / c), 1, 1)[:, :in_chans] * (c / in_chans)
    return w.to(dtype)


def input_conv_key(model: nn.Module) -> str | None:
    """The weight key of the convolution that reads the input: the first convolution (in module order)
    with the model's number of input channels."""
    base = _base(model)
    in_chans = getattr(base, "in_chans", None)
    for name, m in base.named_modules():
        if isinstance(m, nn.Conv2d) and (in_chans is None or m.in_channels == in_chans) and m.groups == 1:
            return f"{name}.weight" if name else "weight"
    return None


def classifier_name(base: nn.Module) -> str | None:
    """Dotted name of the model's final classifier module (``head.fc``), if it has one."""
    getter = getattr(base, "get_classifier", None)
    if getter is None:
        return None
    fc = getter()
    return next((name for name, m in base.named_modules() if m is fc and name), None)


def _drop_classifier(base: nn.Module, sd: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
                     report: LoadReport, name: str, what: str) -> None:
    """Remove the checkpoint's classifier when its number of classes is not the model's (and the
    auxiliary classifiers that change with it), warning that they stay freshly initialised."""
    fc = classifier_name(base)
    if fc is None:
        return
    ckpt_w = sd.get(f"{fc}.weight")
    if ckpt_w is None or ckpt_w.ndim == 0:
        return
    ckpt_classes = ckpt_w.shape[0]
    model_w = target.get(f"{fc}.weight")
    model_classes = getattr(base, "num_classes", None) if model_w is None else model_w.shape[0]
    if model_w is not None and model_w.shape[0] == ckpt_classes:
        return  # same classes (another shape would be another architecture: reported as wrong-shaped)
    drop = []
    for k in list(sd):
        if k.startswith(fc + ".") and (k not in target or tuple(sd[k].shape) != tuple(target[k].shape)):
            drop.append(k)
        elif (k in target and sd[k].ndim >= 1 and tuple(sd[k].shape) != tuple(target[k].shape)
              and sd[k].shape[0] == ckpt_classes and target[k].shape[0] == model_classes
              and tuple(sd[k].shape[1:]) == tuple(target[k].shape[1:])):
            drop.append(k)  # an auxiliary classifier (Inception, GoogLeNet)
    if not drop:
        return
    for k in drop:
        del sd[k]
    report.reinitialized.extend(drop)
    report.source_classes = int(ckpt_classes)
    if not model_classes:
        msg = (f"{name}: the model has no classifier (num_classes=0); the {what}'s {ckpt_classes}-class "
               f"classifier ({', '.join(drop)}) is left out")
    else:
        msg = (f"{name}: the {what} has {plural(ckpt_classes, 'class')} and the model {model_classes}; the classifier "
               f"({', '.join(drop)}) is re-initialised and needs training")
    warn_user(msg)


# -- loading -----------------------------------------------------------------------------------------
def _fmt_keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW])
    return shown + (f", … ({len(keys) - _SHOW} more)" if len(keys) > _SHOW else "")


def load_state_dict(model: nn.Module, state_dict: dict[str, torch.Tensor], strict: bool = True,
                    model_name: str | None = None, layout: str | None = None,
                    metadata: dict[str, str] | None = None, what: str = "checkpoint") -> LoadReport:
    """Load a state dict in any known layout into ``model`` (see :func:`load_weights`)."""
    base = _base(model)
    name = model_name or model_name_of(model) or type(base).__name__
    failed: list[str] = []
    source, sd = detect_layout(state_dict, model, model_name, layout, errors=failed)
    report = LoadReport(layout=source, metadata=dict(metadata or {}))
    target = base.state_dict()

    # Input channels: adapt the first convolution (e.g. RGB weights into a one-channel model).
    key = input_conv_key(model)
    if key and key in sd and key in target:
        have, want = tuple(sd[key].shape), tuple(target[key].shape)
        if have != want and len(have) == 4 and have[0] == want[0] and have[2:] == want[2:]:
            sd[key] = adapt_input_conv(sd[key], want[1])
            report.adapted.append(key)

    # Classes: a classifier of another size is left freshly initialised, with a warning.
    _drop_classifier(base, sd, target, report, name, what)

    fresh = {k for k in target if any(k.rsplit(".", 1)[0] == r.rsplit(".", 1)[0] for r in report.reinitialized)}
    # Batch-norm counters are absent from older checkpoints; torch keeps the model's own.
    missing = sorted(k for k in target if k not in sd and k not in fresh and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in sd if k not in target)
    wrong = {k: (tuple(sd[k].shape), tuple(target[k].shape)) for k in sorted(sd.keys() & target.keys())
             if tuple(sd[k].shape) != tuple(target[k].shape)}
    report.missing, report.unexpected, report.wrong_shape = missing, unexpected, wrong
    if strict and (missing or unexpected or wrong):
        parts = [f"the {what} does not fit {name} (layout detected: {source})"]
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_fmt_keys(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_fmt_keys(unexpected)}")
        if wrong:
            shown = [f"{k} {list(a)} in the {what} vs {list(b)} in the model" for k, (a, b) in wrong.items()]
            parts.append(f"wrong-shaped keys ({len(wrong)}): {_fmt_keys(shown)}")
        if failed:
            parts.append(f"layouts that could not convert it: {'; '.join(failed)}")
        if len(missing) + len(wrong) > len(target) // 2:
            parts.append("most keys differ: is this a checkpoint of another architecture?")
        parts.append("use strict=False to load the keys that fit")
        raise WeightsError("; ".join(parts))
    if not strict and (missing or unexpected or wrong):
        warn_user(
            f"{name}: loading non-strictly, {len(missing)} missing, {len(unexpected)} unexpected and "
            f"{len(wrong)} wrong-shaped keys left out"
            + (f"; missing: {_fmt_keys(missing)}" if missing else "")
            + (f"; unexpected: {_fmt_keys(unexpected)}" if unexpected else "")
            + (f"; wrong-shaped: {_fmt_keys(list(wrong))}" if wrong else ""),
        )
    loadable = {k: v for k, v in sd.items() if k in target and k not in wrong}
    for k, v in loadable.items():
        ref = target[k]
        if v.dtype != ref.dtype and ref.dtype.is_floating_point:
            loadable[k] = v.to(ref.dtype)
    base.load_state_dict(loadable, strict=False)
    return report

