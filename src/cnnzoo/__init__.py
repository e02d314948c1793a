"""cnnzoo: CNN backbones from LeNet to EfficientNetV2, built from one set of shared blocks."""

from cnnzoo.registry import ModelInfo, count_params, create_model, list_models, model_info, register_model
from cnnzoo.scaling import scale_model

__version__ = "0.1.0"

__all__ = [
    "ModelInfo",
    "count_params",
    "create_model",
    "list_models",
    "model_info",
    "register_model",
    "scale_model",
]
