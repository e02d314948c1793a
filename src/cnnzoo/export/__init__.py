"""Exporting models to ONNX, TorchScript and OpenVINO IR, with a check that the exported file computes the same thing.

* ONNX through ``torch.onnx.export`` (the ``torch.export``-based exporter by default, the legacy
  TorchScript-based one with ``exporter="legacy"``); the file is then run in onnxruntime on a
  fresh input and compared with PyTorch (max absolute difference ≤ 1e-4 by default).
* TorchScript through ``torch.jit.trace`` (every family traces: the input check of
  ``ZooModel.forward`` is skipped while tracing) or ``torch.jit.script`` where a model scripts;
  the file is loaded back with ``torch.jit.load`` and compared the same way.
* OpenVINO IR (``model.xml`` + ``model.bin``) written by OpenVINO's own converter
  (``openvino.convert_model``) from cnnzoo's ONNX file, weights kept in fp32, and run back in
  OpenVINO's CPU plugin (at fp32 inference precision) for the check. The IR records the inference
  precision it was checked at in its ``rt_info`` runtime options (``INFERENCE_PRECISION_HINT``);
  OpenVINO's CPU plugin (2026.4) does not apply that option by itself — it computes in bf16 by default
  on a CPU with AVX512-BF16 or AMX — so open the file with :func:`compile_openvino`, which does.
  Needs the ``deploy`` extra.

With ``dynamic_batch=True`` the batch dimension is left free and the check runs at a different
batch size than the one exported with. Files are written through :func:`cnnzoo.files.atomic_write`,
so a failed export (or check) never leaves a half-written file behind, and the temporary files (or an IR's
temporary directory) of a killed export of the same file are removed by the next one. To export a trained
checkpoint, rebuild it first with :func:`cnnzoo.load_checkpoint`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnzoo.files import atomic_write, remove_stale_temps
from cnnzoo.optional import quiet, require_module
from cnnzoo.tables import plural

__all__ = ["FORMATS", "SUFFIXES", "ExportResult", "export_model", "verify_export", "opset_range",
           "onnx_to_openvino", "save_openvino", "openvino_runtime_options", "compile_openvino"]

FORMATS = ("onnx", "torchscript", "openvino")
#: the file suffix each format writes (OpenVINO IR also writes the weights beside it, ``.bin``)
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt", "openvino": ".xml"}
_EXPORTERS = ("dynamo", "legacy")
# Opsets each ONNX exporter writes natively: the torch.export-based one starts at 18 (lower versions go
# through a converter that can fail silently), the legacy TorchScript-based one covers 7–20.
_OPSETS = {"dynamo": (18, 23), "legacy": (7, 20)}


def opset_range(exporter: str = "dynamo") -> tuple[int, int]:
    """The lowest and highest ONNX opset ``exporter`` writes."""
    if exporter not in _OPSETS:
        raise ValueError(f"unknown ONNX exporter {exporter!r}; supported: {', '.join(_EXPORTERS)}")
    return _OPSETS[exporter]


def _written_opset(path: str | os.PathLike) -> int:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
_TS_METHODS = ("trace", "script")


@dataclass
class ExportResult:
    """What was written and how closely it matches PyTorch."""

    path: Path
    format: str
    input_shape: tuple[int, ...]
    dynamic_batch: bool
    max_abs_diff: float | None = None
    checked_shape: tuple[int, ...] | None = None
    top1_agree: bool | None = None


def _export_onnx(model: nn.Module, x: torch.Tensor, path: Path, dynamic_batch: bool, exporter: str,
                 opset: int | None) -> None:
    kwargs: dict[str, Any] = {"input_names": ["input"], "output_names": ["output"]}
    if opset is not None:
        kwargs["opset_version"] = opset
    if exporter == "dynamo":
        if dynamic_batch:
            kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1)},)
        torch.onnx.export(model, (x,), str(path), dynamo=True, external_data=False, verbose=False, **kwargs)
    else:
        if dynamic_batch:
            kwargs["dynamic_axes"] = {"input": {0: "batch"}, "output": {0: "batch"}}
        torch.onnx.export(model, (x,), str(path), dynamo=False, **kwargs)


def onnx_to_openvino(onnx_path: str | os.PathLike, input_shape: tuple[int, ...] | None = None) -> Any:
    """An ``openvino.Model`` converted by OpenVINO's converter from an ONNX file; with ``input_shape``
    the input is fixed to that shape (OpenVINO plans memory once for a static shape)."""
    ov = require_module("openvino", "OpenVINO export and inference")
    with quiet():
        model = ov.convert_model(str(onnx_path))
    if input_shape is not None:
        model.reshape({model.inputs[0]: ov.PartialShape(list(input_shape))})
    return model


def save_openvino(model: Any, path: str | os.PathLike, precision: str = "f32") -> None:
    """Write an ``openvino.Model`` as IR (fp32 weights) with the inference precision it was validated at
    (``"f32"`` or ``"bf16"``) in its ``rt_info`` runtime options, where :func:`compile_openvino` reads it."""
    ov = require_module("openvino", "OpenVINO export")
    model.set_rt_info(precision, ["runtime_options", "INFERENCE_PRECISION_HINT"])
    ov.save_model(model, str(path), compress_to_fp16=False)


def openvino_runtime_options(model: Any) -> dict[str, str]:
    """The runtime options an ``openvino.Model`` records in its ``rt_info`` (empty when none)."""
    if not model.has_rt_info(["runtime_options"]):
        return {}
    return {str(k): v.astype(str) for k, v in model.get_rt_info()["runtime_options"].items()}


_CORE: Any = None


def _ov_core() -> Any:
    """One ``openvino.Core`` per process: it loads the CPU plugin, and its thread pools, once."""
    global _CORE
    if _CORE is None:
        _CORE = require_module("openvino", "the openvino runtime").Core()
    return _CORE


def compile_openvino(source: Any, device: str = "CPU", config: dict[str, Any] | None = None) -> Any:
    """An OpenVINO IR (a path to its ``.xml``, or an ``openvino.Model``) compiled with the runtime options it
    records — for cnnzoo's files, the inference precision they were checked at — then ``config`` on top.
    OpenVINO's CPU plugin ignores a recorded ``INFERENCE_PRECISION_HINT`` (it honours only cache and
    quantisation options from a file), so a plain ``Core().compile_model(xml)`` runs in bf16 where the CPU
    has AVX512-BF16 or AMX."""
    ov = require_module("openvino", "OpenVINO inference")
    core = _ov_core()
    model = source if isinstance(source, ov.Model) else core.read_model(str(source))
    return core.compile_model(model, device, {**openvino_runtime_options(model), **(config or {})})


def _export_openvino(model: nn.Module, x: torch.Tensor, path: Path, dynamic_batch: bool, exporter: str,
                     opset: int | None) -> None:
    """``path`` (.xml) and its weights ``path.with_suffix('.bin')``, through cnnzoo's ONNX file."""
    onnx_path = path.with_name(path.stem + ".src.onnx")
    try:
        _export_onnx(model, x, onnx_path, True, exporter, opset)
        shape = None if dynamic_batch else tuple(x.shape)
        if dynamic_batch:
            shape = (-1, *x.shape[1:])
        save_openvino(onnx_to_openvino(onnx_path, shape), path, "f32")
    finally:
        onnx_path.unlink(missing_ok=True)
        onnx_path.with_name(onnx_path.name + ".data").unlink(missing_ok=True)


