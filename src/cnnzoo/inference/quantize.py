"""int8: post-training static quantisation calibrated on the user's images, and the accuracy guard.

The quantiser is ONNX Runtime's (``onnxruntime.quantization.quantize_static``): it writes a standard
QDQ ONNX file (QuantizeLinear/DequantizeLinear pairs around each convolution and matrix product) that
both ONNX Runtime and OpenVINO run as int8 — OpenVINO's CPU plugin turns the pairs into its own int8
kernels — so one calibrated file serves both runtimes and ``deploy`` measures which is faster.
Weights are quantised symmetrically per output channel (int8), activations per tensor (uint8) from
the min/max seen on the calibration images. Convolutions are quantised — nearly all of a backbone's
work — except the first one and the network's last layer, and fully connected layers stay in float: a
small share of the work and much of the accuracy. On the shipped Fashion-MNIST weights this brought
LeNet-5's top-1 drop from 0.67 points (every convolution and linear layer in int8) to 0.44. OpenVINO's
NNCF would quantise the same graph, but needs scipy and scikit-learn besides; ONNX Runtime is already
part of the ``deploy`` extra.

The guard: top-1 of the float model and of the int8 model on the validation split, prepared and scored as
``cnnzoo eval`` scores it (:func:`cnnzoo.train.sources.eval_data`, :func:`cnnzoo.train.evaluation.evaluate`);
the calibration images come through the same path from the training split. Before anything is
quantised it checks that the data fits the model — its number of classes (and their names, where both
record them), and that its prepared images have the model's channels and size — and that the float model
scores above chance on it (more than ``100 / classes`` + :data:`CHANCE_MARGIN` points): a float model at
chance means the data is not the model's (or the model is untrained), and no drop measured there says
anything, so the guard refuses to judge. The int8 model is kept only when it loses at most ``max_drop``
percentage points.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from cnnzoo.data import ImageData
from cnnzoo.data.config import resolve_data_config
from cnnzoo.optional import quiet, require_module
from cnnzoo.tables import plural
from cnnzoo.train.batches import InMemoryBatches, to_float
from cnnzoo.train.evaluation import evaluate
from cnnzoo.train.sources import eval_data
from cnnzoo.train.streaming import LoaderBatches

if TYPE_CHECKING:
    from cnnzoo.checkpoint import CheckpointHeader

__all__ = ["CHANCE_MARGIN", "Int8Check", "Int8Data", "quantize_onnx", "int8_data", "normalized", "int8_top1"]

#: the guard refuses to judge when the float model's top-1 is at most chance (100 / classes %) plus this
#: many percentage points
CHANCE_MARGIN = 5.0


@dataclass
class Int8Check:
    """The accuracy guard's measurement: top-1 (%) of float and int8 on ``count`` validation images."""

    fp32_top1: float
    int8_top1: float
    count: int
    max_drop: float
    calibration_images: int
    data: str

    @property
    def drop(self) -> float:
        return self.fp32_top1 - self.int8_top1

    @property
    def kept_int8(self) -> bool:
        return self.drop <= self.max_drop

    def summary(self) -> str:
        verdict = ("int8 kept" if self.kept_int8 else
                   f"int8 REJECTED: the drop exceeds {plural(self.max_drop, 'point', fmt='g')}, the float model "
                   "is kept")
        return (f"top-1 on {plural(self.count, 'validation image')} of {self.data}: fp32 {self.fp32_top1:.2f} %, "
                f"int8 {self.int8_top1:.2f} % (drop {self.drop:+.2f} points, limit {self.max_drop:g}); {verdict}")


@dataclass
class Int8Data:
    """What the guard works on: normalised calibration images, the validation split as ``cnnzoo eval`` prepares
    it, its image size, and the float model's top-1 there."""

    calibration: torch.Tensor
    val: ImageData | LoaderBatches
    img_size: int
    fp32_top1: float
    count: int

    @property
    def source(self) -> str:
        return self.val.source


def _prepared(source: ImageData | LoaderBatches, batch: int = 256) -> Any:
    return InMemoryBatches(source, batch, shuffle=False) if isinstance(source, ImageData) else source


