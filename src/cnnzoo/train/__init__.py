"""Training: ``train(TrainConfig(...))``, evaluation, checkpoints, recipes (see docs/training.md).

The settings (:mod:`cnnzoo.train.config`) load at once, since the command line is generated from
them; the engine and its parts (which pull in kornia) load on first use.
"""

from importlib import import_module
from typing import Any

from cnnzoo.train.config import TrainConfig, list_recipes, load_recipe, model_recipe

__all__ = ["TrainConfig", "train", "evaluate", "EvalResult", "NonFiniteLossError", "load_recipe", "list_recipes",
           "model_recipe", "BatchSource", "InMemoryBatches", "RunState"]

_LAZY = {"train": "engine", "evaluate": "evaluation", "EvalResult": "evaluation", "NonFiniteLossError": "loop",
         "BatchSource": "batches", "InMemoryBatches": "batches", "RunState": "state"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"cnnzoo.train.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'cnnzoo.train' has no attribute {name!r}")
