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

import dataclasses
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnzoo.checkpoint import CheckpointHeader, atomic_write, load_checkpoint, read_header, save_state_dict

__all__ = ["atomic_write", "save_weights", "read_metadata", "load_checkpoint_model", "save_state", "load_state",
           "rng_state", "set_rng_state"]



def save_weights(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], metadata: dict[str, Any]) -> None:
    """Write a state dict as a cnnzoo checkpoint whose header holds ``metadata`` (:class:`CheckpointHeader` fields)."""
    save_state_dict(path, state_dict, CheckpointHeader(**metadata))


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The header of a cnnzoo checkpoint as a dict."""
    header = read_header(path)
    if header is None:
        raise ValueError(f"{path}: not a cnnzoo checkpoint (no header)")
    return dataclasses.asdict(header)


def load_checkpoint_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """The model a checkpoint was trained as, rebuilt and loaded (eval mode), with its header as a dict."""
    model = load_checkpoint(path, device=device)
    return model, dataclasses.asdict(model.checkpoint_header)


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
