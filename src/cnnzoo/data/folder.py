"""ImageFolder-style directories: ``ROOT/<split>/<class name>/<image>``, listed without reading an image
(:func:`scan_image_folder`) and read image by image (:func:`read_images`).

:func:`load_image_folder` converts every image to the requested channels (grayscale "L" or "RGB") and
resizes it to a square ``img_size`` (bilinear): the whole split as one uint8 tensor. Training holds a
small folder in memory with the model's transforms instead (``cnnzoo.train.sources``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from cnnzoo._warn import warn_user
from cnnzoo.data.decode import ImageDecodeError, decode_image
from cnnzoo.data.transforms import to_tensor

__all__ = ["IMAGE_EXTENSIONS", "load_image", "load_image_folder", "list_classes", "FolderSplit", "scan_image_folder",
           "image_files", "read_images", "undecodable_class"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def load_image(path: str | os.PathLike, in_chans: int, img_size: int | None) -> torch.Tensor:
    """One image as uint8 (C, H, W): upright, 8-bit, ``in_chans`` 1 (grayscale) or 3 (RGB), resized to
    ``img_size`` (bilinear) when given; an undecodable file is an ImageDecodeError (a ValueError) naming it."""
    if in_chans not in (1, 3):
        raise ValueError(f"in_chans must be 1 or 3 for image files, got {in_chans}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    im = decode_image(path, in_chans)
    if img_size and im.size != (img_size, img_size):
        im = im.resize((img_size, img_size), Image.BILINEAR)
    return to_tensor(im)


def list_classes(split_dir: Path) -> list[str]:
    """The class names of ``split_dir``: its sub-directories, sorted; at least two are needed."""
    classes = sorted(d.name for d in split_dir.iterdir() if d.is_dir())
    if len(classes) < 2:
        found = f"only {classes[0]!r}" if classes else "none"
        raise ValueError(f"{split_dir}: an image folder needs at least 2 class sub-directories "
                         f"({split_dir}/<class>/<image>), found {found}")
    return classes


def image_files(cls_dir: Path) -> list[Path]:
    """The image files under ``cls_dir`` (recursively, by extension), sorted."""
    return [f for f in sorted(cls_dir.rglob("*")) if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS]


def _no_images(cls_dir: Path) -> ValueError:
    return ValueError(f"{cls_dir}: no images in this class folder (each class folder needs at least one "
                      f"image; extensions: {', '.join(IMAGE_EXTENSIONS)})")


def undecodable_class(where: str | os.PathLike, n: int) -> ValueError:
    """The error for a class (``where``: its folder, or its name in a stream) none of whose ``n`` images can be
    decoded: the same whether the images are held in memory or streamed."""
    return ValueError(f"{where}: none of its {n} image(s) can be decoded (skipped: see the warnings)")


@dataclass
class FolderSplit:
    """The files of one split of an image folder, their labels and the class names (no image read)."""

    root: Path
    files: list[Path]
    labels: list[int]
    classes: list[str]

    def __len__(self) -> int:
        return len(self.files)

    def counts(self) -> dict[str, int]:
        """Images per class."""
        return {c: self.labels.count(i) for i, c in enumerate(self.classes)}


def _split_dir(root: str | os.PathLike, split: str) -> Path:
    """``root/split``, or one error saying which of the two is missing and what an image folder holds."""
    split_dir = Path(root) / split
    if not Path(root).is_dir():
        raise FileNotFoundError(f"{root}: no such data directory (expected Fashion-MNIST IDX files, an image "
                                f"folder with train/ and val/, or WebDataset shards)")
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{split_dir}: no such directory (an image folder needs {root}/train and "
                                f"{root}/val, each with one sub-directory per class)")
    return split_dir


def scan_image_folder(root: str | os.PathLike, split: str, classes: list[str] | None = None) -> FolderSplit:
    """List ``root/split/<class>/<image>`` without reading an image. At least two classes, none of them
    empty; with ``classes`` (the training split's) the split must hold exactly those classes."""
    split_dir = _split_dir(root, split)
    present = list_classes(split_dir)
    if classes is not None and present != list(classes):
        extra, missing = sorted(set(present) - set(classes)), sorted(set(classes) - set(present))
        what = "; ".join(x for x in (f"not in train: {', '.join(extra)}" if extra else "",
                                     f"missing here: {', '.join(missing)}" if missing else "") if x)
        raise ValueError(f"{split_dir}: the class folders differ from the training split's ({what}); both splits "
                         f"need the same class sub-directories")
    files: list[Path] = []
    labels: list[int] = []
    for idx, cls in enumerate(present):
        found = image_files(split_dir / cls)
        if not found:
            raise _no_images(split_dir / cls)
        files += found
        labels += [idx] * len(found)
    return FolderSplit(split_dir, files, labels, present)


def load_image_folder(root: str | os.PathLike, split: str, in_chans: int, img_size: int,
                      classes: list[str] | None = None, skipped: list[str] | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Images uint8 (N, C, S, S), labels int64 (N,) and class names of ``root/split``.

    ``classes`` (those of the training split) fixes the labels; a class folder of ``split`` outside it
    is an error, and so is a class folder without images. An image that cannot be decoded is an
    :class:`~cnnzoo.data.decode.ImageDecodeError`; given a ``skipped`` list, it is left out instead, with
    one warning naming it, and its name appended to the list.
    """
    split_dir = _split_dir(root, split)
    present = list_classes(split_dir)
    classes = classes or present
    unknown = sorted(set(present) - set(classes))
    if unknown:
        raise ValueError(f"{split_dir}: class folder(s) {', '.join(unknown)} are not classes of the training "
                         f"split (expected only {', '.join(classes)})")
    files: list[Path] = []
    labels: list[int] = []
    for idx, cls in enumerate(classes):
        cls_dir = split_dir / cls
        if not cls_dir.is_dir():
            continue
        found = image_files(cls_dir)
        if not found:
            raise _no_images(cls_dir)
        files += found
        labels += [idx] * len(found)
    split = FolderSplit(split_dir, files, labels, classes)
    images, kept = read_images(split, lambda f: load_image(f, in_chans, img_size), skipped)
    return torch.stack(images), kept, classes


def read_images(split: FolderSplit, read: Callable[[Path], torch.Tensor], skipped: list[str] | None = None
                ) -> tuple[list[torch.Tensor], torch.Tensor]:
    """``read(file)`` of every file of an image folder's split (or of a subset of its files), and their
    labels (int64).

    An image that cannot be decoded is an :class:`~cnnzoo.data.decode.ImageDecodeError`; given a
    ``skipped`` list, it is left out instead, with one warning naming it, and its name appended to the
    list; a class none of whose images can be decoded is an error naming its folder."""
    images: list[torch.Tensor] = []
    kept: list[int] = []
    files, labels = split.files, split.labels
    for f, label in zip(files, labels, strict=True):
        try:
            images.append(read(f))
        except ImageDecodeError as err:
            if skipped is None:
                raise
            warn_user(f"skipped an image that cannot be decoded: {err}")
            skipped.append(str(f))
            continue
        kept.append(label)
    for label in sorted(set(labels) - set(kept)):
        raise undecodable_class(split.root / split.classes[label], labels.count(label))
    return images, torch.tensor(kept, dtype=torch.int64)
