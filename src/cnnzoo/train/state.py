"""The state of a run: what ``--resume`` restores, saved as ``last.state.pt`` after every epoch."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from cnnzoo.train import checkpoint as ckpt
from cnnzoo.train.ema import ModelEMA

__all__ = ["RunState"]


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
        ckpt.save_state(path, dict(
            model=self.model.state_dict(), optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(), scaler=self.scaler.state_dict(),
            ema=self.ema.state_dict() if self.ema is not None else None, epoch=self.epoch,
            best_acc=self.best_acc, best_epoch=self.best_epoch, best_kind=self.best_kind,
            history=json.dumps(self.history), rng=ckpt.rng_state(), config=json.dumps(config or {})))

    def load(self, path: str | os.PathLike) -> dict[str, Any]:
        """Restore everything from ``path`` (read with ``torch.load(weights_only=True)``), RNG states
        included; returns the run's saved configuration."""
        state = ckpt.load_state(path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        self.epoch, self.best_acc = int(state["epoch"]), float(state["best_acc"])
        self.best_epoch, self.best_kind = int(state["best_epoch"]), str(state.get("best_kind", "model"))
        self.history = json.loads(state["history"])
        ckpt.set_rng_state(state["rng"])
        return json.loads(state.get("config") or "{}")
