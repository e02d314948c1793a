"""How batches reach the training loop: the :class:`BatchSource` protocol and its in-memory implementations.

The step loop and evaluation read batches only through a ``BatchSource``; a streaming loader plugs in by
implementing the same few members.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from cnnzoo.data import ImageData, iterate_batches

__all__ = ["BatchSource", "InMemoryBatches", "HeldImageBatches", "to_float"]


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


class HeldImageBatches(InMemoryBatches):
    """Training batches of an image folder held in memory: ``data.images`` is a list of decoded uint8
    (H, W, C) images of any size (:func:`~cnnzoo.data.transforms.decode_held`), each cropped per batch
    by the training transform ``make(size)`` (:meth:`~cnnzoo.data.transforms.TrainTransform.crop`,
    RandomResizedCrop) with a generator seeded from (seed, epoch, image), the seed the streamed path
    gives the same image in its workers; the order and shares are :class:`InMemoryBatches`'s.
    """

    def __init__(self, data: ImageData, make: Callable[[int], Any], img_size: int, batch_size: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        super().__init__(data, batch_size, shuffle=True, seed=seed, rank=rank, world_size=world_size)
        self.make, self.img_size = make, img_size
        self._transforms: dict[int, Any] = {}

    def set_image_size(self, size: int) -> None:
        """The side of the crops the next epoch's batches have (progressive learning)."""
        self.img_size = size

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from cnnzoo.data.streams import sample_seed

        if self.img_size not in self._transforms:
            self._transforms = {self.img_size: self.make(self.img_size)}
        transform = self._transforms[self.img_size]
        g = torch.Generator()
        for idx in iterate_batches(len(self.data), self.batch_size, True, self.seed, epoch, self.rank,
                                   self.world_size, self.drop_last):
            crops = [transform.crop(self.data.images[i], g.manual_seed(sample_seed(self.seed, epoch, i)))
                     for i in idx.tolist()]
            yield torch.stack(crops), self.data.labels[idx]

    def sample(self, n: int) -> torch.Tensor:
        out: list[torch.Tensor] = []
        for x, _ in self.batches(0):
            out.append(x)
            if sum(len(b) for b in out) >= n:
                break
        return torch.cat(out)[:n]
