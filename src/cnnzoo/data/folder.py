"""ImageFolder-style directories: ``ROOT/<split>/<class name>/<image>``, decoded once with Pillow.

Every image is converted to the requested channels (grayscale "L" or "RGB") and resized to a
square ``img_size`` (bilinear), then the whole split is kept in memory as one uint8 tensor, so
that batches are sliced and augmented as tensors.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

__all__ = ["IMAGE_EXTENSIONS", "load_image", "load_image_folder", "list_classes"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def load_image(path: str | os.PathLike, in_chans: int, img_size: int | None) -> torch.Tensor:
    """One image as uint8 (C, H, W); an undecodable file is a ValueError naming it."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            im = im.convert("L" if in_chans == 1 else "RGB")
            if img_size and im.size != (img_size, img_size):
                im = im.resize((img_size, img_size), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"{path}: cannot decode image ({err})") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if in_chans not in (1, 3):
        raise ValueError(f"in_chans must be 1 or 3 for image files, got {in_chans}")
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def list_classes(split_dir: Path) -> list[str]:
    classes = sorted(d.name for d in split_dir.iterdir() if d.is_dir())
    if not classes:
        raise ValueError(f"{split_dir}: no class sub-directories (expected {split_dir}/<class>/<image>)")
    return classes


def load_image_folder(root: str | os.PathLike, split: str, in_chans: int, img_size: int,
                      classes: list[str] | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Images uint8 (N, C, S, S), labels int64 (N,) and class names of ``root/split``."""
    split_dir = Path(root) / split
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{split_dir}: no such directory (an image folder needs {root}/train and "
                                f"{root}/val, each with one sub-directory per class)")
    classes = classes or list_classes(split_dir)
    images, labels = [], []
    for idx, cls in enumerate(classes):
        cls_dir = split_dir / cls
        if not cls_dir.is_dir():
            continue
        for f in sorted(cls_dir.rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS:
                images.append(load_image(f, in_chans, img_size))
                labels.append(idx)
    if not images:
        raise ValueError(f"{split_dir}: no images found (extensions: {', '.join(IMAGE_EXTENSIONS)})")
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64), classes
