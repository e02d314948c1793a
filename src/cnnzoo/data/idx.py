"""Fashion-MNIST from its IDX files, validated before use; the dataset's constants live here.

IDX (LeCun's MNIST format): a big-endian header ``0x00 0x00 <dtype> <ndim>``, then ``ndim``
big-endian uint32 sizes, then the raw array. Fashion-MNIST ships four such files, gzipped:
``train-images-idx3-ubyte.gz`` (60000×28×28), ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz`` (10000×28×28) and ``t10k-labels-idx1-ubyte.gz``; each may also
be stored uncompressed (the same name without ``.gz``).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from cnnzoo.tables import plural

__all__ = ["FASHION_MNIST_CLASSES", "FASHION_MNIST_MEAN", "FASHION_MNIST_STD", "FASHION_MNIST_FILES",
           "FASHION_MNIST_SPLITS", "read_idx", "find_fashion_mnist", "fashion_mnist_files", "is_fashion_mnist_dir",
           "load_fashion_mnist", "DEFAULT_FASHION_MNIST_DIR", "MISSING_DATA_HELP"]

#: The ten Fashion-MNIST classes, in label order.
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
#: Fashion-MNIST's training-set pixel mean and standard deviation (pixels in [0, 1]).
FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)
#: The IDX files of each split, as shipped (gzipped); the same names without ``.gz`` are read too.
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_MNIST_SPLITS = tuple(FASHION_MNIST_FILES)
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
        raise ValueError(f"{path}: corrupt or truncated gzip file ({type(err).__name__})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ValueError(f"{path}: not an IDX file (expected the magic number 0x0000, a type code and the number of "
                         f"dimensions{'; the file is empty' if not raw else ''})")
    ndim = raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise ValueError(f"{path}: truncated IDX header: it claims {ndim} dimensions ({head} header bytes), "
                         f"the file holds {len(raw)} bytes")
    shape = struct.unpack(f">{ndim}I", raw[4:head])
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = head + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        # a damaged dimension byte makes ``shape`` hundreds of numbers long: print it only when short
        claim = f"shape {tuple(shape)}" if ndim <= 4 else f"{ndim} dimensions"
        raise ValueError(f"{path}: truncated or oversized IDX data: the header claims {claim} "
                         f"({expected} bytes), the file holds {len(raw)} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=head).reshape(shape)


def _idx_file(root: Path, name: str) -> Path | None:
    """``root/name`` (gzipped) or the same file uncompressed, whichever exists (gzipped first)."""
    for cand in (root / name, root / name.removesuffix(".gz")):
        if cand.is_file():
            return cand
    return None


def is_fashion_mnist_dir(root: str | os.PathLike) -> bool:
    """Whether ``root`` holds any of the Fashion-MNIST IDX files (gzipped or not)."""
    root = Path(root)
    return root.is_dir() and any(_idx_file(root, n) for files in FASHION_MNIST_FILES.values() for n in files)


def fashion_mnist_files(root: str | os.PathLike, split: str) -> tuple[Path, Path]:
    """The (images, labels) IDX files of ``split`` in ``root``; a missing one is a FileNotFoundError naming it."""
    if split not in FASHION_MNIST_FILES:
        raise ValueError(f"Fashion-MNIST has the splits {', '.join(map(repr, FASHION_MNIST_SPLITS))}, got {split!r}")
    root = Path(root)
    found = []
    for name in FASHION_MNIST_FILES[split]:
        path = _idx_file(root, name)
        if path is None:
            raise FileNotFoundError(f"{root / name}: no such file (nor {name.removesuffix('.gz')}). "
                                    f"{MISSING_DATA_HELP}")
        found.append(path)
    return found[0], found[1]


def _expected_files() -> str:
    return ", ".join(n for files in FASHION_MNIST_FILES.values() for n in files)


def find_fashion_mnist(data: str | os.PathLike | None = None) -> Path:
    """The Fashion-MNIST directory: ``data``, else ``$CNNZOO_DATA``, else Debian's package directory.

    A directory given by ``data`` or ``$CNNZOO_DATA`` must hold the IDX files: it is never silently
    replaced by the default one.
    """
    env = os.environ.get("CNNZOO_DATA")
    if data:
        root, origin = Path(data), str(data)
    elif env:
        root, origin = Path(env), f"CNNZOO_DATA={env}"
    else:
        root = Path(DEFAULT_FASHION_MNIST_DIR)
        if is_fashion_mnist_dir(root):
            return root
        raise FileNotFoundError(f"Fashion-MNIST not found (looked in {root}). {MISSING_DATA_HELP}")
    if not root.is_dir():
        raise FileNotFoundError(f"{origin}: no such data directory (expected the Fashion-MNIST IDX files "
                                f"{_expected_files()}, gzipped or not). {MISSING_DATA_HELP}")
    if not is_fashion_mnist_dir(root):
        raise FileNotFoundError(f"{origin}: no Fashion-MNIST IDX files in this directory (expected "
                                f"{_expected_files()}, gzipped or not). {MISSING_DATA_HELP}")
    return root


def load_fashion_mnist(root: str | os.PathLike, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Images as uint8 (N, 1, 28, 28) and labels as int64 (N,) of ``split`` ("train" or "test")."""
    img_file, lbl_file = fashion_mnist_files(root, split)
    images, labels = read_idx(img_file), read_idx(lbl_file)
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(f"{img_file}: expected images (N, H, W) and labels (N,), "
                         f"got {images.shape} and {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{img_file}: {plural(len(images), 'image')} but {lbl_file.name} holds "
                         f"{plural(len(labels), 'label')}")
    bad = labels[(labels < 0) | (labels >= len(FASHION_MNIST_CLASSES))] if labels.size else labels
    if bad.size:
        raise ValueError(f"{lbl_file}: label {int(bad[0])} out of range 0..{len(FASHION_MNIST_CLASSES) - 1}")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))
