"""ImageFolder-style directories: ``ROOT/<split>/<class name>/<image>``, decoded once
(:func:`cnnzoo.data.decode.decode_image`).

Every image is converted to the requested channels (grayscale "L" or "RGB") and resized to a
square ``img_size`` (bilinear), then the whole split is kept in memory as one uint8 tensor, so
that batches are sliced and augmented as tensors.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image

from cnnzoo.data.decode import decode_image
from cnnzoo.data.transforms import to_tensor

__all__ = ["IMAGE_EXTENSIONS", "load_image", "load_image_folder", "list_classes"]

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


def _image_files(cls_dir: Path) -> list[Path]:
    return [f for f in sorted(cls_dir.rglob("*")) if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS]


def load_image_folder(root: str | os.PathLike, split: str, in_chans: int, img_size: int,
                      classes: list[str] | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Images uint8 (N, C, S, S), labels int64 (N,) and class names of ``root/split``.

    ``classes`` (those of the training split) fixes the labels; a class folder of ``split`` outside it
    is an error, and so is a class folder without images.
    """
    split_dir = Path(root) / split
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{split_dir}: no such directory (an image folder needs {root}/train and "
                                f"{root}/val, each with one sub-directory per class)")
    present = list_classes(split_dir)
    classes = classes or present
    unknown = sorted(set(present) - set(classes))
    if unknown:
        raise ValueError(f"{split_dir}: class folder(s) {', '.join(unknown)} are not classes of the training "
                         f"split (expected only {', '.join(classes)})")
    images, labels = [], []
    for idx, cls in enumerate(classes):
        cls_dir = split_dir / cls
        if not cls_dir.is_dir():
            continue
        files = _image_files(cls_dir)
        if not files:
            raise ValueError(f"{cls_dir}: no images in this class folder (each class folder needs at least one "
                             f"image; extensions: {', '.join(IMAGE_EXTENSIONS)})")
        for f in files:
            images.append(load_image(f, in_chans, img_size))
            labels.append(idx)
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64), classes
