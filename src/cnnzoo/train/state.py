"""The state of a run: what ``--resume`` restores, saved as ``last.state.pt`` after every epoch.

The file is a ``torch.save`` of tensors and plain containers only (RNG states included), written
atomically and read back with ``torch.load(weights_only=True)``: resuming never runs pickled code.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnzoo.files import atomic_write
from cnnzoo.train.ema import ModelEMA

__all__ = ["RunState", "rng_state", "set_rng_state", "save_state", "load_state"]


@dataclass
class RunState:
    """Model, optimiser, scheduler, EMA, grad scaler, epochs done, best accuracy and history of a run.

    ``save`` adds the Python/NumPy/torch RNG states; ``load`` restores them, so that a resumed run
    continues exactly where the saved one stopped.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    ema: ModelEMA | None = None
    epoch: int = 0
    best_acc: float = -1.0
    best_epoch: int = 0
    best_kind: str = "model"
    history: list[dict[str, Any]] = field(default_factory=list)

    def record(self, row: dict[str, Any], acc: float, kind: str) -> bool:
        """Append an epoch's metrics; ``acc`` (-1: not evaluated) of the ``kind`` weights may be the new best.
        Returns whether it is."""
        self.history.append(row)
        self.epoch = int(row["epoch"])
        improved = acc > self.best_acc
        if improved:
            self.best_acc, self.best_epoch, self.best_kind = acc, self.epoch, kind
        return improved

    def best_module(self) -> nn.Module:
        """The weights that scored best: the EMA's or the model's."""
        return self.ema.module if self.best_kind == "ema" and self.ema is not None else self.model

    def save(self, path: str | os.PathLike, config: dict[str, Any] | None = None) -> None:
        """Write the state with the current RNG states (atomically; tensors and plain containers only)."""
        save_state(path, dict(
            model=self.model.state_dict(), optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(), scaler=self.scaler.state_dict(),
            ema=self.ema.state_dict() if self.ema is not None else None, epoch=self.epoch,
            best_acc=self.best_acc, best_epoch=self.best_epoch, best_kind=self.best_kind,
            history=json.dumps(self.history), rng=rng_state(), config=json.dumps(config or {})))

    def load(self, path: str | os.PathLike) -> dict[str, Any]:
        """Restore everything from ``path`` (read with ``torch.load(weights_only=True)``), RNG states
        included; returns the run's saved configuration."""
        state = load_state(path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        self.epoch, self.best_acc = int(state["epoch"]), float(state["best_acc"])
        self.best_epoch, self.best_kind = int(state["best_epoch"]), str(state.get("best_kind", "model"))
        self.history = json.loads(state["history"])
        set_rng_state(state["rng"])
        return json.loads(state.get("config") or "{}")


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
    except Exception:  # torch's message may quote the file
        raise ValueError(f"{path} is not a valid training state (expected the last.state.pt that cnnzoo train "
                         f"writes)") from None
