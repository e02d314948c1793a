"""Checkpoints: weights as safetensors with a metadata header, training state for ``--resume``.

A run directory ``runs/<name>/`` holds

- ``last.safetensors`` / ``best.safetensors``: the model's ``state_dict`` (EMA weights in ``best``
  when the EMA scored best) as safetensors. The header's ``__metadata__`` (all values strings) is::

      format       "cnnzoo.checkpoint.v1"
      model        registry name, e.g. "fashion_cnn"
      model_kwargs JSON of the extra constructor keywords (e.g. {"batch_norm": true, "drop_rate": 0.2};
                   drop_rate is there when the run set it, since it can decide the head's layout)
      num_classes  int;  in_chans  int;  img_size  int (square input side used in training)
      mean, std    JSON lists, the input normalisation (per channel, on [0, 1] pixels)
      classes      JSON list of class names (index = logit)
      epoch        epochs completed;  accuracy  test top-1 in % of these weights (may be "")
      weights      "model" or "ema"

  so a model is rebuilt with ``create_model(model, num_classes=, in_chans=, **model_kwargs)`` and
  ``load_state_dict(safetensors.torch.load_file(path))`` (see :func:`load_checkpoint_model`).
- ``last.state.pt``: everything needed to resume (model, optimiser, scheduler, EMA, grad scaler,
  epoch, best accuracy, and the Python/NumPy/torch RNG states), a ``torch.save`` of tensors and
  plain containers only, read back with ``torch.load(weights_only=True)``.

Every file is written atomically: to a temporary file in the same directory, flushed and fsynced,
then renamed over the old one, so a kill at any moment leaves the previous complete file.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["atomic_write", "save_weights", "read_metadata", "load_checkpoint_model", "save_state", "load_state",
           "rng_state", "set_rng_state", "FORMAT"]

FORMAT = "cnnzoo.checkpoint.v1"


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then fsync and rename ``tmp_path`` onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_weights(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], metadata: dict[str, Any]) -> None:
    """Write a state dict as safetensors with the metadata header described in the module docstring."""
    from safetensors.torch import save_file

    meta = {"format": FORMAT}
    for k, v in metadata.items():
        meta[k] = v if isinstance(v, str) else json.dumps(v)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The decoded metadata header of a cnnzoo safetensors checkpoint."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        with safe_open(str(path), "pt") as f:
            raw = f.metadata() or {}
    except Exception as err:  # safetensors raises its own error types for damaged headers
        raise ValueError(f"{path}: not a readable safetensors file ({err})") from None
    if raw.get("format") != FORMAT:
        raise ValueError(f"{path}: not a cnnzoo checkpoint (metadata format {raw.get('format')!r}, "
                         f"expected {FORMAT!r})")
    out: dict[str, Any] = {}
    for k, v in raw.items():
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def load_checkpoint_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model a checkpoint was trained as and load its weights; returns (model in eval mode, metadata)."""
    from safetensors.torch import load_file

    from cnnzoo.registry import create_model

    meta = read_metadata(path)
    model = create_model(meta["model"], num_classes=int(meta["num_classes"]), in_chans=int(meta["in_chans"]),
                         **(meta.get("model_kwargs") or {}))
    model.load_state_dict(load_file(str(path), device=str(device)))
    return model.to(device).eval(), meta


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states as plain containers and tensors (safe for ``weights_only`` loading)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return dict(
        python=[py_state[0], list(py_state[1]), py_state[2]],
        numpy=[np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        torch=torch.get_rng_state(),
        cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    )


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npst = state["numpy"]
    np.random.set_state((npst[0], npst[1].numpy().astype(np.uint32), *npst[2:]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint to resume from")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: unreadable training state ({err})") from None
