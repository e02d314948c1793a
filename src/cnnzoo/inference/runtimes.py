"""The back ends a deployed model runs on: PyTorch, ONNX Runtime and OpenVINO, behind one small interface.

Each back end is built from the model (PyTorch) or from cnnzoo's ONNX file of it (ONNX Runtime reads the
file; OpenVINO reads it with its ONNX front end, the one ``openvino.convert_model`` runs), and is called
with one float32 NCHW batch, returning the logits:

* ``torch``: :func:`cnnzoo.optimize_for_inference` (batch norms folded, channels-last, the dtype,
  TorchScript-frozen with ``torch.jit.optimize_for_inference`` — oneDNN convolutions with packed weights);
  takes and returns torch tensors. dtypes: fp32, bf16.
* ``onnxruntime``: an ``InferenceSession`` on the CPU with every graph optimisation; numpy in and out.
  dtypes: fp32, and int8 for a quantised (QDQ) ONNX file.
* ``openvino``: a model compiled for the CPU plugin at a fixed input shape (memory planned once; another
  batch size compiles once more), inference precision ``f32`` or ``bf16`` (the ``INFERENCE_PRECISION_HINT``:
  weights stay fp32 in the file, the plugin computes in bf16 where the CPU has it natively); a QDQ
  ONNX file runs as int8. numpy in and out.

ONNX Runtime and OpenVINO are the ``deploy`` extra (``pip install 'cnnzoo[deploy]'``): without them a
clear error names it (:func:`cnnzoo.optional.require_module`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnzoo.export import _ov_core, save_openvino
from cnnzoo.inference.optimize import optimize_for_inference
from cnnzoo.optional import quiet, require_module

__all__ = ["RUNTIMES", "DEPLOY_DTYPES", "TorchBackend", "OnnxRuntimeBackend", "OpenVinoBackend", "write_onnx",
           "openvino_native_bf16", "runtime_available"]

#: the runtimes ``deploy`` knows, in the order they are listed to users
RUNTIMES = ("torch", "onnxruntime", "openvino")
#: the precisions a deployed model runs in (fp32/bf16 from cnnzoo.device's vocabulary, plus int8)
DEPLOY_DTYPES = ("fp32", "bf16", "int8")
#: which dtypes each runtime runs
RUNTIME_DTYPES = {"torch": ("fp32", "bf16"), "onnxruntime": ("fp32", "int8"), "openvino": ("fp32", "bf16", "int8")}
_MODULES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}


def runtime_available(runtime: str) -> bool:
    """Whether ``runtime``'s package is installed (torch always is)."""
    if runtime == "torch":
        return True
    try:
        require_module(_MODULES[runtime], runtime)
    except RuntimeError:
        return False
    return True




def openvino_native_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes in bf16 natively here (AVX512-BF16 or AMX)."""
    return "BF16" in _ov_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def write_onnx(model: nn.Module, path: str | os.PathLike, input_shape: tuple[int, ...]) -> Path:
    """cnnzoo's ONNX file of ``model`` with a free batch dimension, for the ONNX Runtime and OpenVINO back
    ends (the TorchScript-based exporter: seconds instead of tens of seconds for ``torch.export``; the
    ``torch.export``-based one where the former fails). Not checked here: ``deploy`` compares every
    back end's outputs with eager PyTorch itself."""
    from cnnzoo.export import _export_onnx

    path = Path(path)
    x = torch.randn(*input_shape)
    model = model.eval()
    with quiet():
        try:
            # the legacy exporter prints the whole graph (C++, to stdout) when an operator is unsupported
            with _native_output_silenced():
                _export_onnx(model, x, path, True, "legacy", None)
        except Exception:  # noqa: BLE001 - the other exporter is the fallback, its error is the one to show
            _export_onnx(model, x, path, True, "dynamo", None)
    return path


