"""cnnzoo's checkpoint: the one file format, its header, writing, safe reading, and rebuilding.

A cnnzoo checkpoint is a safetensors file of a model's ``state_dict`` with a string metadata header
(:class:`CheckpointHeader`), written by training (``runs/<name>/best.safetensors``), ``convert``,
``scripts/ship_weights.py`` and :func:`save_checkpoint` alike:

=================  ==================================================================================
``format``         ``"cnnzoo.checkpoint.v1"``
``model``          the registered name, e.g. ``"resnet8"``
``model_kwargs``   every other constructor argument (JSON), scaling and repeat rounding included
``num_classes``    classifier outputs;  ``in_chans``  input channels
``img_size``       the square input side the weights were trained or scaled for
``mean``, ``std``  per-channel input normalisation of [0, 1] pixels (JSON lists)
``classes``        class names, index = logit (JSON list; absent when unknown)
``epoch``,         epochs trained and the test top-1 (%) of these weights, where known;
``accuracy``       ``weights`` says ``"model"`` or ``"ema"``
``dataset``,       what the weights were trained on and where they came from
``source``
``scaling``        compound-scaling coefficients of a :func:`cnnzoo.scale_model` result (JSON)
=================  ==================================================================================

Reading never runs pickled code: safetensors files are read with safetensors, any other file with
``torch.load(weights_only=True)``; the format is recognised from the first bytes, not the name.
:func:`load_checkpoint` rebuilds the model a file was saved from, exactly; files of torchvision or
timm (no header) need the model's name and are converted from their layout (:mod:`cnnzoo.weights`).

A header is data, checked before anything is built from it (:meth:`CheckpointHeader.validate`):
``num_classes``, ``in_chans`` and ``img_size`` within :data:`MAX_NUM_CLASSES`, :data:`MAX_IN_CHANS` and
:data:`MAX_IMG_SIZE`, ``mean``/``std`` finite with one value per channel (``std`` > 0), numbers in
``model_kwargs`` finite and bounded, and never a path: an argument that a constructor would read from a
file (``arch`` of ``mbconv``) must hold the data itself. Before a model is allocated it is built on the
``meta`` device and must not hold more values than the file does. An error about a file that cannot be
parsed names the file and what was expected, never its content.

Checkpoints are written atomically (:func:`cnnzoo.files.atomic_write`): a kill at any moment leaves the
previous complete file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pickle
import re
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnzoo._version import __version__
from cnnzoo._warn import warn_user
from cnnzoo.builder import build_model
from cnnzoo.data import FASHION_MNIST_MEAN, FASHION_MNIST_STD
from cnnzoo.data.config import IMAGENET_MEAN, IMAGENET_STD, resolve_data_config
from cnnzoo.files import write_bytes
from cnnzoo.limits import MAX_IMG_SIZE, MAX_IN_CHANS, MAX_NUM_CLASSES
from cnnzoo.registry import model_info
from cnnzoo.tables import plural
from cnnzoo.weights.loading import (
    LoadReport,
    classifier_name,
    detect_layout,
    input_conv_key,
    load_state_dict,
    model_name_of,
)

__all__ = ["FORMAT", "MAX_NUM_CLASSES", "MAX_IN_CHANS", "MAX_IMG_SIZE", "MAX_KWARG_VALUE", "MAX_MULT",
           "CheckpointHeader", "check_header_model",
           "read_state_dict",
           "read_header", "header_for", "save_state_dict", "save_checkpoint", "load_weights", "load_checkpoint",
           "convert_checkpoint", "default_normalization"]

FORMAT = "cnnzoo.checkpoint.v1"

#: bounds of a header's values (memory is sized from them)
MAX_KWARG_VALUE = 10_000    # any other number in model_kwargs (widths, depths, groups, …), in absolute value
MAX_MULT = 16.0             # width/depth/resolution multipliers (``*_mult``, ``scale``) in model_kwargs
_RESERVED_KWARGS = ("num_classes", "in_chans", "device")  # header fields, or not a constructor argument
_SHOW_CHARS = 80            # how much of a header value an error message shows


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOW_CHARS else text[:_SHOW_CHARS] + "…"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_kwarg_numbers(value: Any, key: str, what: str) -> None:
    """Every number inside a model_kwargs value finite and bounded (multipliers by :data:`MAX_MULT`)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_kwarg_numbers(v, f"{key}.{k}", what)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_kwarg_numbers(v, f"{key}[{i}]", what)
    elif _is_number(value):
        name = key.rsplit(".", 1)[-1].split("[", 1)[0]
        bound = MAX_MULT if name.endswith("_mult") or name == "scale" else MAX_KWARG_VALUE
        if not (math.isfinite(value) and abs(value) <= bound):
            raise ValueError(f"{what}: header model_kwargs.{key} must be a finite number in [-{bound:g}, {bound:g}], "
                             f"got {_shown(value)}")


