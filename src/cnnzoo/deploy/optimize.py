"""``optimize_for_inference``: the fast path for running a trained model.

Steps, each optional:

1. fold batch norms into the preceding convolutions (:func:`cnnzoo.deploy.fold.fold_batchnorm`) —
   the outputs stay equal to eager fp32 up to float rounding (≈1e-6 relative);
2. convert weights and inputs to channels-last (NHWC), the layout oneDNN/cuDNN convolutions prefer;
3. cast to bfloat16 or float16 (outputs come back as float32; agreement is then ≈1e-2 relative,
   and the top-1 class should be checked on your data, as ``benchmarks/compare_reference.py`` does);
4. ``torch.compile`` the result (Inductor, with weight freezing: parameters become constants).

The result is an :class:`InferenceModel` in eval mode that takes the same NCHW float32 input as
the original and returns float32 outputs, without gradients.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils._pytree import tree_map

from cnnzoo.analysis.latency import parse_dtype
from cnnzoo.deploy.fold import example_input, fold_batchnorm

__all__ = ["InferenceModel", "optimize_for_inference"]


class InferenceModel(nn.Module):
    """A model prepared for inference: converts the input's layout and dtype, runs, returns float32.

    Attributes the wrapper does not have are looked up on the wrapped ``model`` (``num_classes``,
    ``forward_features`` …). ``folded`` lists the ``(conv, bn)`` pairs that were folded.
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype = torch.float32, channels_last: bool = True,
                 folded: list[tuple[str, str]] | None = None) -> None:
        super().__init__()
        self.model = model
        self.dtype = dtype
        self.channels_last = channels_last
        self.folded = list(folded or [])
        self._compiled: Any = None

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            model = super().__getattr__("model")
            return getattr(model, name)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point() and x.dtype != self.dtype:
            x = x.to(self.dtype)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def forward(self, x: torch.Tensor) -> Any:
        with torch.no_grad():
            x = self._prepare(x)
            out = self._compiled(x) if self._compiled is not None else self.model(x)
        if self.dtype != torch.float32:
            out = tree_map(lambda t: t.float() if isinstance(t, torch.Tensor) and t.is_floating_point() else t, out)
        return out

    def extra_repr(self) -> str:
        return (f"dtype={self.dtype}, channels_last={self.channels_last}, folded={len(self.folded)} batch norms, "
                f"compiled={self._compiled is not None}")


def optimize_for_inference(
    model: nn.Module,
    dtype: str | torch.dtype | None = None,
    compile: bool = False,
    channels_last: bool = True,
    fold_bn: bool = True,
    example_inputs: torch.Tensor | Sequence[torch.Tensor] | None = None,
    inplace: bool = False,
    compile_options: dict[str, Any] | None = None,
) -> InferenceModel:
    """Prepare ``model`` for fast inference (see the module docstring for the steps).

    Args:
        model: any cnnzoo model (or an ``nn.Module`` with ``example_inputs``), on CPU or CUDA.
        dtype: ``"fp32"`` (default), ``"bf16"`` or ``"fp16"``.
        compile: ``torch.compile`` with Inductor and weight freezing (the first call compiles).
        channels_last: convert weights and inputs to NHWC.
        fold_bn: fold batch norms into the preceding convolutions.
        example_inputs: an input the model accepts, used to find conv→bn pairs (default: a small
            random batch for cnnzoo models).
        inplace: modify ``model`` itself instead of a copy.
        compile_options: Inductor options (default ``{"freezing": True}``).

    Returns:
        an :class:`InferenceModel` in eval mode whose outputs are float32.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"optimize_for_inference expects an nn.Module, got {type(model).__name__}")
    dt = parse_dtype(dtype)
    if any(p.device.type == "meta" for p in model.parameters()):
        raise ValueError("optimize_for_inference needs a model with real weights, not one built on 'meta'")
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    folded: list[tuple[str, str]] = []
    if fold_bn:
        folded = fold_batchnorm(model, example_inputs if example_inputs is not None else example_input(model))
    for p in model.parameters():
        p.requires_grad_(False)
    if dt != torch.float32:
        model = model.to(dt)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    wrapped = InferenceModel(model, dt, channels_last, folded).eval()
    if compile:
        options = {"freezing": True} if compile_options is None else dict(compile_options)
        # Kept outside the module tree so that state_dict() stays the model's own.
        object.__setattr__(wrapped, "_compiled", torch.compile(model, options=options))
    return wrapped
