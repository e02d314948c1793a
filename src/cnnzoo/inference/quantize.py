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

The guard: top-1 of the float model and of the int8 model on the validation split; the int8 model is
kept only when it loses at most ``max_drop`` percentage points.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnzoo.data import ImageData, load_data
from cnnzoo.export import _quiet, require_module
from cnnzoo.tables import plural
from cnnzoo.train.batches import to_float

__all__ = ["Int8Check", "quantize_onnx", "load_split", "normalized", "top1_accuracy"]


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


def load_split(data: str | os.PathLike | None, split: str, in_chans: int, img_size: int,
               limit: int | None = None, seed: int = 0) -> ImageData:
    """A split of ``data`` (Fashion-MNIST, the default, or an image folder); with ``limit``, that many
    images drawn at random (seeded) — the calibration set is a few hundred images of the training split."""
    split_data = load_data(data, split=split, in_chans=in_chans, img_size=img_size)
    if limit is not None and limit < len(split_data):
        idx = torch.randperm(len(split_data), generator=torch.Generator().manual_seed(seed))[:limit]
        split_data = ImageData(split_data.images[idx], split_data.labels[idx], split_data.classes,
                               split_data.mean, split_data.std, split_data.source)
    return split_data


def normalized(images: torch.Tensor, mean: list[float] | tuple[float, ...], std: list[float] | tuple[float, ...],
               img_size: int) -> torch.Tensor:
    """uint8 images → the float input the weights expect (resized, ``(x − mean) / std`` per channel)."""
    x = to_float(images, img_size)
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


def top1_accuracy(run: Callable[[torch.Tensor], torch.Tensor], data: ImageData, mean: list[float],
                  std: list[float], img_size: int, batch: int = 256) -> float:
    """Top-1 (%) of ``run`` (a model or an engine: float batch → logits) on ``data``."""
    hits = 0
    for i in range(0, len(data), batch):
        x = normalized(data.images[i:i + batch], mean, std, img_size)
        out = run(x)
        logits = out if isinstance(out, torch.Tensor) else torch.as_tensor(np.asarray(out))
        hits += int((logits.argmax(1) == data.labels[i:i + batch]).sum())
    return 100.0 * hits / max(1, len(data))


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
        with _quiet():
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