def int8_data(data: str | os.PathLike | None, model: nn.Module, header: CheckpointHeader, img_size: int,
              calib_images: int, val_images: int | None, checkpoint: str = "the model") -> Int8Data:
    """The guard's data, checked to fit ``model`` (whose input is ``img_size``) and scored in float: raises
    ValueError, before anything is quantised, when the classes, channels or size do not fit, or when the
    float model is at chance on it (see the module docstring)."""
    # decoded in this process (workers=0): DataLoader workers forked once ONNX Runtime or OpenVINO had started
    # their thread pools crashed the process (a segmentation fault, one run in two)
    data = None if data is None else str(data)
    config = resolve_data_config(model)  # eval's, at the size the engine is built for
    if config.test_input_size != img_size:
        config = dataclasses.replace(config, input_size=img_size, test_input_size=img_size, test_crop_pct=None)
    val, size, _ = eval_data(data, "test", model, header, 256, subset=val_images, config=config, workers=0,
                             checkpoint=checkpoint)
    names = list(val.classes)
    if header.classes and names != list(header.classes):
        def listed(xs: list[str]) -> str:
            return ", ".join(xs[:4]) + (", …" if len(xs) > 4 else "")

        raise ValueError(f"{checkpoint}: the checkpoint's classes ({listed(list(header.classes))}) are not those of "
                         f"{val.source} ({listed(names)}); give --data with the data it was trained on")
    calib_src, _, _ = eval_data(data, "train", model, header, 256, subset=calib_images, config=config, workers=0,
                                checkpoint=checkpoint)
    source = _prepared(calib_src)
    calibration = torch.cat([normalized(images, source.mean, source.std, size) for images, _ in source.batches(0)])
    want = (header.in_chans, img_size, img_size)
    if size != img_size or tuple(calibration.shape[1:]) != want:
        raise ValueError(f"{val.source} is prepared as {tuple(calibration.shape[1:])} images, the model takes "
                         f"{want}")
    fp32, count = int8_top1(model, val, size)
    chance = 100.0 / header.num_classes
    if not fp32 > chance + CHANCE_MARGIN:
        raise ValueError(
            f"the int8 guard cannot judge: the float model scores {fp32:.2f} % on {val.source}, at chance for "
            f"{header.num_classes} classes ({chance:.2f} % + {CHANCE_MARGIN:g} points); that data is not the one "
            f"the model learned (give --data with its own data) or the model is untrained")
    return Int8Data(calibration, val, size, fp32, count)


class _Logits(nn.Module):
    """A callable (an engine) as a module, for :func:`~cnnzoo.train.evaluation.evaluate`."""

    def __init__(self, run: Callable[[torch.Tensor], Any]) -> None:
        super().__init__()
        self.run = run

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.run(x)
        return out if isinstance(out, torch.Tensor) else torch.as_tensor(np.asarray(out))


@torch.no_grad()
def int8_top1(run: nn.Module | Callable[[torch.Tensor], Any], val: ImageData | LoaderBatches,
              img_size: int) -> tuple[float, int]:
    """Top-1 (%) of ``run`` (a model, or an engine: float batch → logits) on ``val``, scored as ``cnnzoo eval``
    scores it, and the number of images scored."""
    res = evaluate(run if isinstance(run, nn.Module) else _Logits(run), val, img_size, 256)
    return res.top1, res.count


def normalized(images: torch.Tensor, mean: list[float] | tuple[float, ...], std: list[float] | tuple[float, ...],
               img_size: int) -> torch.Tensor:
    """uint8 images → the float input the weights expect (resized, ``(x − mean) / std`` per channel)."""
    x = to_float(images, img_size)
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


class _Reader:
    """ONNX Runtime's CalibrationDataReader protocol over a float array, in batches of ``batch``."""

    def __init__(self, name: str, x: np.ndarray, batch: int) -> None:
        self.batches = iter([{name: x[i:i + batch]} for i in range(0, len(x), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def _first_and_last(onnx_path: Path) -> list[str]:
    """Names of the graph's first and last convolution / matrix product (kept in float)."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    ops = [n.name for n in graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    return sorted({ops[0], ops[-1]}) if ops else []


def quantize_onnx(onnx_path: str | os.PathLike, out_path: str | os.PathLike, calibration: torch.Tensor,
                  batch: int = 32) -> Path:
    """Write the int8 (QDQ) version of an fp32 ONNX file, calibrated on ``calibration`` (normalised
    float images, N×C×H×W)."""
    require_module("onnxruntime", "int8 quantisation")
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, out = Path(onnx_path), Path(out_path)
    pre = out.with_name(out.stem + ".pre.onnx")
    x = calibration.detach().cpu().numpy().astype(np.float32)
    import onnx

    name = onnx.load(str(src), load_external_data=False).graph.input[0].name
    root = logging.getLogger()
    level = root.level
    # the quantiser logs a warning for every per-channel tensor it quantises per tensor instead (a standalone
    # batch norm's scale, as in pre-activation ResNets): expected, and not the user's to act on
    root.setLevel(logging.ERROR)
    try:
        with quiet():
            # shape inference and graph fusions (batch norm into conv, …) before choosing where to quantise
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            quantize_static(str(pre), str(out), _Reader(name, x, batch), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                            calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=["Conv"],
                            nodes_to_exclude=_first_and_last(pre))
    finally:
        root.setLevel(level)
        pre.unlink(missing_ok=True)
    return out
