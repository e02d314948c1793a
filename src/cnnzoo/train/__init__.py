"""Training: ``train(TrainConfig(...))``, evaluation, checkpoints, recipes (see docs/training.md)."""

from cnnzoo.train.batches import BatchSource, InMemoryBatches
from cnnzoo.train.checkpoint import load_checkpoint_model, read_metadata
from cnnzoo.train.config import TrainConfig, list_recipes, load_recipe, model_recipe
from cnnzoo.train.engine import train
from cnnzoo.train.evaluate import EvalResult, evaluate
from cnnzoo.train.loop import NonFiniteLossError
from cnnzoo.train.state import RunState

__all__ = ["TrainConfig", "train", "evaluate", "EvalResult", "NonFiniteLossError", "load_recipe", "list_recipes",
           "model_recipe", "load_checkpoint_model", "read_metadata", "BatchSource", "InMemoryBatches", "RunState"]
