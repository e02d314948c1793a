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
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["IMAGE_EXTENSIONS", "load_image", "load_image_folder", "list_classes"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def _to_8bit(im: Image.Image) -> Image.Image:
    """``im`` upright (EXIF orientation applied) and in an 8-bit mode Pillow converts faithfully.

    16-bit grayscale (modes "I;16*" and "I", as Pillow opens 16-bit PNGs) is scaled to 0..255, not
    clipped; transparent pixels (modes "LA", "PA", "RGBA", palette transparency) are composited onto
    black, the background of Fashion-MNIST, so that the colour hidden under them does not show.
    """
    im = ImageOps.exif_transpose(im)
    if im.mode.startswith("I;16") or im.mode == "I":
        arr = np.asarray(im).astype(np.float64)
        im = Image.fromarray(np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8), "L")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba).convert("RGB")
    elif im.mode not in ("L", "RGB"):
        im = im.convert("RGB")  # palette, CMYK, YCbCr, 1-bit, float …
    return im


def load_image(path: str | os.PathLike, in_chans: int, img_size: int | None) -> torch.Tensor:
    """One image as uint8 (C, H, W): upright, 8-bit, ``in_chans`` 1 (grayscale) or 3 (RGB), resized to
    ``img_size`` (bilinear) when given; an undecodable file is a ValueError naming it."""
    if in_chans not in (1, 3):
        raise ValueError(f"in_chans must be 1 or 3 for image files, got {in_chans}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            im = _to_8bit(im).convert("L" if in_chans == 1 else "RGB")
            if img_size and im.size != (img_size, img_size):
                im = im.resize((img_size, img_size), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"{path}: cannot decode image ({err})") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


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
