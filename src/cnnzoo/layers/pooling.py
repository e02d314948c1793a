"""Max pooling that takes PyTorch's fast CPU kernel whatever the input's memory layout."""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.layers.helpers import is_exporting

__all__ = ["MaxPool2d"]


class MaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` (same arguments, same values) that pools NCHW CPU tensors in channels-last.

    PyTorch's CPU max-pool kernel for contiguous NCHW tensors is not vectorised across channels; its
    channels-last kernel is. Converting there and back costs two copies and still wins 2–5×: ResNet's
    3×3/2 stem pool on a 64×112×112 map takes 3.8 ms in NCHW and 1.1 ms this way on two Zen 4 threads
    (BENCHMARKS.md). The output keeps the input's layout and equals ``nn.MaxPool2d``'s exactly; under
    scripting, tracing, export and ``torch.compile`` it is plain ``nn.MaxPool2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (not torch.jit.is_scripting() and not torch.jit.is_tracing() and not is_exporting()
                and x.device.type == "cpu" and x.ndim == 4 and not self.return_indices
                and not x.is_contiguous(memory_format=torch.channels_last)):
            return super().forward(x.contiguous(memory_format=torch.channels_last)).contiguous()
        return super().forward(x)
