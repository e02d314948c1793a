"""WebDataset tar shards: written from an image folder or Fashion-MNIST, found again from ``--data``.

``write_shards(SRC, OUT)`` writes ``OUT/train-000000.tar …`` and ``OUT/val-000000.tar …`` with
``webdataset.ShardWriter`` (each shard under a temporary name, renamed when complete) and
``OUT/index.json``: the class names, the number of samples per split and per shard, and the channel
statistics when they are known. A sample is ``<key>.<ext>`` (the image file's bytes, unchanged; PNG for
Fashion-MNIST) and ``<key>.cls`` (the label). The samples of a split are written in a shuffled order
(seed 0), so that every shard holds every class.

``find_shards(data)`` reads ``--data``: a directory with ``index.json``, one ``.tar`` file, or a brace
pattern such as ``'OUT/train-{000000..000099}.tar'``. The index is written last, atomically: a directory
with shards and no index is one that ``cnnzoo shards`` did not finish, and is refused as such.
"""

from __future__ import annotations

import functools
import io
import json
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnzoo.data.folder import scan_image_folder
from cnnzoo.data.idx import FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD
from cnnzoo.files import write_text
from cnnzoo.optional import require_webdataset
from cnnzoo.tables import plural

__all__ = ["write_shards", "find_shards", "is_shards", "ShardSet", "INDEX_NAME"]

INDEX_NAME = "index.json"
_FORMAT = "cnnzoo-shards/1"
_EXT = {".jpeg": "jpg", ".tiff": "tif"}


def _folder_samples(root: Path, split: str, classes: list[str] | None) -> tuple[list[tuple[Any, str, int]], list[str]]:
    fs = scan_image_folder(root, split, classes)
    return [(f, _EXT.get(f.suffix.lower(), f.suffix.lower()[1:]), y) for f, y in zip(fs.files, fs.labels,
                                                                                      strict=True)], fs.classes


def _fashion_mnist_samples(src: str | None, split: str) -> list[tuple[Any, str, int]]:
    from cnnzoo.data import find_fashion_mnist, load_fashion_mnist

    images, labels = load_fashion_mnist(find_fashion_mnist(src), split)
    return [(img[0], "png", int(y)) for img, y in zip(images, labels.tolist(), strict=True)]


def _payload(item: Any) -> bytes:
    if isinstance(item, Path):
        return item.read_bytes()
    from PIL import Image  # a (H, W) uint8 tensor of Fashion-MNIST, as PNG

    buf = io.BytesIO()
    Image.fromarray(item.numpy(), "L").save(buf, format="PNG")
    return buf.getvalue()


def _publish(fname: str, names: list[str]) -> None:
    """A complete shard gets its final name (a run cut short leaves only ``*.tar.partial`` files)."""
    final = fname[: -len(".partial")]
    os.replace(fname, final)
    names.append(Path(final).name)


