"""Datasets for a torch ``DataLoader``: an image folder read lazily and WebDataset tar shards streamed.

Each image is decoded in a worker process from its original size by a transform made by a factory
``make_transform(size) -> callable(src) -> uint8 tensor (C, size, size)``; the size travels with the
indices (folders) or in a value shared with the workers (shards), so that progressive learning changes
it between epochs without restarting the workers.
An image that fails to decode becomes a :class:`BadSample` that :func:`collate_skipping` drops and reports,
and so do the samples a damaged shard lost (counted against the shard index) and a sample without a valid
label (an error): workers never raise for the data, the main process decides (``strict_data``) and raises.
"""

from __future__ import annotations

import ctypes
import dataclasses
import multiprocessing as mp
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnzoo.data.decode import ImageDecodeError

__all__ = ["BadSample", "Batch", "bounded_heap_worker", "collate_skipping", "FolderDataset", "EpochBatchSampler",
           "ShardStream", "TransformCache", "sample_seed", "shard_error", "ShardError", "ShardSampleError",
           "SAMPLE_IMAGE_KEYS"]

#: the keys an image may have in a shard sample (its file extension inside the tar)
SAMPLE_IMAGE_KEYS = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "ppm", "pgm")


@dataclass
class BadSample:
    """An image that could not be decoded: where it was and why; ``label``: its class where known.

    ``fatal``: a sample without a valid label, which stops the run (:class:`ShardSampleError`). ``lost``: a
    damaged shard (``name``), standing for the samples it lost, one name each (an error under ``strict_data``).
    """

    name: str
    error: str
    fatal: bool = False
    label: int = -1
    lost: list[str] = dataclasses.field(default_factory=list)


class ShardError(ValueError):
    """A shard that cannot be read (truncated or corrupt); the message names it."""


class ShardSampleError(ValueError):
    """A shard sample without a label, with a label that is not an integer or outside the classes; the
    message names the shard and the sample's key."""


@dataclass
class Batch:
    """A collated batch: uint8 images (B, C, S, S), int64 labels, and the samples dropped from it."""

    images: torch.Tensor
    labels: torch.Tensor
    bad: list[BadSample]


def collate_skipping(items: Sequence[tuple[Any, int]]) -> Batch:
    """Stack the decoded ``(image, label)`` pairs, dropping the :class:`BadSample` ones (reported in ``bad``)."""
    good = [(x, y) for x, y in items if not isinstance(x, BadSample)]
    bad = [dataclasses.replace(x, label=int(y)) if y >= 0 else x for x, y in items if isinstance(x, BadSample)]
    if not good:
        return Batch(torch.empty(0, dtype=torch.uint8), torch.empty(0, dtype=torch.int64), bad)
    return Batch(torch.stack([x for x, _ in good]), torch.tensor([y for _, y in good], dtype=torch.int64), bad)


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h); setting it also stops its dynamic adjustment


