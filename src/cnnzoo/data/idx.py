"""Fashion-MNIST from its gzipped IDX files, validated before use.

IDX (LeCun's MNIST format): a big-endian header ``0x00 0x00 <dtype> <ndim>``, then ``ndim``
big-endian uint32 sizes, then the raw array. Fashion-MNIST ships four such files, gzipped:
``train-images-idx3-ubyte.gz`` (60000×28×28), ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz`` (10000×28×28) and ``t10k-labels-idx1-ubyte.gz``.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

__all__ = ["FASHION_MNIST_CLASSES", "FASHION_MNIST_FILES", "read_idx", "find_fashion_mnist", "load_fashion_mnist",
           "DEFAULT_FASHION_MNIST_DIR", "MISSING_DATA_HELP"]

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
DEFAULT_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
MISSING_DATA_HELP = (
    "On Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist` (files land in "
    f"{DEFAULT_FASHION_MNIST_DIR}). Elsewhere download the four *-ubyte.gz files from "
    "https://github.com/zalandoresearch/fashion-mnist (data/fashion/) into a directory and pass "
    "--data DIR or set CNNZOO_DATA=DIR."
)

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
           0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped if its name ends in ``.gz``); any damage is a ValueError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: corrupt or truncated gzip file ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    ndim = raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise ValueError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:head])
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = head + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: truncated or oversized IDX data: header says shape {tuple(shape)} "
                         f"({expected} bytes), file holds {len(raw)} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=head).reshape(shape)


def find_fashion_mnist(data: str | os.PathLike | None = None) -> Path:
    """The Fashion-MNIST directory: ``data``, else ``$CNNZOO_DATA``, else Debian's package directory."""
    candidates = [Path(data)] if data else []
    if not data and os.environ.get("CNNZOO_DATA"):
        candidates.append(Path(os.environ["CNNZOO_DATA"]))
    if not data:
        candidates.append(Path(DEFAULT_FASHION_MNIST_DIR))
    for cand in candidates:
        if (cand / FASHION_MNIST_FILES["test"][1]).is_file():
            return cand
    where = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"Fashion-MNIST not found (looked in {where}). {MISSING_DATA_HELP}")


def load_fashion_mnist(root: str | os.PathLike, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Images as uint8 (N, 1, 28, 28) and labels as int64 (N,) of ``split`` ("train" or "test")."""
    if split not in FASHION_MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    img_file, lbl_file = (Path(root) / f for f in FASHION_MNIST_FILES[split])
    images, labels = read_idx(img_file), read_idx(lbl_file)
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(f"{img_file}: expected images (N, H, W) and labels (N,), "
                         f"got {images.shape} and {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{img_file}: {len(images)} images but {lbl_file.name} holds {len(labels)} labels")
    if labels.size and labels.max() >= len(FASHION_MNIST_CLASSES):
        raise ValueError(f"{lbl_file}: label {int(labels.max())} out of range 0..9")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))