def write_shards(src: str | os.PathLike | None, out: str | os.PathLike, shard_size: int = 1000,
                 log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Write the train and val splits of ``src`` (an image folder, or Fashion-MNIST: None, its name or its
    directory) as shards of ``shard_size`` samples into ``out``; returns the index (also ``out/index.json``)."""
    from cnnzoo.data import is_fashion_mnist

    wds = require_webdataset()
    if shard_size < 1:
        raise ValueError(f"--shard-size: expected an integer >= 1, got {shard_size}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.glob("*.tar")) or (out / INDEX_NAME).exists()):
        what = ("is a file" if not out.is_dir() else "already holds shards" if (out / INDEX_NAME).exists()
                else "already holds shards without an index (left by a `cnnzoo shards` that did not finish)")
        raise ValueError(f"{out}: {what}; choose an empty or new directory")
    fmnist = is_fashion_mnist(None if src in (None, "") else str(src))
    if fmnist:
        root = None if src in (None, "", "fashion-mnist", "fashion_mnist") else str(src)
        splits = {"train": _fashion_mnist_samples(root, "train"), "val": _fashion_mnist_samples(root, "test")}
        classes = list(FASHION_MNIST_CLASSES)
        extra = dict(mean=list(FASHION_MNIST_MEAN), std=list(FASHION_MNIST_STD), channels=1, image_size=28)
    else:
        root = Path(src)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such image folder (expected {root}/train/<class>/<image> and "
                                    f"{root}/val/<class>/<image>) or Fashion-MNIST directory")
        train, classes = _folder_samples(root, "train", None)
        splits = {"train": train, "val": _folder_samples(root, "val", classes)[0]}
        extra = {}
    out.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = dict(format=_FORMAT, source=str(src or "fashion-mnist"), classes=classes, splits={},
                                 **extra)
    for split, samples in splits.items():
        random.Random(0).shuffle(samples)
        names: list[str] = []
        with wds.ShardWriter(str(out / f"{split}-%06d.tar.partial"), maxcount=shard_size, verbose=0,
                             post=functools.partial(_publish, names=names)) as sink:
            try:
                for i, (item, ext, label) in enumerate(samples):
                    sink.write({"__key__": f"{i:08d}", ext: _payload(item), "cls": str(label).encode()})
            except BaseException:
                sink.post = None  # closed on the way out: the unfinished shard keeps its temporary name
                raise
        sizes = [min(shard_size, len(samples) - k * shard_size) for k in range(len(names))]
        index["splits"][split] = dict(count=len(samples), shards=dict(zip(names, sizes, strict=True)),
                                      per_class={c: sum(1 for _, _, y in samples if y == k)
                                                 for k, c in enumerate(classes)})
        log(f"{split}: {plural(len(samples), 'sample')} in {plural(len(names), 'shard')} ({out}/{split}-*.tar)")
    write_text(out / INDEX_NAME, json.dumps(index, indent=1))  # last and atomic: no index, no complete set
    return index


@dataclass
class ShardSet:
    """Shards found from ``--data``: the train and val shard paths, the index and the sample counts."""

    train: list[str]
    val: list[str]
    index: dict[str, Any]
    directory: Path

    @property
    def classes(self) -> list[str]:
        return list(self.index["classes"])

    def count(self, split: str) -> int:
        urls = self.train if split == "train" else self.val
        sizes = self.index["splits"][split]["shards"]
        return sum(sizes[Path(u).name] for u in urls)

    def shard_sizes(self, split: str) -> list[int]:
        sizes = self.index["splits"][split]["shards"]
        return [sizes[Path(u).name] for u in (self.train if split == "train" else self.val)]

    def expected(self, urls: list[str]) -> dict[str, int]:
        """The number of samples the index records for each of ``urls`` (shards of either split)."""
        sizes = {n: k for split in self.index["splits"].values() for n, k in split["shards"].items()}
        return {u: sizes[Path(u).name] for u in urls}

    def class_sizes(self, split: str) -> list[int] | None:
        """Samples per class of ``split`` where all its shards are used (None for a subset of them)."""
        entry = self.index["splits"][split]
        used = {Path(u).name for u in (self.train if split == "train" else self.val)}
        if used != set(entry["shards"]) or "per_class" not in entry:
            return None
        return [int(entry["per_class"].get(c, 0)) for c in self.classes]


def is_shards(data: str | os.PathLike | None) -> bool:
    """Whether ``--data`` names shards: a ``.tar`` file or pattern, or a directory with ``index.json`` or
    with shards (``*.tar``, ``*.tar.partial``: left without their index by a ``cnnzoo shards`` cut short)."""
    if data is None:
        return False
    s = str(data)
    if s.endswith(".tar"):
        return True
    d = Path(s)
    return d.is_dir() and ((d / INDEX_NAME).is_file() or any(d.glob("*.tar")) or any(d.glob("*.tar.partial")))


def _expand(pattern: str) -> Iterator[str]:
    import braceexpand  # installed with webdataset

    return braceexpand.braceexpand(pattern)


def find_shards(data: str | os.PathLike) -> ShardSet:
    """The shards of ``--data`` with their index; every named shard must exist and be in the index."""
    require_webdataset()
    s = str(data)
    if Path(s).is_dir():
        directory, urls = Path(s), None
    else:
        urls = list(_expand(s))
        directory = Path(urls[0]).parent
    index_path = directory / INDEX_NAME
    if not index_path.is_file():
        raise FileNotFoundError(f"{index_path}: the shard index is missing (`cnnzoo shards` writes it last: "
                                f"shards without it were left by a run that did not finish, or not written by "
                                f"cnnzoo); write the shards again with `cnnzoo shards SRC OUT` into a new or empty "
                                f"directory")
    try:
        index = json.loads(index_path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{index_path}: not a JSON shard index ({err})") from None
    if index.get("format") != _FORMAT:
        raise ValueError(f"{index_path}: not a cnnzoo shard index (format {index.get('format')!r}, "
                         f"expected {_FORMAT!r})")
    splits = index["splits"]
    if urls is None:
        urls = [str(directory / n) for n in splits["train"]["shards"]]
    known = {**{n: "train" for n in splits["train"]["shards"]}, **{n: "val" for n in splits.get("val", {})
                                                                    .get("shards", {})}}
    for u in urls:
        if not Path(u).is_file():
            raise FileNotFoundError(f"{u}: no such shard (from --data {s})")
        if known.get(Path(u).name) != "train":
            raise ValueError(f"{u}: not a training shard of {index_path} (its train shards: "
                             f"{', '.join(splits['train']['shards'])})")
    val = [str(directory / n) for n in splits.get("val", {}).get("shards", {})]
    return ShardSet(urls, val, index, directory)
