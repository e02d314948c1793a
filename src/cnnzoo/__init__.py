"""cnnzoo: CNN backbones from LeNet to EfficientNetV2, built from one set of shared blocks."""

from cnnzoo._version import __version__
from cnnzoo.builder import count_params
from cnnzoo.checkpoint import load_checkpoint, load_weights, save_checkpoint
from cnnzoo.data.config import resolve_data_config
from cnnzoo.factory import create_model, scale_model
from cnnzoo.inference import deploy, optimize_for_inference
from cnnzoo.registry import ModelInfo, list_models, model_info, register_model
from cnnzoo.train.transfer import freeze, param_groups
from cnnzoo.zoo import zoo_table

__all__ = [
    "ModelInfo",
    "__version__",
    "count_params",
    "create_model",
    "deploy",
    "freeze",
    "list_models",
    "load_checkpoint",
    "load_weights",
    "model_info",
    "optimize_for_inference",
    "param_groups",
    "register_model",
    "resolve_data_config",
    "save_checkpoint",
    "scale_model",
    "zoo_table",
]
