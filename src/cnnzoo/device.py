"""Devices and numeric precision, one vocabulary for training, inference and analysis.

Precision is named ``fp32``, ``bf16`` or ``fp16`` everywhere (``--amp`` of training, ``--dtype`` of
``bench`` and ``optimize_for_inference``); devices are ``cpu``, ``cuda`` or ``cuda:N``. Each is checked
here once, with an error that says what is accepted.
"""

from __future__ import annotations

import contextlib
import os
import platform

import torch

__all__ = ["PRECISIONS", "parse_dtype", "precision_name", "resolve_device", "device_name",
           "native_bf16", "bf16_emulation_warning", "autocast", "usable_cores"]

#: the precision vocabulary: names users write, in the order shown in help texts
PRECISIONS = ("fp32", "bf16", "fp16")

_DTYPES = {
    "none": torch.float32,  # training's "no mixed precision"
    "fp32": torch.float32, "float32": torch.float32, "float": torch.float32,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
}


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """``"fp32"``/``"bf16"``/``"fp16"`` (or a torch dtype) → the torch dtype; ``None`` → float32."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype not in _DTYPES.values():
            raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype}")
        return dtype
    key = str(dtype).lower()
    if key not in _DTYPES:
        raise ValueError(f"dtype must be one of fp32, bf16, fp16, got {dtype!r}")
    return _DTYPES[key]


def resolve_device(device: str | torch.device) -> torch.device:
    """Check that ``device`` can run here; a clear ``ValueError`` when CUDA is asked for and absent."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda' (or 'cuda:N')") from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r} requested but CUDA is not available (torch {torch.__version__}, "
                f"torch.cuda.is_available() is False); use --device cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif dev.type != "cpu":
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return dev


def native_bf16(device: str | torch.device = "cpu") -> bool:
    """Whether ``device`` computes in bfloat16 natively: on the CPU, whether oneDNN has bf16 kernels
    for it (AVX512-BF16, AMX or Arm BF16); elsewhere PyTorch emulates bf16 on the CPU, many times
    slower than fp32 (1.3 against 142 GFLOP/s for a matrix product on a 2-core AVX2 EPYC)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def bf16_emulation_warning(device: str | torch.device, what: str) -> str | None:
    """The warning to give before running ``what`` in bf16 on ``device``, or None where bf16 is native."""
    if native_bf16(device):
        return None
    return (f"{what} in bf16: this {torch.device(device).type.upper()} has no native bf16 arithmetic "
            f"(no AVX512-BF16/AMX), so PyTorch emulates it, typically many times slower than fp32; "
            f"use fp32 here")


def device_name(device: torch.device) -> str:
    """A human-readable name of the processor behind ``device``."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()




def precision_name(dtype: str | torch.dtype | None) -> str:
    """The vocabulary's name (``"fp32"``, ``"bf16"``, ``"fp16"``) of a precision given in any accepted form."""
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[parse_dtype(dtype)]


def autocast(device: torch.device, precision: str | torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision for ``precision`` on ``device``: a no-op for fp32, else ``torch.autocast``."""
    dtype = parse_dtype(precision)
    if dtype is torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)
