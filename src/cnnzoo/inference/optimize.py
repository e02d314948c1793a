"""``optimize_for_inference``: the fast path for running a trained model.

Steps, each optional:

1. fold batch norms into the preceding convolutions (:func:`cnnzoo.inference.fold.fold_batchnorm`) —
   the outputs stay equal to eager fp32 up to float rounding (≈1e-6 relative);
2. convert weights and inputs to channels-last (NHWC), the layout oneDNN/cuDNN convolutions prefer;
3. cast to bfloat16 or float16 (outputs come back as float32; agreement is then ≈1e-2 relative,
   and the top-1 class should be checked on your data, as ``benchmarks/compare_reference.py`` does);
4. compile the result: ``compile=True`` (or ``"inductor"``) is ``torch.compile`` with Inductor and
   weight freezing (parameters become constants; the first call compiles, minutes on a small CPU);
   ``compile="jit"`` traces the model with TorchScript, freezes it and runs
   ``torch.jit.optimize_for_inference`` (oneDNN convolutions with pre-packed weights, fused
   conv + add + ReLU; seconds to build). A traced graph is specialised to the spatial size it was
   traced at — the model's default input size, or ``example_inputs`` — and refuses other sizes.

The result is an :class:`InferenceModel` in eval mode that takes the same NCHW float32 input as
the original and returns float32 outputs, without gradients.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils._pytree import tree_map

from cnnzoo.device import bf16_emulation_warning, parse_dtype
from cnnzoo.inference.fold import example_input, fold_batchnorm

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
        self._traced_size: tuple[int, ...] | None = None

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
            if self._traced_size is not None and tuple(x.shape[2:]) != self._traced_size:
                size = "×".join(map(str, self._traced_size))
                raise ValueError(f"this model was traced (compile='jit') for {size} inputs, got "
                                 f"{'×'.join(map(str, x.shape[2:]))}; call optimize_for_inference(..., "
                                 f"example_inputs=torch.randn(1, C, H, W)) with the size you run")
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
    compile: bool | str = False,
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
        compile: ``True``/``"inductor"``: ``torch.compile`` with Inductor and weight freezing (the first
            call compiles); ``"jit"``: TorchScript trace + freeze + ``torch.jit.optimize_for_inference``.
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
    if compile not in (False, True, "inductor", "jit"):
        raise ValueError(f"compile must be False, True/'inductor' (torch.compile) or 'jit' (TorchScript), "
                         f"got {compile!r}")
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
    if dt == torch.bfloat16:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        if msg := bf16_emulation_warning(device, "optimize_for_inference"):
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
    if dt != torch.float32:
        model = model.to(dt)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    wrapped = InferenceModel(model, dt, channels_last, folded).eval()
    # compiled forms are kept outside the module tree, so that state_dict() stays the model's own
    if compile == "jit":
        example = _trace_input(model, example_inputs)
        with torch.no_grad(), warnings.catch_warnings():
            # size-dependent Python branches (e.g. "same" padding) become constants: the wrapper then
            # refuses other input sizes, so the tracer's warnings about it are expected
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            traced = torch.jit.trace(model, wrapped._prepare(example), check_trace=False)
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
        object.__setattr__(wrapped, "_compiled", frozen)
        wrapped._traced_size = tuple(example.shape[2:])
    elif compile:
        options = {"freezing": True} if compile_options is None else dict(compile_options)
        object.__setattr__(wrapped, "_compiled", torch.compile(model, options=options))
    return wrapped


def _trace_input(model: nn.Module, example_inputs: torch.Tensor | Sequence[torch.Tensor] | None) -> torch.Tensor:
    """The input to trace with: the given one, else one image at the model's default input size."""
    if example_inputs is not None:
        return example_inputs if isinstance(example_inputs, torch.Tensor) else example_inputs[0]
    info = getattr(model, "model_info", None)
    if info is None:
        return example_input(model)
    param = next(model.parameters(), None)
    return torch.randn(1, int(getattr(model, "in_chans", info.input_size[0])), *info.input_size[1:],
                       device=param.device if param is not None else "cpu")
