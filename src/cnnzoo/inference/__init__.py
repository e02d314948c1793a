"""Running models fast: batch-norm folding, channels-last, reduced precision, compilation."""

from cnnzoo.inference.fold import example_input, find_conv_bn_pairs, fold_batchnorm, fold_conv_bn_weights
from cnnzoo.inference.optimize import InferenceModel, optimize_for_inference

__all__ = [
    "InferenceModel",
    "example_input",
    "find_conv_bn_pairs",
    "fold_batchnorm",
    "fold_conv_bn_weights",
    "optimize_for_inference",
]
