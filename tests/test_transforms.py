"""decode_image and the train/eval transforms: image modes, EXIF, draft mode, decoders, errors,
determinism (against torchvision itself: tests/test_data_reference.py)."""

import io
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from cnnzoo.data import EvalTransform, ImageDecodeError, TrainTransform, decode_image
from cnnzoo.data.transforms import random_resized_crop_params


def _photo(w: int, h: int, seed: int = 0) -> np.ndarray:
    """Smooth content with edges (what JPEG is made for), uint8 (h, w, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w * 200, y / h * 200, (x + y) / (w + h) * 120 + 60], -1)
    img[h // 4: h // 2, w // 3: w // 2] = rng.integers(0, 255, 3)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def _encode(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return _encode(Image.fromarray(_photo(320, 240)), "JPEG", quality=95)


def test_shapes_dtypes_and_channels(jpeg):
    for t in (TrainTransform(48), EvalTransform(48), TrainTransform(40, channels=1), EvalTransform(40, channels=1)):
        x = t(jpeg)
        assert x.dtype == torch.uint8 and x.shape == (t.channels, t.size, t.size), t
    t = pickle.loads(pickle.dumps(TrainTransform(24, interpolation="bicubic")))  # DataLoader workers get copies
    assert t(jpeg).shape == (3, 24, 24) and t.interpolation == "bicubic"
    with pytest.raises(ValueError, match="channels"):
        TrainTransform(32, channels=2)
    with pytest.raises(ValueError, match="scale"):
        TrainTransform(32, scale=(0.5, 0.1))
    with pytest.raises(ValueError, match="interpolation"):
        EvalTransform(32, interpolation="cubic")


def test_train_transform_is_deterministic_under_a_seed_and_flips(jpeg):
    t = TrainTransform(32)
    torch.manual_seed(3)
    a = [t(jpeg) for _ in range(4)]
    torch.manual_seed(3)
    b = [t(jpeg) for _ in range(4)]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(a[0], x) for x in a[1:])  # the crops differ from image to image
    torch.manual_seed(5)
    plain = TrainTransform(32, hflip=0.0)(jpeg)
    torch.manual_seed(5)
    flipped = TrainTransform(32, hflip=1.0)(jpeg)
    assert torch.equal(flipped, plain.flip(-1))


def test_crop_box_fallback_is_the_central_crop():
    torch.manual_seed(0)
    # 1000 × 10: no area of >= 8 % fits at ratio <= 4/3, so all ten tries fail → centre, ratio clamped to 4/3
    assert random_resized_crop_params(1000, 10) == (0, (1000 - 13) // 2, 10, 13)
    assert random_resized_crop_params(10, 1000) == ((1000 - 13) // 2, 0, 13, 10)
    top, left, h, w = random_resized_crop_params(400, 300, scale=(1.0, 1.0), ratio=(4 / 3, 4 / 3))
    assert (top, left, h, w) == (0, 0, 300, 400)


def test_eval_transform_hand_computed():
    arr = np.arange(40 * 60, dtype=np.uint8).reshape(40, 60)  # 60 wide, 40 high
    im = Image.fromarray(arr, "L")
    t = EvalTransform(16, crop_pct=0.5, interpolation="nearest", channels=1)  # resize shorter side to 32
    assert t.resize_size == 32
    out = t(im)[0].numpy()
    want = np.asarray(im.resize((48, 32), Image.Resampling.NEAREST))[8:24, 16:32]  # centred 16 × 16
    assert np.array_equal(out, want)


def test_modes_come_out_right(tmp_path):
    rgb = _photo(24, 16)
    gray = Image.fromarray(rgb[:, :, 0], "L")
    out = np.asarray(decode_image(_encode(gray, "PNG")))
    assert out.shape == (16, 24, 3) and (out[..., 0] == out[..., 2]).all() and (out[..., 0] == rgb[..., 0]).all()
    pal = Image.fromarray(rgb).quantize(16)
    assert np.array_equal(np.asarray(decode_image(_encode(pal, "PNG"))), np.asarray(pal.convert("RGB")))
    deep = (np.arange(16 * 24, dtype=np.uint16).reshape(16, 24) * 170)  # 16-bit grayscale, up to 65110
    png16 = _encode(Image.fromarray(deep), "PNG")
    got = np.asarray(decode_image(png16, channels=1))
    assert got.dtype == np.uint8 and np.array_equal(got, np.rint(deep / 257.0).astype(np.uint8))
    rgba = np.dstack([rgb, np.where(np.arange(24) < 12, 0, 255).astype(np.uint8)[None].repeat(16, 0)])
    out = np.asarray(decode_image(_encode(Image.fromarray(rgba, "RGBA"), "PNG")))
    assert (out[:, :12] == 0).all() and np.array_equal(out[:, 12:], rgb[:, 12:])  # transparent → black
    red = Image.new("CMYK", (32, 32), (0, 255, 255, 0))
    out = np.asarray(decode_image(_encode(red, "JPEG", quality=95))).astype(int)
    assert out.shape == (32, 32, 3) and (out[..., 0] > 230).all() and (out[..., 1:] < 25).all()


def test_exif_rotation_everywhere(jpeg):
    im = Image.fromarray(_photo(60, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90° clockwise to display
    data = _encode(im, "PNG", exif=exif.tobytes())
    upright = im.transpose(Image.Transpose.ROTATE_270)
    assert np.array_equal(np.asarray(decode_image(data)), np.asarray(upright))
    plain = _encode(upright, "PNG")
    assert torch.equal(EvalTransform(24, 0.8)(data), EvalTransform(24, 0.8)(plain))
    torch.manual_seed(1)
    a = TrainTransform(24)(data)
    torch.manual_seed(1)
    assert torch.equal(a, TrainTransform(24)(plain))  # crop boxes drawn on the upright size


def test_draft_mode_same_size_close_pixels(jpeg):
    im = decode_image(jpeg, draft_size=(80, 60))
    assert im.size == (80, 60)  # 1/4 of 320 × 240 (the largest reduction keeping >= 80 × 60)
    assert decode_image(jpeg, draft_size=(81, 60)).size == (160, 120)
    for _ in range(3):
        seed = int(torch.randint(0, 10_000, (1,)))
        torch.manual_seed(seed)
        # a crop downscaled >= 2× is decoded at 1/2 or 1/4 size (the box rounded to its whole pixels)
        fast = TrainTransform(64, scale=(0.9, 1.0), draft=True)(jpeg).float()
        torch.manual_seed(seed)
        full = TrainTransform(64, scale=(0.9, 1.0), draft=False)(jpeg).float()
        assert fast.shape == full.shape and (fast - full).abs().mean() < 3.0
    e_fast, e_full = EvalTransform(24, draft=True)(jpeg).float(), EvalTransform(24)(jpeg).float()
    assert (e_fast - e_full).abs().mean() < 3.0


def test_undecodable_images_name_the_file(tmp_path, jpeg):
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(jpeg[: len(jpeg) // 2])
    for fn in (decode_image, TrainTransform(16), EvalTransform(16)):
        with pytest.raises(ImageDecodeError, match="cut.jpg"):
            fn(bad)
        with pytest.raises(ImageDecodeError, match="<bytes>"):
            fn(b"not an image")
    with pytest.raises(ImageDecodeError, match="no such image file"):
        decode_image(tmp_path / "missing.png")
    assert issubclass(ImageDecodeError, ValueError)


def test_simplejpeg_decoder_gives_the_same_images(jpeg):
    pytest.importorskip("simplejpeg")
    gray = _encode(Image.fromarray(_photo(64, 48)[:, :, 1], "L"), "JPEG")
    cmyk = _encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG")
    exif = Image.Exif()
    exif[0x0112] = 8
    rotated = _encode(Image.fromarray(_photo(60, 30)), "JPEG", exif=exif.tobytes())
    for data in (jpeg, gray, cmyk, rotated):  # plain JPEGs by libjpeg-turbo, the others through Pillow
        for channels in (3, 1):
            a = decode_image(data, channels, decoder="simplejpeg")
            b = decode_image(data, channels, decoder="pillow")
            assert a.mode == b.mode and np.array_equal(np.asarray(a), np.asarray(b))
    small = decode_image(jpeg, draft_size=(100, 70), decoder="simplejpeg")
    assert 100 <= small.size[0] < 320 and 70 <= small.size[1] < 240  # an M/8 scale (here 3/8: 120 × 90)
    torch.manual_seed(2)
    a = TrainTransform(64, scale=(0.9, 1.0), decoder="simplejpeg")(jpeg).float()
    torch.manual_seed(2)
    b = TrainTransform(64, scale=(0.9, 1.0), draft=False, decoder="pillow")(jpeg).float()
    assert (a - b).abs().mean() < 3.0
    with pytest.raises(ValueError, match="unknown decoder"):
        decode_image(jpeg, decoder="libjpeg")


def test_a_missing_optional_decoder_falls_back_to_pillow(monkeypatch, jpeg):
    import cnnzoo.data.decode as decode

    monkeypatch.setattr(decode, "available_decoders", lambda: ("pillow",))
    with pytest.warns(UserWarning, match="not installed"):
        t = TrainTransform(16, decoder="simplejpeg")
    assert t.decoder == "pillow" and t(jpeg).shape == (3, 16, 16)
