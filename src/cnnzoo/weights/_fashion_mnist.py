"""Fashion-MNIST as tensors, for the shipped weights: reading the IDX files and test accuracy.

The files are Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``) or any
directory holding the four ``*-idx?-ubyte.gz`` files, given by ``CNNZOO_DATA`` or ``root``.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def data_root(root: str | os.PathLike | None = None) -> Path:
    return Path(root or os.environ.get("CNNZOO_DATA") or DEFAULT_ROOT)


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(split: str = "test", root: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images uint8 (N, 1, 28, 28), labels int64 (N,))`` of the ``"train"`` or ``"test"`` split."""
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    base = data_root(root)
    paths = [base / f for f in _FILES[split]]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"Fashion-MNIST file {p} not found; install Debian's dataset-fashion-mnist "
                                    f"or set CNNZOO_DATA to a directory holding the IDX files")
    images = torch.from_numpy(_read_idx(paths[0]).copy()).unsqueeze(1)
    labels = torch.from_numpy(_read_idx(paths[1]).astype(np.int64))
    return images, labels


def normalize(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 images → float, scaled to [0, 1], then standardised per channel."""
    x = images.float().div_(255.0)
    m = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - m) / s


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean: tuple[float, ...],
             std: tuple[float, ...], batch_size: int = 500, size: int | None = None) -> float:
    """Top-1 accuracy of ``model`` (eval mode) on uint8 ``images``; ``size`` resizes them first."""
    model.eval()
    correct = 0
    for i in range(0, len(images), batch_size):
        x = normalize(images[i: i + batch_size], mean, std)
        if size is not None and size != x.shape[-1]:
            x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        correct += (model(x).argmax(1) == labels[i: i + batch_size]).sum().item()
    return correct / len(images)
