"""Small helpers shared by the families."""

from __future__ import annotations

import math

import torch


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round a channel count to a multiple of ``divisor`` (MobileNetV2 reference code, §6.1 of the paper).

    Never goes below ``min_value`` (default ``divisor``) and never rounds down by more than
    ``1 - round_limit`` (10 %).
    """
    min_value = min_value or divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < round_limit * value:
        new_value += divisor
    return int(new_value)


def round_repeats(repeats: int, depth_mult: float) -> int:
    """Scale a stage's number of blocks by ``depth_mult``, rounding up (EfficientNet reference code)."""
    return int(math.ceil(depth_mult * repeats))


def to_2tuple(x: int | tuple[int, int]) -> tuple[int, int]:
    return (x, x) if isinstance(x, int) else (int(x[0]), int(x[1]))


def is_exporting() -> bool:
    """True while ONNX export or a ``torch.compile``/``torch.export`` trace runs the model."""
    onnx = getattr(torch, "onnx", None)
    compiler = getattr(torch, "compiler", None)
    exporting = bool(onnx is not None and hasattr(onnx, "is_in_onnx_export") and onnx.is_in_onnx_export())
    if compiler is not None and hasattr(compiler, "is_compiling"):
        exporting = exporting or compiler.is_compiling()
    return exporting
