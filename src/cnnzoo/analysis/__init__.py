"""What a model costs: parameters, multiply-accumulates, memory traffic, latency."""

from cnnzoo.analysis.flops import count_macs
from cnnzoo.analysis.latency import matmul_peak
from cnnzoo.analysis.profiler import LayerStats, ModelProfile, profile_model, profile_ops
from cnnzoo.device import parse_dtype, resolve_device
from cnnzoo.timing import measure_latency

__all__ = [
    "LayerStats",
    "ModelProfile",
    "count_macs",
    "matmul_peak",
    "measure_latency",
    "parse_dtype",
    "profile_model",
    "profile_ops",
    "resolve_device",
]
