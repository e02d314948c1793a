"""Reading and writing weight files safely.

Reading never runs pickled code: ``.safetensors`` files are read with safetensors, every other
format (``.pth``, ``.pt``, ``.bin``, ``.ckpt``) with ``torch.load(weights_only=True)``, which only
rebuilds tensors and plain containers. The format is recognised from the file's first bytes, so a
misnamed file still loads (or fails with a clear message).

cnnzoo's own files are safetensors with a small string metadata header (see :data:`HEADER_KEYS`).
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "FORMAT",
    "HEADER_KEYS",
    "read_checkpoint",
    "read_metadata",
    "save_safetensors",
    "unwrap_state_dict",
]

#: The metadata header of a cnnzoo safetensors file: the training engine's checkpoint header
#: (``cnnzoo.train.checkpoint``), so that weights written here and there are read alike. All values
#: are strings, lists and dicts as JSON: ``format`` (:data:`FORMAT`), ``model`` (registered name),
#: ``model_kwargs`` (extra constructor keywords), ``num_classes``, ``in_chans``, ``img_size`` (square
#: input side), ``mean``/``std`` (per channel, on [0, 1] pixels), ``classes`` (names, index = logit),
#: ``epoch``, ``accuracy`` (test top-1 in %), ``weights`` ("model" or "ema"); and, from ``convert`` and
#: the shipped weights, ``dataset``, ``source`` (where the weights came from), ``cnnzoo_version``.
FORMAT = "cnnzoo.checkpoint.v1"
HEADER_KEYS = ("format", "model", "model_kwargs", "num_classes", "in_chans", "img_size", "mean", "std", "classes",
               "epoch", "accuracy", "weights", "dataset", "source", "cnnzoo_version")

# Keys under which training scripts (timm, torchvision references, Lightning, ours) nest the weights,
# most specific first.
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "network", "weights", "params")
# Prefixes that wrappers add to every key: DataParallel/DDP, torch.compile, Lightning modules.
_PREFIXES = ("module.", "_orig_mod.", "model.", "net.")

_ZIP_MAGIC = b"PK\x03\x04"


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


def _check_path(path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"weight file not found: {p}")
    if p.is_dir():
        raise ValueError(f"{p} is a directory; give the path of a .safetensors, .pth, .pt or .bin file")
    return p


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata header of a safetensors file (``{}`` for other formats or no header)."""
    p = _check_path(path)
    if not _is_safetensors(p):
        return {}
    from safetensors import safe_open

    with safe_open(str(p), framework="pt") as f:
        return dict(f.metadata() or {})


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a weight file into ``(state_dict, metadata)`` without running any pickled code.

    Accepts safetensors files and ``torch.save`` files (``.pth``/``.pt``/``.bin``), holding a bare
    state dict or one wrapped under ``state_dict``/``model``/``module``…, with ``module.`` (DDP),
    ``_orig_mod.`` (``torch.compile``) or ``model.`` (Lightning) prefixes on every key; these are
    removed. ``metadata`` is the safetensors header, or the wrapper's other string/number entries.
    """
    p = _check_path(path)
    if _is_safetensors(p):
        from safetensors.torch import load_file

        try:
            sd = load_file(str(p), device="cpu")
        except Exception as err:  # safetensors raises its own error types
            raise ValueError(f"{p}: not a readable safetensors file ({err})") from None
        return strip_prefixes(sd), read_metadata(p)
    try:
        with p.open("rb") as f:  # a file object: torch.load would dispatch on the name's suffix
            obj = torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if not _looks_pickled(p):
            raise ValueError(f"{p}: not a readable weight file (safetensors or torch.save)") from None
        raise ValueError(
            f"{p} holds Python objects other than tensors; cnnzoo loads with torch.load(weights_only=True) "
            f"and never runs pickled code. Re-save only the state dict (torch.save(model.state_dict(), …)) "
            f"or convert it to safetensors. Details: {str(err).splitlines()[0]}"
        ) from None
    except Exception as err:  # not a zip/legacy torch file: torch raises various types
        raise ValueError(f"{p}: not a readable weight file (safetensors or torch.save): {err}") from None
    return unwrap_state_dict(obj, str(p))


def unwrap_state_dict(obj: Any, what: str = "checkpoint") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Find the state dict inside a loaded checkpoint object and strip wrapper prefixes from its keys."""
    meta: dict[str, str] = {}
    while isinstance(obj, Mapping) and not _is_state_dict(obj):
        for key, value in obj.items():
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                meta.setdefault(str(key), str(value))
        inner = next((obj[k] for k in _WRAPPER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
        if inner is None:
            found = ", ".join(map(str, list(obj)[:12]))
            raise ValueError(
                f"{what}: no state dict found (top-level keys: {found}); expected tensors, or a dict with "
                f"one of {', '.join(_WRAPPER_KEYS)}"
            )
        obj = inner
    if not isinstance(obj, Mapping):
        raise ValueError(f"{what}: expected a state dict (a mapping of names to tensors), got {type(obj).__name__}")
    sd = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not sd:
        raise ValueError(f"{what}: the state dict holds no tensors")
    return strip_prefixes(sd), meta


def _is_state_dict(obj: Mapping) -> bool:
    tensors = sum(isinstance(v, torch.Tensor) for v in obj.values())
    return tensors > 0 and tensors >= len(obj) / 2


def strip_prefixes(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove wrapper prefixes (``module.``, ``_orig_mod.``, ``model.``) shared by every key."""
    changed = True
    while changed and sd:
        changed = False
        for prefix in _PREFIXES:
            if all(k.startswith(prefix) for k in sd):
                sd = {k[len(prefix):]: v for k, v in sd.items()}
                changed = True
    return sd


def save_safetensors(state_dict: Mapping[str, torch.Tensor], path: str | os.PathLike,
                     metadata: Mapping[str, Any] | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write ``state_dict`` as safetensors, atomically (temp file, fsync, rename).

    ``metadata`` values that are not strings are stored as JSON. ``dtype`` (e.g. ``torch.float16``)
    converts floating-point tensors; integer buffers (batch-norm counters) are kept.
    """
    from safetensors.torch import save

    tensors = {}
    for k, v in state_dict.items():
        v = v.detach().to("cpu")
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        tensors[k] = v.contiguous().clone() if _shares_storage(v) else v.contiguous()
    meta = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()
            if v is not None}
    data = save(tensors, metadata=meta)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a weight file is as readable as any other
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _shares_storage(t: torch.Tensor) -> bool:
    return t.untyped_storage().nbytes() != t.numel() * t.element_size()


def parse_metadata(meta: Mapping[str, str]) -> dict[str, Any]:
    """Decode a header's JSON values (lists, numbers); other strings are kept as they are."""
    out: dict[str, Any] = {}
    for k, v in meta.items():
        try:
            out[k] = json.loads(v)
        except (TypeError, ValueError):
            out[k] = v
    return out
