"""Data: Fashion-MNIST (the default) and ImageFolder directories, held in memory as uint8 tensors; image
decoding, the per-model data configs and the per-image train/eval transforms."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cnnzoo.data.config import DataConfig, resolve_data_config
from cnnzoo.data.decode import ImageDecodeError, decode_image
from cnnzoo.data.folder import list_classes, load_image, load_image_folder
from cnnzoo.data.idx import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_SPLITS,
    FASHION_MNIST_STD,
    MISSING_DATA_HELP,
    find_fashion_mnist,
    is_fashion_mnist_dir,
    load_fashion_mnist,
    read_idx,
)
from cnnzoo.data.transforms import EvalTransform, TrainTransform, transforms_for

__all__ = ["ImageData", "load_data", "is_fashion_mnist", "iterate_batches", "read_idx", "load_image",
           "load_image_folder", "find_fashion_mnist", "load_fashion_mnist", "FASHION_MNIST_CLASSES",
           "FASHION_MNIST_MEAN", "FASHION_MNIST_STD", "FASHION_MNIST_SPLITS", "MISSING_DATA_HELP",
           "DataConfig", "resolve_data_config", "ImageDecodeError", "decode_image", "TrainTransform", "EvalTransform",
           "transforms_for"]

_FASHION_MNIST_NAMES = (None, "", "fashion-mnist", "fashion_mnist")


def is_fashion_mnist(data: str | os.PathLike | None) -> bool:
    """Whether ``data`` (a ``--data`` value) means Fashion-MNIST: the default, its name, or a directory
    of its IDX files (gzipped or not)."""
    return data in _FASHION_MNIST_NAMES or is_fashion_mnist_dir(data)


@dataclass
class ImageData:
    """A split in memory: uint8 images (N, C, H, W), int64 labels, class names, normalisation."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str = ""
    extra: dict = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # images left out because they could not be decoded

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int | None) -> ImageData:
        """The first ``n`` images (all of them when ``n`` is None or 0)."""
        if not n or n >= len(self):
            return self
        return ImageData(self.images[:n], self.labels[:n], self.classes, self.mean, self.std, self.source,
                         skipped=self.skipped)


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = images[: 10000].float().div_(255)
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(round(float(v), 4) for v in mean), tuple(round(float(v), 4) for v in std)


def load_data(data: str | os.PathLike | None = None, split: str = "train", in_chans: int = 1,
              img_size: int = 28, strict: bool = True) -> ImageData:
    """Load a split: Fashion-MNIST (``data`` None/"fashion-mnist" or a directory with its IDX files; splits
    "train" and "test"), or an ImageFolder directory with ``train/`` and ``val/`` (``split`` "test" maps to
    ``val/`` if ``test/`` is absent). ``strict=False``: a folder's undecodable images are left out with a
    warning naming each, and listed in the result's ``skipped``.
    """
    if is_fashion_mnist(data):
        if split not in FASHION_MNIST_SPLITS:
            raise ValueError(f"Fashion-MNIST has no {split!r} split (it has "
                             f"{' and '.join(map(repr, FASHION_MNIST_SPLITS))})")
        root = find_fashion_mnist(None if data in _FASHION_MNIST_NAMES else data)
        images, labels = load_fashion_mnist(root, split)
        if in_chans == 3:
            images = images.expand(-1, 3, -1, -1).contiguous()
        elif in_chans != 1:
            raise ValueError(f"Fashion-MNIST is grayscale: in_chans must be 1 or 3, got {in_chans}")
        mean, std = FASHION_MNIST_MEAN * in_chans, FASHION_MNIST_STD * in_chans
        return ImageData(images, labels, list(FASHION_MNIST_CLASSES), mean, std, f"fashion-mnist:{root}")
    root = Path(data)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such data directory (expected Fashion-MNIST IDX files or an "
                                f"image folder with train/ and val/). {MISSING_DATA_HELP}")
    if not any((root / sub).is_dir() for sub in {"train", "val", split}):
        raise FileNotFoundError(f"{root}: no Fashion-MNIST IDX files and no image folder in this directory (expected "
                                f"the IDX files, or train/ and val/ with one sub-directory per class). "
                                f"{MISSING_DATA_HELP}")
    sub = split
    if split != "train" and not (root / split).is_dir():
        sub = "val"
    train_classes = None
    if sub != "train" and (root / "train").is_dir():
        train_classes = list_classes(root / "train")
    skipped: list[str] | None = None if strict else []
    images, labels, classes = load_image_folder(root, sub, in_chans, img_size, train_classes, skipped)
    mean, std = _channel_stats(images)
    return ImageData(images, labels, classes, mean, std, f"folder:{root / sub}", skipped=skipped or [])


def iterate_batches(n: int, batch_size: int, shuffle: bool, seed: int = 0, epoch: int = 0, rank: int = 0,
                    world_size: int = 1, drop_last: bool = False) -> Iterator[torch.Tensor]:
    """Index batches of one epoch; shuffled by a generator seeded with (seed, epoch), so that an epoch's
    order does not depend on any RNG state. With ``world_size`` > 1 each rank gets an equal, disjoint
    share (padded by wrapping, like ``DistributedSampler``)."""
    if shuffle:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=g)
    else:
        order = torch.arange(n)
    if world_size > 1:
        per_rank = -(-n // world_size)
        total = per_rank * world_size
        if total > n:
            order = torch.cat([order, order[: total - n]])
        order = order[rank:total:world_size]
    m = len(order)
    stop = m - m % batch_size if drop_last and m >= batch_size else m
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]
