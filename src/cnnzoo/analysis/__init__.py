"""What a model costs: parameters, multiply-accumulates, memory traffic, latency."""

from cnnzoo.analysis.flops import count_macs

__all__ = ["count_macs"]
