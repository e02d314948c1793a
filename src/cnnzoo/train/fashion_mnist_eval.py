"""Fashion-MNIST for the shipped weights: the test split (read by :mod:`cnnzoo.data`) and accuracy."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The Fashion-MNIST directory (``root``, ``$CNNZOO_DATA`` or Debian's), as the training engine finds it."""
    from cnnzoo.data import find_fashion_mnist

    return find_fashion_mnist(root)


def load_split(split: str = "test", root: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images uint8 (N, 1, 28, 28), labels int64 (N,))`` of the ``"train"`` or ``"test"`` split."""
    from cnnzoo.data import load_fashion_mnist

    return load_fashion_mnist(data_root(root), split)


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
