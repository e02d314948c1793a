"""Training: ``train(TrainConfig(...))``, evaluation, checkpoints, recipes (see docs/training.md)."""

from cnnzoo.train.checkpoint import load_checkpoint_model, read_metadata
from cnnzoo.train.config import TrainConfig, list_recipes, load_recipe
from cnnzoo.train.engine import EvalResult, NonFiniteLossError, evaluate, train

__all__ = ["TrainConfig", "train", "evaluate", "EvalResult", "NonFiniteLossError", "load_recipe", "list_recipes",
           "load_checkpoint_model", "read_metadata"]
