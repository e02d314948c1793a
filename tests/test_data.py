"""Data loading: Fashion-MNIST's IDX files, where they are found, and image folders of every image mode."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnzoo import data as data_mod
from cnnzoo.data import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    find_fashion_mnist,
    load_data,
    load_image,
    read_idx,
)
from cnnzoo.data import idx as idx_mod


def _write_idx(path: Path, arr: np.ndarray, gz: bool = True) -> None:
    raw = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def _fake_fashion_mnist(root: Path, gz: bool = True) -> Path:
    """A tiny Fashion-MNIST directory: 6 training and 4 test images whose pixels equal their label."""
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", 6), ("t10k", 4)):
        labels = np.arange(n, dtype=np.uint8) % 10
        images = np.repeat(labels, 28 * 28).reshape(n, 28, 28)
        _write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", images, gz)
        _write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz)
    return root


# -- Fashion-MNIST ------------------------------------------------------------------------------
def test_constants_are_defined_once_and_used_by_load_data(tmp_path):
    assert idx_mod.FASHION_MNIST_MEAN is FASHION_MNIST_MEAN and idx_mod.FASHION_MNIST_STD is FASHION_MNIST_STD
    assert data_mod.FASHION_MNIST_CLASSES is idx_mod.FASHION_MNIST_CLASSES
    assert len(FASHION_MNIST_CLASSES) == 10 and len(FASHION_MNIST_MEAN) == len(FASHION_MNIST_STD) == 1
    d = load_data(_fake_fashion_mnist(tmp_path / "fm"), "test", in_chans=3)
    assert d.classes == list(FASHION_MNIST_CLASSES)
    assert d.mean == FASHION_MNIST_MEAN * 3 and d.std == FASHION_MNIST_STD * 3


@pytest.mark.parametrize("gz", [True, False])
def test_gzipped_and_uncompressed_idx_files(tmp_path, gz):
    root = _fake_fashion_mnist(tmp_path / "fm", gz=gz)
    d = load_data(root, "train")
    assert d.images.shape == (6, 1, 28, 28) and d.labels.tolist() == [0, 1, 2, 3, 4, 5]
    assert torch.equal(d.images[:, 0, 0, 0].long(), d.labels)
    assert d.source == f"fashion-mnist:{root}"
    assert find_fashion_mnist(root) == root
    assert len(load_data(root, "test")) == 4


def test_a_missing_file_of_an_uncompressed_set_is_named(tmp_path):
    root = _fake_fashion_mnist(tmp_path / "fm", gz=False)
    (root / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte\.gz: no such file \(nor t10k-labels"):
        load_data(root, "test")


def test_a_corrupt_dimension_byte_is_a_one_line_message(tmp_path):
    path = tmp_path / "images.gz"
    _write_idx(path, np.zeros((50, 28, 28), np.uint8))
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[3] = 0xFF  # the header now claims 255 dimensions, read from the pixels
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ValueError) as err:
        read_idx(path)
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 300, msg
    assert "255 dimensions" in msg and f"the file holds {len(raw)} bytes" in msg


def test_a_short_corrupt_shape_is_printed(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 7) + bytes(5))
    with pytest.raises(ValueError, match=r"labels: truncated .*shape \(7,\) \(15 bytes\), the file holds 13 bytes"):
        read_idx(path)


@pytest.mark.parametrize("split", ["val", "validation", "TEST"])
def test_fashion_mnist_has_only_train_and_test(tmp_path, split):
    root = _fake_fashion_mnist(tmp_path / "fm")
    with pytest.raises(ValueError, match=rf"Fashion-MNIST has no '{split}' split \(it has 'train' and 'test'\)"):
        load_data(root, split)


def test_out_of_range_labels_are_named(tmp_path):
    root = _fake_fashion_mnist(tmp_path / "fm")
    _write_idx(root / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 12, 3], np.uint8))
    with pytest.raises(ValueError, match=r"label 12 out of range 0\.\.9"):
        load_data(root, "test")


# -- where Fashion-MNIST is found: --data and CNNZOO_DATA alike --------------------------------
@pytest.mark.parametrize("kind", ["missing", "empty", "not_idx"])
def test_cnnzoo_data_that_holds_no_fashion_mnist_is_an_error(tmp_path, monkeypatch, kind):
    target = tmp_path / kind
    if kind != "missing":
        target.mkdir()
    if kind == "not_idx":
        (target / "notes.txt").write_text("no IDX files here")
    monkeypatch.setenv("CNNZOO_DATA", str(target))
    # never silently replaced by the default directory, whether or not that exists
    monkeypatch.setattr(idx_mod, "DEFAULT_FASHION_MNIST_DIR", str(_fake_fashion_mnist(tmp_path / "default")))
    expected = "no such data directory" if kind == "missing" else "no Fashion-MNIST IDX files"
    with pytest.raises(FileNotFoundError, match=rf"^CNNZOO_DATA={target}: {expected}"):
        find_fashion_mnist()
    with pytest.raises(FileNotFoundError, match=rf"^CNNZOO_DATA={target}: {expected}"):
        load_data(None, "test")


def test_cnnzoo_data_and_data_argument_are_used(tmp_path, monkeypatch):
    env_root = _fake_fashion_mnist(tmp_path / "env", gz=False)
    arg_root = _fake_fashion_mnist(tmp_path / "arg")
    monkeypatch.setenv("CNNZOO_DATA", str(env_root))
    assert find_fashion_mnist() == env_root
    assert load_data("fashion-mnist", "test").source == f"fashion-mnist:{env_root}"
    assert find_fashion_mnist(arg_root) == arg_root  # the argument wins over the environment
    with pytest.raises(FileNotFoundError, match=rf"^{tmp_path / 'nope'}: no such data directory"):
        find_fashion_mnist(tmp_path / "nope")


def test_default_directory_when_nothing_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("CNNZOO_DATA", raising=False)
    monkeypatch.setattr(idx_mod, "DEFAULT_FASHION_MNIST_DIR", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        find_fashion_mnist()
    root = _fake_fashion_mnist(tmp_path / "present")
    monkeypatch.setattr(idx_mod, "DEFAULT_FASHION_MNIST_DIR", str(root))
    assert find_fashion_mnist() == root


def test_data_directory_with_neither_format_is_one_error(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "readme.txt").write_text("nothing useful")
    with pytest.raises(FileNotFoundError, match=r"stuff: no Fashion-MNIST IDX files and no image folder"):
        load_data(tmp_path / "stuff", "train")


# -- image files --------------------------------------------------------------------------------
def _save(im: Image.Image, path: Path, **kwargs) -> Path:
    im.save(path, **kwargs)
    return path


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 50], [257 * 200, 65535]], dtype=np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "g16.png")
    with Image.open(path) as im:
        assert im.mode in ("I;16", "I")  # a real 16-bit file
    assert load_image(path, 1, None)[0].tolist() == [[0, 50], [200, 255]]
    assert load_image(path, 3, None)[:, 1, 0].tolist() == [200, 200, 200]


def test_32_bit_integer_mode_holding_16_bit_values(tmp_path):
    im = Image.fromarray(np.array([[0, 257 * 100]], dtype=np.int32), "I")
    path = _save(im, tmp_path / "i32.tif")
    assert load_image(path, 1, None)[0].tolist() == [[0, 100]]


def test_palette_image(tmp_path):
    im = Image.new("P", (2, 1))
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.putpixel((1, 0), 1)
    path = _save(im, tmp_path / "pal.png")
    assert load_image(path, 3, None)[:, 0, :].tolist() == [[0, 255], [0, 0], [0, 0]]
    assert load_image(path, 1, None)[0, 0].tolist() == [0, 76]  # ITU-R 601 luma of pure red


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_transparent_pixels_are_black(tmp_path, mode):
    # an opaque pixel of 200, then a transparent one whose hidden colour is white
    if mode == "LA":
        px = np.array([[[200, 255], [255, 0]]], dtype=np.uint8)
    else:
        px = np.array([[[200, 200, 200, 255], [255, 255, 255, 0]]], dtype=np.uint8)
    path = _save(Image.fromarray(px, mode), tmp_path / f"{mode}.png")
    assert load_image(path, 1, None)[0, 0].tolist() == [200, 0]
    assert load_image(path, 3, None)[:, 0, 1].tolist() == [0, 0, 0]


def test_half_transparent_pixel_is_blended(tmp_path):
    px = np.array([[[200, 128]]], dtype=np.uint8)
    path = _save(Image.fromarray(px, "LA"), tmp_path / "half.png")
    assert abs(int(load_image(path, 1, None)[0, 0, 0]) - 100) <= 1


def test_cmyk_image(tmp_path):
    im = Image.new("CMYK", (2, 1), (0, 0, 0, 0))  # white
    im.putpixel((1, 0), (0, 255, 255, 0))  # red
    path = _save(im, tmp_path / "cmyk.tif")
    assert load_image(path, 3, None)[:, 0, :].tolist() == [[255, 255], [255, 0], [255, 0]]
    assert load_image(path, 1, None)[0, 0, 0].item() == 255


def test_exif_orientation_is_applied(tmp_path):
    px = np.zeros((2, 4), dtype=np.uint8)  # 4 wide, 2 high; one bright pixel at the top left
    px[0, 0] = 255
    im = Image.fromarray(px)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = _save(im, tmp_path / "rot.png", exif=exif)
    out = load_image(path, 1, None)[0]
    assert out.shape == (4, 2)  # displayed upright: 2 wide, 4 high
    assert out[0, 1].item() == 255 and out.sum().item() == 255  # the top left went to the top right


# -- image folders ------------------------------------------------------------------------------
def _folder(root: Path, classes: dict[str, int], split: str = "train") -> Path:
    for name, n in classes.items():
        d = root / split / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(np.full((4, 4), 30 * i, np.uint8)).save(d / f"{i}.png")
    return root


def test_one_class_folder_is_an_error(tmp_path):
    root = _folder(tmp_path / "imgs", {"only": 3})
    with pytest.raises(ValueError, match=r"train: an image folder needs at least 2 class sub-directories.*'only'"):
        load_data(root, "train", in_chans=1, img_size=4)


def test_empty_class_folder_is_an_error(tmp_path):
    root = _folder(tmp_path / "imgs", {"cat": 2, "dog": 0})
    with pytest.raises(ValueError, match=r"train/dog: no images in this class folder \(each class folder needs"):
        load_data(root, "train", in_chans=1, img_size=4)


def test_val_class_unknown_to_train_is_an_error(tmp_path):
    root = _folder(tmp_path / "imgs", {"cat": 2, "dog": 2})
    _folder(root, {"cat": 1, "dog": 1, "emu": 1}, split="val")
    with pytest.raises(ValueError, match=r"val: class folder\(s\) emu are not classes of the training split"):
        load_data(root, "val", in_chans=1, img_size=4)


def test_image_folder_labels_follow_the_training_classes(tmp_path):
    root = _folder(tmp_path / "imgs", {"a": 2, "b": 3, "c": 1})
    _folder(root, {"b": 2, "c": 1}, split="val")  # a class may be absent from val
    train = load_data(root, "train", in_chans=1, img_size=4)
    assert train.classes == ["a", "b", "c"] and train.labels.tolist() == [0, 0, 1, 1, 1, 2]
    val = load_data(root, "test", in_chans=3, img_size=8)  # test -> val/
    assert val.classes == ["a", "b", "c"] and val.labels.tolist() == [1, 1, 2]
    assert val.images.shape == (3, 3, 8, 8)
