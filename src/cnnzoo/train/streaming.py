"""Streaming batch sources: an image folder read lazily or WebDataset shards, through a torch ``DataLoader``.

:class:`LoaderBatches` is the :class:`~cnnzoo.train.batches.BatchSource` of both: worker processes decode
and transform the images (persistent between epochs), pinned memory on CUDA, each epoch's order seeded by
(seed, epoch) so that ``--resume`` continues exactly at an epoch boundary, each rank a disjoint share, and
images that fail to decode skipped with one warning naming each and counted (``strict_data``: an error), the
samples of a damaged shard likewise (each one counted), a class none of whose images decodes an error.
:func:`choose_data_cache` decides between this and the in-memory path.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from cnnzoo.data.folder import undecodable_class
from cnnzoo.data.streams import (
    Batch,
    EpochBatchSampler,
    FolderDataset,
    ShardError,
    ShardSampleError,
    ShardStream,
    TransformCache,
    bounded_heap_worker,
    collate_skipping,
    sample_seed,
)

if TYPE_CHECKING:
    from cnnzoo.data.shards import ShardSet

__all__ = ["LoaderBatches", "choose_data_cache", "default_workers", "MEMORY_CACHE_BYTES", "folder_dataset",
           "shard_dataset", "stats_for", "per_channel"]

#: the in-memory path is chosen (``data_cache: auto``) for an image folder whose images, as uint8
#: squares of the training size, take at most this many bytes
MEMORY_CACHE_BYTES = 512 * 2**20


def default_workers(world_size: int = 1) -> int:
    """DataLoader workers per process when ``workers`` is not set: the usable cores shared by the local
    processes, at most 8, at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
    return max(1, min(8, cores // max(1, local)))


def choose_data_cache(setting: str, kind: str, num_images: int = 0, in_chans: int = 3, img_size: int = 224) -> str:
    """``"memory"`` (the whole split decoded once and held) or ``"stream"`` (decoded per batch
    in workers) for data of ``kind`` ("fashion-mnist", "folder" or "shards") under the ``data_cache`` setting."""
    if kind == "fashion-mnist":
        if setting == "none":
            raise ValueError("data_cache: Fashion-MNIST is always held in memory (47 MB); to stream it, write it as "
                             "shards (`cnnzoo shards fashion-mnist OUT`) and train with --data OUT")
        return "memory"
    if kind == "shards":
        if setting == "memory":
            raise ValueError("data_cache: shards are always streamed; use data_cache auto or none with shards, or "
                             "train from the image folder they came from")
        return "stream"
    if setting == "auto":
        return "memory" if num_images * in_chans * img_size * img_size <= MEMORY_CACHE_BYTES else "stream"
    return "memory" if setting == "memory" else "stream"


class LoaderBatches:
    """A :class:`~cnnzoo.train.batches.BatchSource` over a ``DataLoader`` of a :class:`FolderDataset` or a
    :class:`ShardStream`.

    Training (``shuffle=True``): every rank yields ``steps_per_epoch`` batches; for shards a rank whose shards
    run out early starts another pass over them (seeded differently) and one with more drops the rest, so
    that all ranks take the same number of steps. Evaluation (``shuffle=False``): every image of this
    rank's share once, in order.
    """

    def __init__(self, dataset: FolderDataset | ShardStream, *, classes: list[str], mean: tuple[float, ...],
                 std: tuple[float, ...], source: str, batch_size: int, img_size: int, shuffle: bool,
                 seed: int = 0, rank: int = 0, world_size: int = 1, workers: int = 0, num_images: int,
                 shard_sizes: list[int] | None = None, pin_memory: bool = False, strict: bool = False,
                 log: Callable[[str], Any] | None = None) -> None:
        self.dataset, self.classes, self.mean, self.std, self.source = dataset, classes, mean, std, source
        self.batch_size, self.shuffle, self.seed, self.strict = batch_size, shuffle, seed, strict
        self.rank, self.world_size, self._num_images = rank, world_size, num_images
        self.img_size = img_size
        self._skipped: dict[str, str] = {}  # name → why ("image" or "shard")
        self._bad_by_class: dict[int, set[str]] = {}
        self._class_sizes = [int(n) for n in np.bincount(dataset.labels, minlength=len(classes))] \
            if isinstance(dataset, FolderDataset) else dataset.class_sizes
        self._log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        # the loader's own generator: creating its iterator draws the workers' base seed from it, never from
        # the global RNG that the batch augmentation uses (a resumed run creates it in another epoch)
        self._generator = torch.Generator()
        kw: dict[str, Any] = dict(num_workers=workers, collate_fn=collate_skipping, pin_memory=pin_memory,
                                  generator=self._generator)
        if workers > 0:
            kw.update(persistent_workers=True, prefetch_factor=4, worker_init_fn=bounded_heap_worker)
        if isinstance(dataset, FolderDataset):
            share = -(-num_images // world_size) if shuffle else len(range(rank, num_images, world_size))
            self._sampler = EpochBatchSampler(num_images, batch_size, shuffle, seed, rank, world_size,
                                              drop_last=shuffle and share >= batch_size, size=img_size)
            self._steps = len(self._sampler)
            self.loader = torch.utils.data.DataLoader(dataset, batch_sampler=self._sampler, **kw)
        else:
            sizes = list(shard_sizes or [])  # training: the most a rank can get, whatever the shuffled order
            share = sum(sorted(sizes, reverse=True)[: -(-len(sizes) // world_size)]) if shuffle \
                else sum(sizes[rank::world_size])
            self._short = share < batch_size
            self._steps = -(-share // batch_size) if self._short or not shuffle else share // batch_size
            dataset.size.value = img_size
            self.loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, **kw)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_images(self) -> int:
        return self._num_images

    @property
    def steps_per_epoch(self) -> int:
        return self._steps

    def set_image_size(self, size: int) -> None:
        """The side of the images the next epoch's batches have (progressive learning)."""
        self.img_size = size
        if isinstance(self.dataset, ShardStream):
            self.dataset.size.value = size
        else:
            self._sampler.size = size

    def _pass(self, epoch: int, n: int = 0) -> Iterator[Batch]:
        # worker seeds from (seed, epoch, pass, rank) + worker id wherever the iterator is (re)created; the
        # images' crops are seeded per sample in any case (TransformCache)
        self._generator.manual_seed(sample_seed(self.seed, epoch, n, self.rank, "loader"))
        if isinstance(self.dataset, ShardStream):
            self.dataset.epoch.value = epoch * 1000 + n
        else:
            self._sampler.epoch = epoch
        yield from self.loader

    def _checked(self, batch: Batch) -> Batch:
        for bad in batch.bad:
            if bad.fatal:
                raise ShardSampleError(bad.error)
            if bad.lost:  # a damaged shard: every sample it lost is counted
                if self.strict:
                    raise ShardError(f"{bad.error} (strict_data is on; without it the samples a damaged shard lost "
                                     f"are skipped and counted)")
                if bad.lost[0] not in self._skipped:  # one warning per shard, however many epochs meet it
                    self._skipped.update(dict.fromkeys(bad.lost, "shard"))
                    self._log(f"cnnzoo: warning: skipped {len(bad.lost)} sample(s) of a damaged shard: {bad.error}")
                continue
            what = bad.error.replace("<bytes>", bad.name)
            what = what if bad.name in what else f"{bad.name}: {what}"
            if self.strict:
                raise ValueError(f"{what} (strict_data is on; without it such images are skipped and counted)")
            if bad.name not in self._skipped:  # one warning per image, however many epochs meet it
                self._skipped[bad.name] = "image"
                self._log(f"cnnzoo: warning: skipped an image that cannot be decoded: {what}")
            self._check_class(bad.label, bad.name)
        return batch

    def _check_class(self, label: int, name: str) -> None:
        """A class none of whose images decodes: the error of the in-memory path, once its last one failed."""
        if label < 0 or not self._class_sizes or label >= len(self._class_sizes):
            return
        failed = self._bad_by_class.setdefault(label, set())
        failed.add(name)
        if len(failed) >= self._class_sizes[label] > 0:
            cls = self.classes[label]
            where = Path(self.source[len("folder:"):]) / cls if self.source.startswith("folder:") \
                else f"{self.source}, class {cls}"
            raise undecodable_class(where, self._class_sizes[label])

    def skip_summary(self) -> str:
        """What was skipped, e.g. ``"1 image(s) that cannot be decoded, 4 sample(s) of damaged shards"`` (or "")."""
        images = sum(1 for why in self._skipped.values() if why == "image")
        lost = len(self._skipped) - images
        return ", ".join(x for x in (f"{images} image(s) that cannot be decoded" if images else "",
                                     f"{lost} sample(s) of damaged shards" if lost else "") if x)

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if isinstance(self.dataset, FolderDataset) or not self.shuffle:
            for b in self._pass(epoch):
                b = self._checked(b)
                if len(b.labels):
                    yield b.images, b.labels
            return
        yield from self._rechunked(epoch)

    def _rechunked(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Exactly ``steps_per_epoch`` batches of ``batch_size`` (one short batch when the whole share is
        smaller) from the workers' batches, which end short where a worker's shards end."""
        images: list[torch.Tensor] = []
        labels: list[torch.Tensor] = []
        held, steps, n_pass = 0, 0, 0
        while steps < self._steps:
            got = 0
            for b in self._pass(epoch, n_pass):
                b = self._checked(b)
                got += len(b.labels)
                images.append(b.images)
                labels.append(b.labels)
                held += len(b.labels)
                while held >= self.batch_size and steps < self._steps:
                    x, y = torch.cat(images), torch.cat(labels)
                    yield x[: self.batch_size], y[: self.batch_size]
                    images, labels, held = [x[self.batch_size:]], [y[self.batch_size:]], held - self.batch_size
                    steps += 1
                if steps >= self._steps:
                    return
            if got == 0:
                raise ValueError(f"{self.source}: no readable samples in the shards of rank {self.rank}")
            if self._short and held:
                yield torch.cat(images), torch.cat(labels)
                return
            n_pass += 1

    def sample(self, n: int) -> torch.Tensor:
        out: list[torch.Tensor] = []
        got = 0
        for x, _ in self.batches(0):
            out.append(x)
            got += len(x)
            if got >= n:
                break
        return torch.cat(out)[:n]

    @property
    def skipped(self) -> list[str]:
        """The images skipped so far because they could not be decoded, each once, and each sample that a
        damaged shard lost."""
        return list(self._skipped)


def per_channel(values: tuple[float, ...], in_chans: int) -> tuple[float, ...]:
    """A data config's per-channel mean/std for ``in_chans`` channels (grayscale: their average)."""
    values = tuple(float(v) for v in values)
    if len(values) == in_chans:
        return values
    avg = sum(values) / len(values)
    return (avg,) * in_chans


def folder_dataset(files: list, labels: list[int], make: Callable[[int], Callable[[Any], torch.Tensor]]
                   ) -> FolderDataset:
    """A :class:`FolderDataset` whose images ``make(size)`` decodes and transforms."""
    return FolderDataset(files, labels, TransformCache(make))


def shard_dataset(urls: list[str], make: Callable[[int], Callable[[Any], torch.Tensor]], *, shuffle: bool,
                  seed: int, rank: int, world_size: int, shards: ShardSet | None = None) -> ShardStream:
    """A :class:`ShardStream` over ``urls`` whose images ``make(size)`` decodes and transforms; ``shards``
    (the set ``urls`` come from) gives the sample counts and classes that the stream is checked against."""
    if shards is None:
        return ShardStream(urls, TransformCache(make), shuffle=shuffle, seed=seed, rank=rank, world_size=world_size)
    split = "train" if set(urls) <= set(shards.train) else "val"
    return ShardStream(urls, TransformCache(make), shuffle=shuffle, seed=seed, rank=rank, world_size=world_size,
                       expected=shards.expected(urls), num_classes=len(shards.classes),
                       class_sizes=shards.class_sizes(split))


def stats_for(model: str, in_chans: int, index: dict | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Normalisation of streamed data: the shard index's statistics where it records them, else the
    model's data config (ImageNet's for most models), per input channel."""
    if index and index.get("mean") and index.get("std"):
        return per_channel(tuple(index["mean"]), in_chans), per_channel(tuple(index["std"]), in_chans)
    from cnnzoo.data.config import resolve_data_config

    dc = resolve_data_config(model)
    return per_channel(tuple(dc.mean), in_chans), per_channel(tuple(dc.std), in_chans)
