"""Running models fast: batch-norm folding, channels-last, reduced precision, compilation, and deployment
on the fastest runtime (PyTorch, ONNX Runtime, OpenVINO) measured on this machine, int8 included."""

from cnnzoo.inference.engine import TOLERANCES, Candidate, DeployReport, Engine, auto_candidates, deploy
from cnnzoo.inference.fold import example_input, find_conv_bn_pairs, fold_batchnorm, fold_conv_bn_weights
from cnnzoo.inference.optimize import InferenceModel, optimize_for_inference
from cnnzoo.inference.runtimes import DEPLOY_DTYPES, RUNTIMES

__all__ = [
    "DEPLOY_DTYPES",
    "RUNTIMES",
    "TOLERANCES",
    "Candidate",
    "DeployReport",
    "Engine",
    "InferenceModel",
    "auto_candidates",
    "deploy",
    "example_input",
    "find_conv_bn_pairs",
    "fold_batchnorm",
    "fold_conv_bn_weights",
    "optimize_for_inference",
]
