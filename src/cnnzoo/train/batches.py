"""How batches reach the training loop: the :class:`BatchSource` protocol and its in-memory implementation.

The step loop and evaluation read batches only through a ``BatchSource``; a streaming loader plugs in by
implementing the same few members.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from cnnzoo.data import ImageData, iterate_batches

__all__ = ["BatchSource", "InMemoryBatches", "to_float"]


@runtime_checkable
class BatchSource(Protocol):
    """A split as batches: ``(images, labels)`` with images uint8 (0–255) or float (0–1), shape (B, C, H, W),
    and int64 labels. ``batches(epoch)`` yields ``steps_per_epoch`` batches for this process's share.

    A source whose images are transformed at a given size (streamed sources) may also have
    ``set_image_size(size)``, which the loop calls before each epoch (progressive learning's stage size).
    """

    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str

    @property
    def num_classes(self) -> int: ...

    @property
    def num_images(self) -> int: ...

    @property
    def steps_per_epoch(self) -> int: ...

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...

    def sample(self, n: int) -> torch.Tensor:
        """The first ``n`` images (statistics such as the whitened stem's)."""
        ...


def to_float(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (0–255) or float (0–1) images as float in [0, 1], resized to ``size``² when they differ."""
    x = x.float().div_(255) if not x.is_floating_point() else x.float()
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


class InMemoryBatches:
    """A :class:`BatchSource` over an :class:`~cnnzoo.data.ImageData` held in memory.

    ``shuffle=True`` (training): each epoch's order comes from a generator seeded with (seed, epoch); each
    rank gets an equal share (padded by wrapping), and full batches only when the share holds one.
    ``shuffle=False`` (evaluation): images ``rank::world_size`` in order, every image once.
    """

    def __init__(self, data: ImageData, batch_size: int, shuffle: bool = True, seed: int = 0, rank: int = 0,
                 world_size: int = 1) -> None:
        self.data, self.batch_size, self.shuffle, self.seed = data, batch_size, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.classes, self.mean, self.std, self.source = data.classes, data.mean, data.std, data.source
        share = -(-len(data) // world_size) if shuffle else len(range(rank, len(data), world_size))
        self.drop_last = shuffle and share >= batch_size
        self._steps = share // batch_size if self.drop_last else -(-share // batch_size)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_images(self) -> int:
        return len(self.data)

    @property
    def skipped(self) -> list[str]:
        """Images of the folder left out when it was loaded, because they could not be decoded."""
        return self.data.skipped

    @property
    def steps_per_epoch(self) -> int:
        return self._steps

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.shuffle:
            idx_iter = iterate_batches(len(self.data), self.batch_size, True, self.seed, epoch, self.rank,
                                       self.world_size, self.drop_last)
        else:
            order = torch.arange(len(self.data))[self.rank::self.world_size]
            idx_iter = (order[s:s + self.batch_size] for s in range(0, len(order), self.batch_size))
        for idx in idx_iter:
            yield self.data.images[idx], self.data.labels[idx]

    def sample(self, n: int) -> torch.Tensor:
        return self.data.images[:n]