def bounded_heap_worker(worker_id: int) -> None:  # noqa: ARG001 - DataLoader's worker_init_fn signature
    """``worker_init_fn`` of the streamed sources: a decoded image (> 128 KiB) gets its own mapping, given
    back to the system when freed. glibc otherwise raises its mmap threshold after the first frees and
    serves later images from a heap that fragments: each worker grew to ~800 MB over 100,000 ImageNet-sized
    JPEGs, against ~240 MB with the threshold fixed (BENCHMARKS.md, "Data loading"). No-op off glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)


class TransformCache:
    """Applies the transform of a given image size (made once per size by ``make(size)``) to one image.

    In a worker process the random state of ``random`` and ``torch`` is first set from ``seed``, which the
    caller derives from (run seed, epoch, sample), so that an image's augmentation depends neither on the
    number of workers nor on where a run was resumed. An image that fails to decode gives a :class:`BadSample`.
    """

    def __init__(self, make: Callable[[int], Callable[[Any], torch.Tensor]]) -> None:
        self.make = make
        self._cache: dict[int, Callable[[Any], torch.Tensor]] = {}

    def __call__(self, src: Any, name: str, size: int, seed: int | None = None) -> torch.Tensor | BadSample:
        if size not in self._cache:
            self._cache = {size: self.make(size)}
        if seed is not None and torch.utils.data.get_worker_info() is not None:
            random.seed(seed)
            torch.default_generator.manual_seed(seed)  # the CPU generator only: torch.manual_seed takes ~0.4 ms
        try:
            return self._cache[size](src)
        except ImageDecodeError as err:
            return BadSample(name, str(err))


def sample_seed(*parts: Any) -> int:
    """A 63-bit seed from ``parts`` (stable across processes, unlike ``hash`` of strings)."""
    import hashlib

    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "little") >> 1


class FolderDataset(torch.utils.data.Dataset):
    """Map-style dataset over files and labels, each decoded and transformed when a worker reads it.

    The paths and labels are kept in numpy arrays, not lists of Python objects, so that forked workers
    reading them do not copy the pages (reference counts would), whatever the folder's size.
    """

    def __init__(self, files: Sequence[Path], labels: Sequence[int], transform: TransformCache) -> None:
        self.files = np.array([str(f) for f in files])
        self.labels = np.asarray(labels, dtype=np.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item: tuple[int, int, int, int]) -> tuple[torch.Tensor | BadSample, int]:
        """``item``: (index, image size, run seed, epoch), as :class:`EpochBatchSampler` yields them."""
        i, size, seed, epoch = item
        path = str(self.files[i])
        return self.transform(path, path, size, sample_seed(seed, epoch, i)), int(self.labels[i])


class EpochBatchSampler(torch.utils.data.Sampler):
    """Batches of (index, size, seed, epoch) for :class:`FolderDataset`: the order of
    :func:`~cnnzoo.data.iterate_batches` (seeded by (seed, epoch), each rank a disjoint share, like
    ``DistributedSampler``); ``epoch`` and ``size`` are set by the main process before each pass."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, rank: int, world_size: int,
                 drop_last: bool, size: int) -> None:
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.epoch, self.size = 0, size

    def __iter__(self) -> Iterator[list[tuple[int, int, int, int]]]:
        from cnnzoo.data import iterate_batches

        if self.shuffle:
            batches = (idx.tolist() for idx in iterate_batches(self.n, self.batch_size, True, self.seed, self.epoch,
                                                               self.rank, self.world_size, self.drop_last))
        else:  # evaluation: images rank::world_size in order, every image once (no padding)
            share = list(range(self.rank, self.n, self.world_size))
            batches = (share[s:s + self.batch_size] for s in range(0, len(share), self.batch_size))
        for idx in batches:
            yield [(i, self.size, self.seed, self.epoch) for i in idx]

    def __len__(self) -> int:
        share = -(-self.n // self.world_size) if self.shuffle else len(range(self.rank, self.n, self.world_size))
        return share // self.batch_size if self.drop_last else -(-share // self.batch_size)


def _shard_name(args: tuple) -> str | None:
    for a in reversed(args):
        if isinstance(a, str) and a.endswith(".tar"):
            return a
        found = re.search(r"name='([^']+)'", str(a))
        if found:
            return found.group(1)
    return None


def shard_error(exn: Exception) -> bool:
    """webdataset's handler for a shard that cannot be read: one :class:`ShardError` naming it, which ends
    the shard's reading (:class:`ShardStream` then counts the samples it lost)."""
    if isinstance(exn, ShardError):  # met again by webdataset's outer stage, which appends the url
        msg, url = exn.args[0], _shard_name(exn.args[1:])
        raise ShardError(msg if url is None or msg.startswith(url) else f"{url}: {msg}") from None
    url = _shard_name(exn.args)
    why = str(exn.args[0] if exn.args else exn).split(" @ ")[0]
    raise ShardError(f"{url + ': ' if url else ''}corrupt or truncated shard ({type(exn).__name__}: {why})") from None


def _label(sample: dict, num_classes: int | None) -> int | str:
    """The sample's class index, or why it has none (its content is never quoted)."""
    raw = sample.get("cls")
    if raw is None:
        return "has no .cls label"
    text = raw if isinstance(raw, bytes) else str(raw).encode()
    if not re.fullmatch(rb"\s*-?[0-9]{1,18}\s*", text):
        return "has a .cls label that is not an integer"
    label = int(text)
    if label < 0 or (num_classes is not None and label >= num_classes):
        return f"has label {label}, outside the {num_classes} classes of the shard index" if num_classes \
            else f"has label {label}, not a class index"
    return label


def _complete(sample: dict) -> bool:
    return "cls" in sample and any(k in sample for k in SAMPLE_IMAGE_KEYS)


class ShardStream(torch.utils.data.IterableDataset):
    """This rank's share of WebDataset shards, as ``(image, label)`` pairs, read with ``webdataset``.

    Every epoch (a value shared with the workers, set by the main process before each pass) the shard list
    is shuffled by a generator seeded with (seed, epoch); rank ``r`` of ``world_size`` takes the shards
    ``r::world_size`` of that order (``split_by_node``'s rule, from explicit rank and size) and each worker
    its share of them (``split_by_worker``); the samples then pass a shuffle buffer seeded likewise.

    ``expected`` (url → samples, from the shard index): a shard that ends early, however it is damaged
    (tar reading stops silently at a corrupt header), gives a :class:`BadSample` naming each sample it lost.
    ``num_classes``: labels must lie in 0..num_classes-1; ``class_sizes``: samples per class, where known.
    """

    def __init__(self, urls: Sequence[str], transform: TransformCache, *, shuffle: bool, seed: int = 0,
                 rank: int = 0, world_size: int = 1, buffer: int = 1000, expected: dict[str, int] | None = None,
                 num_classes: int | None = None, class_sizes: list[int] | None = None) -> None:
        super().__init__()
        self.urls, self.transform, self.shuffle, self.seed = list(urls), transform, shuffle, seed
        self.rank, self.world_size, self.buffer = rank, world_size, buffer
        self.expected, self.num_classes, self.class_sizes = dict(expected or {}), num_classes, class_sizes
        # set by the main process before each pass, read by the (persistent) workers
        self.epoch = mp.Value("q", 0, lock=False)  # epoch * 1000 + pass
        self.size = mp.Value("i", 0, lock=False)

    def rank_urls(self, epoch_key: int) -> list[str]:
        """The shards of this rank in the pass ``epoch_key``."""
        urls = list(self.urls)
        if self.shuffle:
            random.Random(self.seed * 1_000_003 + epoch_key).shuffle(urls)
        return urls[self.rank::self.world_size]

    def __iter__(self) -> Iterator[tuple[torch.Tensor | BadSample, int]]:
        import webdataset as wds

        key, size = self.epoch.value, self.size.value
        urls = self.rank_urls(key)
        if not urls:  # more ranks than shards (evaluation: this rank scores nothing)
            return
        info = torch.utils.data.get_worker_info()
        wid = info.id if info is not None else 0
        mine = [s["url"] for s in wds.DataPipeline(wds.SimpleShardList(urls), wds.split_by_worker)]
        samples: Iterator[dict | BadSample] = (s for url in mine for s in self._shard(wds, url))
        if self.shuffle and self.buffer > 1:
            rng = random.Random(sample_seed(self.seed, key, self.rank, wid))
            samples = wds.shuffle(self.buffer, initial=min(self.buffer, 100), rng=rng)(samples)
        yield from self._samples(samples, key, size)

    def _shard(self, wds: Any, url: str) -> Iterator[dict | BadSample]:
        """The samples of one shard, then a :class:`BadSample` for those it lost where it is damaged: the
        reading stopped by an error (webdataset's handler, :func:`shard_error`) or ended before the count of
        the index. The last sample read from a damaged shard is dropped when the damage cut it."""
        read, last, why = 0, None, None
        try:
            for sample in wds.DataPipeline(wds.SimpleShardList([url]), wds.tarfile_to_samples(handler=shard_error)):
                if last is not None:
                    yield last
                last, read = sample, read + 1
        except ShardError as err:
            why = str(err)
        expected = self.expected.get(url)
        short = expected is not None and read < expected
        if last is not None and (why or short) and not _complete(last):
            last, read = None, read - 1
        if last is not None:
            yield last
        if why is None and not short:
            return
        why = why or f"{url}: corrupt or truncated shard (its tar ends early)"
        fix = "; write the shards again with `cnnzoo shards`"
        if expected is None:
            yield BadSample(url, f"{why}: {read} sample(s) read, the rest lost{fix}",
                            lost=[f"{url} (samples after the {read}th)"])
        elif read < expected:
            yield BadSample(url, f"{why}: read {read} of its {expected} samples{fix}",
                            lost=[f"{url} (sample {i + 1} of {expected})" for i in range(read, expected)])

    def _samples(self, samples: Iterator[dict | BadSample], key: int, size: int
                 ) -> Iterator[tuple[torch.Tensor | BadSample, int]]:
        for sample in samples:
            if isinstance(sample, BadSample):
                yield sample, -1
                continue
            name = f"{sample.get('__url__')}:{sample.get('__key__')}"
            label = _label(sample, self.num_classes)
            if isinstance(label, str):  # raised by the main process, with no worker traceback
                classes = f", 0 to {self.num_classes - 1}" if self.num_classes else ""
                yield BadSample(name, f"{sample.get('__url__')}: sample {sample.get('__key__')} {label} (every "
                                      f"sample needs a .cls label: its class index{classes})", fatal=True), -1
                continue
            ext = next((k for k in SAMPLE_IMAGE_KEYS if k in sample), None)
            if ext is None:
                yield BadSample(name, f"no image (keys: {', '.join(k for k in sample if not k.startswith('__'))})"), \
                    label
                continue
            yield self.transform(sample[ext], name, size, sample_seed(self.seed, key, name)), label