# -- the header --------------------------------------------------------------------------------------
@dataclass
class CheckpointHeader:
    """What a checkpoint says about its weights (see the module docstring for the keys)."""

    model: str
    num_classes: int
    in_chans: int
    img_size: int
    mean: list[float]
    std: list[float]
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    classes: list[str] | None = None
    epoch: int | None = None
    accuracy: float | None = None
    weights: str = "model"
    dataset: str | None = None
    source: str | None = None
    scaling: dict[str, float] | None = None
    cnnzoo_version: str = __version__

    def validate(self, what: str = "checkpoint") -> CheckpointHeader:
        """Check every value before anything is sized from it; a ``ValueError`` names the field and the
        expected range. Returns the header."""
        for key, hi, lo in (("num_classes", MAX_NUM_CLASSES, 0), ("in_chans", MAX_IN_CHANS, 1),
                            ("img_size", MAX_IMG_SIZE, 1)):
            value = getattr(self, key)
            if not (_is_int(value) and lo <= value <= hi):
                raise ValueError(f"{what}: header {key} must be an integer in [{lo}, {hi}], got {_shown(value)}")
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"{what}: header model must be a registered model name, got {_shown(self.model)}")
        for key in ("mean", "std"):
            values = getattr(self, key)
            if not (isinstance(values, list) and len(values) == self.in_chans and all(map(_is_number, values))):
                raise ValueError(f"{what}: header {key} must be a list of {self.in_chans} numbers (one per input "
                                 f"channel), got {_shown(values)}")
            if not all(math.isfinite(v) for v in values) or (key == "std" and not all(v > 0 for v in values)):
                need = "finite numbers > 0" if key == "std" else "finite numbers"
                raise ValueError(f"{what}: header {key} must hold {need}, got {_shown(values)}")
        if self.classes is not None and not (isinstance(self.classes, list) and len(self.classes) == self.num_classes
                                             and all(isinstance(c, str) for c in self.classes)):
            raise ValueError(f"{what}: header classes must be a list of {self.num_classes} names (one per class), "
                             f"got {_shown(self.classes)}")
        if self.epoch is not None and not (_is_int(self.epoch) and self.epoch >= 0):
            raise ValueError(f"{what}: header epoch must be an integer >= 0, got {_shown(self.epoch)}")
        if self.accuracy is not None and not (_is_number(self.accuracy) and 0 <= self.accuracy <= 100):
            raise ValueError(f"{what}: header accuracy must be a percentage in [0, 100], got {_shown(self.accuracy)}")
        for key in ("weights", "dataset", "source", "cnnzoo_version"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{what}: header {key} must be a string, got {_shown(value)}")
        if self.scaling is not None and not (isinstance(self.scaling, dict) and all(
                isinstance(k, str) and _is_number(v) for k, v in self.scaling.items())):
            raise ValueError(f"{what}: header scaling must be a mapping of names to numbers, "
                             f"got {_shown(self.scaling)}")
        self._validate_kwargs(what)
        return self

    def _validate_kwargs(self, what: str) -> None:
        kwargs = self.model_kwargs
        if not isinstance(kwargs, dict):
            raise ValueError(f"{what}: header model_kwargs must be a mapping of constructor arguments, "
                             f"got {_shown(kwargs)}")
        reserved = [k for k in kwargs if k in _RESERVED_KWARGS]
        if reserved:
            raise ValueError(f"{what}: header model_kwargs may not set {', '.join(reserved)} (header fields, "
                             f"not constructor arguments)")
        for key, value in kwargs.items():
            _check_kwarg_numbers(value, key, what)
        try:
            constructor = model_info(self.model).constructor
        except ValueError:
            return  # an unknown model is refused where it is built, naming the registered ones
        for key in getattr(constructor, "file_arguments", ()):
            if isinstance(kwargs.get(key), (str, os.PathLike)):
                raise ValueError(
                    f"{what}: the header's {key} names a file ({_shown(kwargs[key])}); a checkpoint header is "
                    f"data, and cnnzoo no longer opens files that a header names. Rebuild the model from the file "
                    f"yourself (cnnzoo.create_model({self.model!r}, {key}=FILE)), load the weights into it "
                    f"(cnnzoo.load_weights) and save it again: the new header holds the {key} itself")

    def build_args(self) -> dict[str, Any]:
        """The arguments of :func:`cnnzoo.builder.build_model` that rebuild the saved architecture."""
        return dict(self.model_kwargs, num_classes=self.num_classes, in_chans=self.in_chans)

    def to_metadata(self) -> dict[str, str]:
        """The safetensors metadata: strings, and JSON for everything else; ``None`` values left out."""
        values = dict(format=FORMAT, **dataclasses.asdict(self))
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items() if v is not None}

    @classmethod
    def from_metadata(cls, raw: Mapping[str, str], what: str = "checkpoint") -> CheckpointHeader:
        """Decode a header; a ``ValueError`` names what is missing or malformed."""
        values: dict[str, Any] = {}
        for key, text in raw.items():
            try:
                values[key] = json.loads(text)
            except (TypeError, ValueError):
                values[key] = text
            except RecursionError:
                raise ValueError(f"{what}: header {key} is nested too deeply (expected JSON data)") from None
        if values.get("format") != FORMAT:
            raise ValueError(f"{what}: not a cnnzoo checkpoint (header format {_shown(values.get('format'))}, "
                             f"expected {FORMAT!r})")
        names = {f.name for f in dataclasses.fields(cls)}
        required = [f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [k for k in required if k not in values]
        if missing:
            raise ValueError(f"{what}: the cnnzoo header lacks {', '.join(missing)}")
        return cls(**{k: v for k, v in values.items() if k in names}).validate(what)


def default_normalization(in_chans: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """ImageNet's mean/std for RGB, Fashion-MNIST's for one channel, 0.5 otherwise."""
    if in_chans == 3:
        return IMAGENET_MEAN, IMAGENET_STD
    if in_chans == 1:
        return FASHION_MNIST_MEAN, FASHION_MNIST_STD
    return (0.5,) * in_chans, (0.5,) * in_chans


def header_for(model: nn.Module, *, classes: list[str] | tuple[str, ...] | None = None,
               mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
               img_size: int | None = None, **extra: Any) -> CheckpointHeader:
    """The header of a model built by cnnzoo: its name and exact constructor arguments (recorded by the
    builder), its input size and scaling, and the given class names, normalisation and ``extra`` fields
    (``epoch``, ``accuracy``, ``weights``, ``dataset``, ``source``)."""
    info = getattr(model, "model_info", None)
    args = getattr(model, "model_args", None)
    if info is None or args is None:
        raise ValueError("only a model built by cnnzoo.create_model can be saved with its header "
                         "(save its state_dict with save_state_dict and a CheckpointHeader otherwise)")
    kwargs = {k: v for k, v in args.items() if k not in ("num_classes", "in_chans")}
    try:
        json.dumps(kwargs)
    except TypeError as err:
        raise ValueError(f"{info.name}: its constructor arguments cannot be stored in a header ({err}); "
                         f"build it with plain values (numbers, strings, lists)") from None
    in_chans = int(args["in_chans"])
    if (mean is None) != (std is None):
        raise ValueError("give mean and std together")
    if mean is None:
        mean, std = default_normalization(in_chans)
    if len(mean) != in_chans or len(std) != in_chans:
        raise ValueError(f"mean and std need one value per input channel ({in_chans}), got {len(mean)} and {len(std)}")
    num_classes = int(args["num_classes"])
    if classes is not None and len(classes) != num_classes:
        raise ValueError(f"{plural(len(classes), 'class name')} for a model with {plural(num_classes, 'class')}")
    scaling = dict(info.scaling) if "phi" in info.scaling else None
    unknown = set(extra) - {f.name for f in dataclasses.fields(CheckpointHeader)}
    if unknown:
        raise TypeError(f"unknown header field(s): {', '.join(sorted(unknown))}")
    return CheckpointHeader(model=info.name, model_kwargs=kwargs, num_classes=num_classes, in_chans=in_chans,
                            img_size=int(img_size or info.input_size[-1]), mean=[float(v) for v in mean],
                            std=[float(v) for v in std], classes=list(classes) if classes else None, scaling=scaling,
                            **extra).validate(info.name)


# -- writing -------------------------------------------------------------------------------------------
def _shares_storage(t: torch.Tensor) -> bool:
    return t.untyped_storage().nbytes() != t.numel() * t.element_size()


def save_state_dict(path: str | os.PathLike, state_dict: Mapping[str, torch.Tensor], header: CheckpointHeader,
                    dtype: torch.dtype | None = None) -> Path:
    """Write ``state_dict`` with ``header`` as a cnnzoo checkpoint, atomically. ``dtype`` (e.g.
    ``torch.float16``) converts floating-point tensors; integer buffers are kept."""
    from safetensors.torch import save

    header.validate(str(path))  # never write a header that reading refuses
    tensors = {}
    for k, v in state_dict.items():
        v = v.detach().to("cpu")
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        tensors[k] = v.contiguous().clone() if _shares_storage(v) else v.contiguous()
    data = save(tensors, metadata=header.to_metadata())
    return write_bytes(path, data)


def save_checkpoint(model: nn.Module, path: str | os.PathLike, *, dtype: torch.dtype | None = None,
                    classes: list[str] | tuple[str, ...] | None = None, mean: tuple[float, ...] | None = None,
                    std: tuple[float, ...] | None = None, img_size: int | None = None, **extra: Any) -> Path:
    """Save a cnnzoo model with its header (:func:`header_for`), so that :func:`load_checkpoint` rebuilds it."""
    header = header_for(model, classes=classes, mean=mean, std=std, img_size=img_size, **extra)
    return save_state_dict(path, model.state_dict(), header, dtype=dtype)


# -- reading -------------------------------------------------------------------------------------------
# Keys under which training scripts (timm, torchvision references, Lightning, ours) nest the weights.
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "network", "weights", "params")
# Prefixes that wrappers add to every key: DataParallel/DDP, torch.compile, Lightning modules.
_PREFIXES = ("module.", "_orig_mod.", "model.", "net.")
_ZIP_MAGIC = b"PK\x03\x04"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _check_path(path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"checkpoint not found: {p}")
    if p.is_dir():
        raise ValueError(f"{p} is a directory; give a .safetensors, .pth, .pt or .bin file")
    return p


def _is_safetensors(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(9)
    if len(head) < 9 or head[:4] == _ZIP_MAGIC:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return head[8:9] == b"{" and 0 < n <= path.stat().st_size - 8


def _looks_pickled(path: Path) -> bool:
    """A torch zip archive or a legacy pickle stream (protocol 2+ starts with 0x80)."""
    with path.open("rb") as f:
        head = f.read(4)
    return head == _ZIP_MAGIC or head[:1] == b"\x80"


def _refusal(path: Path, err: Exception) -> ValueError:
    """The error for a file that needs pickled code: what it holds, what to do; none of torch's advice."""
    text = _ANSI.sub("", str(err))
    found = (re.search(r"Unsupported global: GLOBAL ([\w.]+)", text) or re.search(r"unsupported GLOBAL ([\w.]+)", text)
             or re.search(r"Unsupported operand (\d+)", text))
    what = f" (it needs {found.group(1)})" if found else ""
    return ValueError(f"{path} holds Python objects other than tensors{what}; cnnzoo loads with "
                      f"torch.load(weights_only=True) and never runs pickled code. Re-save only the state dict "
                      f"(torch.save(model.state_dict(), ...)) or convert the file to safetensors.")


def _not_safetensors(path: Path) -> ValueError:
    # safetensors' own message may quote the file's header: never shown
    return ValueError(f"{path} is not a valid safetensors file (expected an 8-byte header length, a JSON header "
                      f"of tensors and their data; the file is damaged or of another format)")


def _raw_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception:  # safetensors raises its own error types for damaged headers
        raise _not_safetensors(path) from None


def _stored_values(path: Path) -> int:
    """How many values the tensors of a safetensors file hold (read from its header, no data loaded)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118 (not a dict)
    except Exception:
        raise _not_safetensors(path) from None


def read_state_dict(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read any weight file into ``(state_dict, metadata)`` without running pickled code.

    Safetensors files, and ``torch.save`` files holding a bare state dict or one wrapped under
    ``state_dict``/``model``/``module``…; ``module.``/``_orig_mod.``/``model.`` prefixes shared by every
    key are removed. ``metadata`` is the safetensors header, or the wrapper's scalar entries.
    """
    p = _check_path(path)
    if _is_safetensors(p):
        from safetensors.torch import load_file

        try:
            sd = load_file(str(p), device="cpu")
        except Exception:  # safetensors raises its own error types
            raise _not_safetensors(p) from None
        return _strip_prefixes(sd), _raw_metadata(p)
    try:
        with p.open("rb") as f, warnings.catch_warnings():  # a file object: torch.load would go by the suffix
            warnings.filterwarnings("ignore", message=".*pickle protocol.*")
            obj = torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if not _looks_pickled(p):
            raise _not_weights(p) from None
        raise _refusal(p, err) from None
    except Exception:  # not a zip/legacy torch file: torch raises various types, some quoting the file
        raise _not_weights(p) from None
    return _unwrap(obj, str(p))


def _not_weights(path: Path) -> ValueError:
    return ValueError(f"{path} is not a valid weight file (expected a safetensors file or a torch.save state dict "
                      f"of tensors)")


def _unwrap(obj: Any, what: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    meta: dict[str, str] = {}
    while isinstance(obj, Mapping) and not _is_state_dict(obj):
        for key, value in obj.items():
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                meta.setdefault(str(key), str(value))
        inner = next((obj[k] for k in _WRAPPER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
        if inner is None:
            found = ", ".join(map(str, list(obj)[:12]))
            raise ValueError(f"{what}: no state dict found (top-level keys: {found}); expected tensors, or a dict "
                             f"with one of {', '.join(_WRAPPER_KEYS)}")
        obj = inner
    if not isinstance(obj, Mapping):
        raise ValueError(f"{what}: expected a state dict (a mapping of names to tensors), got {type(obj).__name__}")
    sd = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not sd:
        raise ValueError(f"{what}: the state dict holds no tensors")
    return _strip_prefixes(sd), meta


def _is_state_dict(obj: Mapping) -> bool:
    tensors = sum(isinstance(v, torch.Tensor) for v in obj.values())
    return tensors > 0 and tensors >= len(obj) / 2


def _strip_prefixes(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    changed = True
    while changed and sd:
        changed = False
        for prefix in _PREFIXES:
            if all(k.startswith(prefix) for k in sd):
                sd = {k[len(prefix):]: v for k, v in sd.items()}
                changed = True
    return sd


def read_header(path: str | os.PathLike) -> CheckpointHeader | None:
    """The header of a cnnzoo checkpoint; ``None`` for a file without one (torchvision, timm, a bare
    state dict, a safetensors file of another library: timm's and Hugging Face's say ``format: pt``).
    A damaged header is a ``ValueError``."""
    p = _check_path(path)
    if not _is_safetensors(p):
        return None
    raw = _raw_metadata(p)
    if not str(raw.get("format", "")).startswith("cnnzoo."):
        return None
    return CheckpointHeader.from_metadata(raw, str(p))


# -- loading and rebuilding ------------------------------------------------------------------------
def load_weights(model: nn.Module, path: str | os.PathLike, strict: bool = True, layout: str | None = None,
                 model_name: str | None = None) -> LoadReport:
    """Load a weight file into a cnnzoo model, in place.

    Args:
        model: a model from :func:`cnnzoo.create_model` (also with ``features_only=True``).
        path: a ``.safetensors``, ``.pth``, ``.pt`` or ``.bin`` file, in cnnzoo's layout or in
            torchvision's / timm's layout of the same architecture (detected). Never runs pickled code.
        strict: raise :class:`cnnzoo.weights.WeightsError` naming every missing, unexpected and
            wrong-shaped key; ``False`` loads what fits and warns.
        layout: force ``"cnnzoo"``, ``"torchvision"`` or ``"timm"`` instead of detecting it.
        model_name: the registered name, if the model was not built by :func:`cnnzoo.create_model`.

    Another number of classes leaves the classifier freshly initialised (with a warning); RGB weights
    loaded into a model with another number of input channels have their first convolution adapted.
    """
    sd, meta = read_state_dict(path)
    arch = meta.get("model") or meta.get("architecture")
    name = model_name or model_name_of(model)
    if arch and name and arch != name:
        warn_user(f"{Path(path).name} holds {arch} weights; loading them into {name}")
    return load_state_dict(model, sd, strict=strict, model_name=model_name, layout=layout, metadata=meta,
                           what=f"checkpoint {Path(path).name}")


def _shape_args(sd: dict[str, torch.Tensor], name: str, layout: str | None,
                kwargs: dict[str, Any]) -> dict[str, Any]:
    """``num_classes`` and ``in_chans`` of a state dict without header, read off its classifier and first conv."""
    probe = build_model(name, device="meta", **{k: v for k, v in kwargs.items() if k not in ("num_classes",
                                                                                              "in_chans")})
    _, converted = detect_layout(sd, probe, name, layout)
    out = {}
    fc = classifier_name(probe)
    if fc:
        weight = converted.get(f"{fc}.weight")
        out["num_classes"] = int(weight.shape[0]) if weight is not None else 0
    key = input_conv_key(probe)
    if key and key in converted and converted[key].ndim == 4:
        out["in_chans"] = int(converted[key].shape[1])
    return out


def check_header_model(path: str | os.PathLike, header: CheckpointHeader) -> None:
    """Check, before any memory is allocated, that the model ``header`` describes builds and holds no
    more values than the file ``path`` stores: it is built on the ``meta`` device (shapes only) and its
    state is counted against the tensors listed in the file's header. A ``ValueError`` otherwise."""
    p = Path(path)
    try:
        probe = build_model(header.model, device="meta", **header.build_args())
    except (ValueError, TypeError) as err:
        reason = str(err).strip().split("\n", 1)[0]
        reason = reason if len(reason) <= 4 * _SHOW_CHARS else reason[:4 * _SHOW_CHARS] + "…"
        raise ValueError(f"{p}: the header does not describe a model cnnzoo can build: {reason}") from None
    except Exception as err:  # a constructor refusing odd arguments in its own way
        raise ValueError(f"{p}: the header's model_kwargs do not build a {header.model} "
                         f"({type(err).__name__})") from None
    need = sum(t.numel() for k, t in probe.state_dict().items() if not k.endswith("num_batches_tracked"))
    have = _stored_values(p)
    if need > have:
        raise ValueError(f"{p}: the header describes a {header.model} of {need:,} values but the file stores "
                         f"{have:,}; the header does not belong to these weights")


def load_checkpoint(path: str | os.PathLike, model_name: str | None = None, *, device: str | torch.device = "cpu",
                    layout: str | None = None, **kwargs: Any) -> nn.Module:
    """The model a checkpoint was saved from, rebuilt and loaded, in eval mode.

    A cnnzoo checkpoint rebuilds itself from its header (architecture, exact constructor arguments,
    classes, input size, scaling); ``model_name`` may be given and must then agree. A file of
    torchvision or timm (no header) needs ``model_name``; its number of classes and input channels are
    read off the weights. ``kwargs`` are family options for such a file (e.g. ``padding="same"``).

    The model carries ``checkpoint_header`` (a :class:`CheckpointHeader`; for a file without one, a
    header with the image size, mean and std of :func:`cnnzoo.resolve_data_config` for the model — the
    preprocessing of torchvision's or timm's weights — and no class names).
    """
    p = _check_path(path)
    header = read_header(p)
    if header is not None:
        if model_name is not None and model_name != header.model:
            raise ValueError(f"{p} holds a {header.model} checkpoint, not {model_name}")
        if kwargs:
            raise TypeError(f"{p} records its own constructor arguments; got extra {', '.join(sorted(kwargs))}")
        check_header_model(p, header)
        model = build_model(header.model, **header.build_args())
        load_weights(model, p, strict=True, layout="cnnzoo", model_name=header.model)
        size = header.img_size
        info = replace(model.model_info, input_size=(header.in_chans, size, size),
                       scaling=header.scaling or model.model_info.scaling)
        model.model_info = info
        if header.scaling:
            model.resolution = size
    else:
        if model_name is None:
            raise ValueError(f"{p} has no cnnzoo header (a torchvision or timm file?): give the model's name, "
                             f"e.g. --model resnet50 (`cnnzoo list` shows every name)")
        sd, meta = read_state_dict(p)
        build = dict(kwargs)
        build.update({k: v for k, v in _shape_args(sd, model_name, layout, kwargs).items() if k not in kwargs})
        model = build_model(model_name, **build)
        report = load_state_dict(model, sd, strict=True, model_name=model_name, layout=layout, metadata=meta,
                                 what=f"checkpoint {p.name}")
        # the preprocessing the reference's weights were made with (torchvision's / timm's config)
        cfg = resolve_data_config(model)
        header = header_for(model, mean=cfg.mean, std=cfg.std, img_size=cfg.test_input_size,
                            source=f"{p.name} ({report.layout} layout)")
    model.checkpoint_header = header
    return model.to(device).eval()


def convert_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, model_name: str | None = None, *,
                       layout: str | None = None, dtype: torch.dtype | None = None,
                       mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
                       **kwargs: Any) -> tuple[Path, CheckpointHeader]:
    """Rewrite a torchvision, timm or cnnzoo checkpoint as a cnnzoo checkpoint with its header.

    The weights are loaded strictly into the cnnzoo model (a file that does not fit fails here, naming
    the keys). Class names, dataset and accuracy of a cnnzoo source are kept; ``mean``/``std`` replace
    the normalisation (default: the source's header, else the data config of the reference's weights).
    """
    if not str(dst).endswith(".safetensors"):
        raise ValueError(f"the converted file must be a .safetensors file, got {str(dst)!r}")
    model = load_checkpoint(src, model_name, layout=layout, **kwargs)
    old: CheckpointHeader = model.checkpoint_header
    if mean is not None or std is not None:
        if mean is None or std is None or len(mean) != old.in_chans or len(std) != old.in_chans:
            raise ValueError(f"give mean and std together, one value per input channel ({old.in_chans}) each")
        old = replace(old, mean=[float(v) for v in mean], std=[float(v) for v in std])
    path = save_state_dict(dst, model.state_dict(), old, dtype=dtype)
    return path, old