def _export_torchscript(model: nn.Module, x: torch.Tensor, path: Path, method: str) -> None:
    if method == "script":
        try:
            scripted = torch.jit.script(model)
        except Exception as err:  # noqa: BLE001 - scripting fails in many ways; say which and what to do
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(
                f"{type(model).__name__} cannot be compiled by torch.jit.script ({first}); "
                "use tracing instead (method='trace', the default)"
            ) from err
    else:
        scripted = torch.jit.trace(model, (x,), check_trace=False)
    torch.jit.save(scripted, str(path))


@torch.no_grad()
def _reference(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    if isinstance(out, (tuple, list)):
        out = out[0]
    return out


@torch.no_grad()
def verify_export(path: str | os.PathLike, fmt: str, model: nn.Module, x: torch.Tensor) -> tuple[float, bool]:
    """Run the exported file on ``x`` and compare with ``model(x)``: (max abs difference, top-1 agrees)."""
    ref = _reference(model, x)
    if fmt == "onnx":
        ort = require_module("onnxruntime", "checking an ONNX export")

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.cpu().numpy()})[0])
    elif fmt == "openvino":
        require_module("openvino", "checking an OpenVINO export")
        compiled = compile_openvino(path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        got = torch.from_numpy(compiled(x.cpu().numpy())[compiled.outputs[0]].copy())
    else:
        loaded = torch.jit.load(str(path), map_location=x.device)
        got = loaded(x)
        if isinstance(got, (tuple, list)):
            got = got[0]
    if got.shape != ref.shape:
        raise RuntimeError(f"exported model gives shape {tuple(got.shape)}, PyTorch {tuple(ref.shape)}")
    diff = float((got.float().cpu() - ref.float().cpu()).abs().max()) if ref.numel() else 0.0
    top1 = bool(ref.ndim != 2 or torch.equal(got.argmax(-1).cpu(), ref.argmax(-1).cpu()))
    return diff, top1


def export_model(
    model: nn.Module,
    path: str | os.PathLike,
    format: str = "onnx",
    input_shape: tuple[int, ...] | None = None,
    dynamic_batch: bool = False,
    verify: bool = True,
    atol: float = 1e-4,
    exporter: str = "dynamo",
    method: str = "trace",
    opset: int | None = None,
) -> ExportResult:
    """Export ``model`` to ``path`` as ONNX, TorchScript or OpenVINO IR and check the file against PyTorch.

    Args:
        model: a cnnzoo model (or any ``nn.Module`` taking one NCHW tensor) on the CPU.
        path: the file to write (replaced atomically; OpenVINO IR: the ``.xml``, its weights go to the
            ``.bin`` beside it, moved into place first).
        format: ``"onnx"``, ``"torchscript"`` or ``"openvino"``.
        input_shape: (N, C, H, W) of the example input (default: batch 1 at the model's default size).
        dynamic_batch: leave the batch dimension free (checked at another batch size).
        verify: run the file (onnxruntime / ``torch.jit.load``) and require max |diff| ≤ ``atol``.
        exporter: ONNX exporter, ``"dynamo"`` (``torch.export``-based) or ``"legacy"``.
        method: TorchScript by ``"trace"`` or ``"script"``.
        opset: ONNX opset version (default: the exporter's).
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; supported: {', '.join(FORMATS)}")
    if format in ("onnx", "openvino") and exporter not in _EXPORTERS:
        raise ValueError(f"unknown ONNX exporter {exporter!r}; supported: {', '.join(_EXPORTERS)}")
    if format == "torchscript" and method not in _TS_METHODS:
        raise ValueError(f"unknown TorchScript method {method!r}; supported: {', '.join(_TS_METHODS)}")
    if format == "torchscript" and opset is not None:
        raise ValueError("opset applies to ONNX export only, not to TorchScript")
    if format != "torchscript" and method != "trace":
        raise ValueError("method='script' applies to TorchScript export only; ONNX uses the exporter option")
    if format == "openvino":
        require_module("openvino", "OpenVINO export")
        if Path(path).suffix != ".xml":
            raise ValueError(f"an OpenVINO IR is written as NAME.xml (+ NAME.bin), got {str(path)!r}")
    if format != "torchscript" and opset is not None:
        low, high = opset_range(exporter)
        if isinstance(opset, bool) or not isinstance(opset, int) or not low <= opset <= high:
            hint = " (the legacy exporter writes 7 to 20: exporter='legacy')" if exporter == "dynamo" and \
                isinstance(opset, int) and opset < low else ""
            raise ValueError(f"the {exporter} ONNX exporter writes opsets {low} to {high}, got opset {opset!r}{hint}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"export_model expects an nn.Module, got {type(model).__name__}")
    param = next(model.parameters(), None)
    if param is not None and param.device.type != "cpu":
        raise ValueError(f"export runs on the CPU; move the model there first (it is on {param.device})")
    if input_shape is None:
        info = getattr(model, "model_info", None)
        if info is None:
            raise ValueError("input_shape is required for a model that is not from cnnzoo.create_model")
        input_shape = (1, *info.input_size)
    if len(input_shape) != 4 or any(not isinstance(s, int) or s < 1 for s in input_shape):
        raise ValueError(f"input_shape must be 4 positive ints (N, C, H, W), got {input_shape!r}")
    min_size = int(getattr(model, "min_size", 1))
    if min(input_shape[2:]) < min_size:
        raise ValueError(f"{type(model).__name__} needs inputs of at least {min_size}x{min_size}, got "
                         f"{input_shape[2]}x{input_shape[3]}")
    if hasattr(model, "in_chans") and input_shape[1] != model.in_chans:
        raise ValueError(f"{type(model).__name__} takes {plural(model.in_chans, 'input channel')}, got input_shape "
                         f"{tuple(input_shape)}")

    model = model.eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*input_shape, generator=gen)
    result = ExportResult(path=Path(path), format=format, input_shape=tuple(input_shape), dynamic_batch=dynamic_batch)

    def write(tmp: str) -> None:
        with quiet():
            if format == "onnx":
                _export_onnx(model, x, Path(tmp), dynamic_batch, exporter, opset)
            elif format == "openvino":
                _export_openvino(model, x, Path(tmp), dynamic_batch, exporter, opset)
            else:
                _export_torchscript(model, x, Path(tmp), method)
        if format == "onnx" and opset is not None and (got := _written_opset(tmp)) != opset:
            raise RuntimeError(f"asked for ONNX opset {opset}, the exporter wrote opset {got}; not written")
        if verify:
            check_shape = (input_shape[0] + 2, *input_shape[1:]) if dynamic_batch else tuple(input_shape)
            xc = torch.randn(*check_shape, generator=gen)
            diff, top1 = verify_export(tmp, format, model, xc)
            result.max_abs_diff, result.top1_agree, result.checked_shape = diff, top1, check_shape
            if not diff <= atol:
                raise RuntimeError(
                    f"the exported {format} model differs from PyTorch by {diff:.3g} (> {atol:g}) "
                    f"at input {check_shape}; not written"
                )

    remove_stale_temps(Path(path).parent, Path(path).name)  # what a killed export of this file left
    if format == "openvino":
        _write_ir(Path(path), write)
    else:
        atomic_write(path, write)
    return result


def _write_ir(path: Path, write: Any) -> None:
    """OpenVINO IR is two files: both are written and checked in a temporary directory, then the
    weights (.bin) and the graph (.xml) are moved into place, in that order."""
    import shutil
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        write(str(tmpdir / "model.xml"))
        os.replace(tmpdir / "model.bin", path.with_suffix(".bin"))
        os.replace(tmpdir / "model.xml", path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
