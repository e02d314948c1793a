"""cnnzoo: CNN backbones from LeNet to EfficientNetV2, built from one set of shared blocks."""

from cnnzoo.deploy import optimize_for_inference
from cnnzoo.registry import ModelInfo, count_params, create_model, list_models, model_info, register_model
from cnnzoo.scaling import scale_model
from cnnzoo.weights import load_weights

__version__ = "0.1.0"

__all__ = [
    "ModelInfo",
    "count_params",
    "create_model",
    "list_models",
    "load_weights",
    "model_info",
    "optimize_for_inference",
    "register_model",
    "scale_model",
]