@contextlib.contextmanager
def _native_output_silenced():
    """Silence file descriptors 1 and 2 themselves (native code writes there, past ``sys.stdout``)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            yield
    finally:
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


def _as_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=np.float32)


class TorchBackend:
    """PyTorch through :func:`cnnzoo.optimize_for_inference` (TorchScript-frozen where it traces)."""

    runtime = "torch"
    takes = "torch"

    def __init__(self, model: nn.Module, dtype: str, input_shape: tuple[int, ...]) -> None:
        if dtype not in RUNTIME_DTYPES["torch"]:
            raise ValueError(f"the torch runtime runs fp32 or bf16, not {dtype}")
        self.dtype = dtype
        example = torch.randn(*input_shape)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.module = optimize_for_inference(model, dtype=dtype, compile="jit", example_inputs=example)
            self.module(example)
        except (RuntimeError, ValueError, TypeError):  # a model that does not trace runs un-traced
            self.module = optimize_for_inference(model, dtype=dtype, example_inputs=example)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.module(x)
        return out[0] if isinstance(out, (tuple, list)) else out

    def save(self, path: Path) -> list[Path]:
        """The TorchScript file (``.pt``) of the frozen model."""
        compiled = self.module._compiled
        if compiled is None:
            raise ValueError("this model did not trace, so it has no TorchScript file to write")
        path = path.with_name(path.name + ".pt")
        torch.jit.save(compiled, str(path))
        return [path]


class OnnxRuntimeBackend:
    """An ONNX Runtime session on the CPU (fp32, or int8 for a QDQ file)."""

    runtime = "onnxruntime"
    takes = "numpy"

    def __init__(self, onnx_path: str | os.PathLike, dtype: str = "fp32", threads: int | None = None) -> None:
        ort = require_module("onnxruntime", "the onnxruntime runtime")
        if dtype not in RUNTIME_DTYPES["onnxruntime"]:
            raise ValueError(f"the onnxruntime runtime runs fp32 or int8 (a quantised file), not {dtype}")
        self.dtype = dtype
        self.onnx_path = Path(onnx_path)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # No busy-waiting worker threads between runs: with ONNX Runtime's default spinning, an OpenVINO or
        # PyTorch model run after it in the same process ran 1.5× slower (mobilenet_v3_large, batch 1,
        # 7.7 against 4.7 ms), which also skewed deploy's own comparison; a camera pipeline shares its
        # cores with other work the same way (BENCHMARKS.md, "Deployment runtimes").
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: _as_numpy(x)})[0]

    def save(self, path: Path) -> list[Path]:
        """The ONNX file."""
        import shutil

        path = path.with_name(path.name + ".onnx")
        shutil.copyfile(self.onnx_path, path)
        return [path]


class OpenVinoBackend:
    """An OpenVINO model compiled for the CPU at a fixed input shape, at ``f32`` or ``bf16`` inference
    precision (int8 when the ONNX file holds quantise/dequantise pairs)."""

    runtime = "openvino"
    takes = "numpy"

    def __init__(self, onnx_path: str | os.PathLike, dtype: str, input_shape: tuple[int, ...]) -> None:
        self.ov = require_module("openvino", "the openvino runtime")
        if dtype not in RUNTIME_DTYPES["openvino"]:
            raise ValueError(f"the openvino runtime runs fp32, bf16 or int8, not {dtype}")
        if dtype == "bf16" and not openvino_native_bf16():
            warnings.warn("OpenVINO in bf16: this CPU has no native bf16 arithmetic (no AVX512-BF16/AMX); "
                          "the CPU plugin computes in fp32 instead", RuntimeWarning, stacklevel=3)
        self.dtype = dtype
        self.core = _ov_core()
        # OpenVINO's ONNX front end (what openvino.convert_model runs for a file, with less around it)
        self.model = self.core.read_model(str(onnx_path))
        # int8 keeps f32 as the precision of the layers left unquantised
        self.config = {"INFERENCE_PRECISION_HINT": "bf16" if dtype == "bf16" else "f32",
                       "PERFORMANCE_HINT": "LATENCY"}
        self._compiled: dict[tuple[int, ...], Any] = {}
        self._request(tuple(input_shape))

    def _request(self, shape: tuple[int, ...]) -> Any:
        if shape not in self._compiled:
            model = self.model.clone()
            model.reshape({model.inputs[0]: self.ov.PartialShape(list(shape))})
            with quiet():
                compiled = self.core.compile_model(model, "CPU", self.config)
            self._compiled[shape] = compiled.create_infer_request()
        return self._compiled[shape]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _as_numpy(x)
        request = self._request(tuple(x.shape))
        request.infer({0: x}, share_inputs=True)
        return request.get_output_tensor(0).data.copy()

    def save(self, path: Path) -> list[Path]:
        """The OpenVINO IR (``.xml`` + ``.bin``, fp32 weights), recording the inference precision it was checked
        at in its runtime options (:func:`cnnzoo.export.compile_openvino` applies it)."""
        path = path.with_name(path.name + ".xml")
        save_openvino(self.model.clone(), path, self.config["INFERENCE_PRECISION_HINT"])
        return [path, path.with_suffix(".bin")]
