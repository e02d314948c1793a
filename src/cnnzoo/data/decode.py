"""Decoding one image file into an upright 8-bit RGB or grayscale Pillow image.

The one implementation of "what an image file means" for every source (in-memory folders, lazy
folders, shards): EXIF orientation applied, 16-bit grayscale scaled (not clipped) to 8 bits,
transparency composited onto black, palette / CMYK / YCbCr / 1-bit / float modes converted.

JPEG files can be decoded at a reduced size (``draft_size``): libjpeg scales the DCT (by 1/2, 1/4
or 1/8 through Pillow's draft mode; by any M/8 through simplejpeg) while decoding, which is several
times faster than decoding at full size and resizing when the result is downscaled anyway (large
photos; small training sizes).

Decoders (:data:`DECODERS`): ``"pillow"`` (the default of :func:`decode_image` and evaluation) and
``"simplejpeg"`` (libjpeg-turbo through the ``simplejpeg`` package, a dependency; the training
transform's default; where it cannot be imported, Pillow with a warning).
A non-Pillow decoder is used only for what it decodes correctly — baseline/progressive JPEGs in
YCbCr or grayscale without an EXIF rotation; everything else (CMYK, rotated, PNG, …) falls back to
Pillow, so that at full size the result is the same image either way. See README, "Data configs
and transforms".
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnnzoo._warn import warn_user

__all__ = ["ImageDecodeError", "decode_image", "DECODERS", "DEFAULT_DECODER", "available_decoders",
           "exif_orientation", "upright_size", "open_image", "decode_loaded", "decode_loaded_array", "to_8bit",
           "resolve_decoder"]

#: decoder names accepted by ``decode_image(decoder=...)``
DECODERS = ("pillow", "simplejpeg")
#: the decoder used when none is named (chosen by measurement; see README)
DEFAULT_DECODER = "pillow"

#: EXIF orientations (tag 0x0112) that turn the image by 90° (width and height swap)
_TRANSPOSED = (5, 6, 7, 8)

class ImageDecodeError(ValueError):
    """An image that cannot be decoded; the message names the file (or ``<bytes>``) and why."""


def _reason(err: BaseException) -> str:
    if isinstance(err, UnidentifiedImageError):
        return "not an image file of a format Pillow reads"
    return str(err) or type(err).__name__


def _name(src: object) -> str:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return "<bytes>"
    if isinstance(src, Image.Image):
        return getattr(src, "filename", "") or "<image>"
    return str(src)


@functools.cache
def available_decoders() -> tuple[str, ...]:
    """The decoders importable here (``"pillow"`` always)."""
    try:
        import simplejpeg  # noqa: F401  (imported where it is asked for: worker processes only)
    except ImportError:
        return ("pillow",)
    return ("pillow", "simplejpeg")


def resolve_decoder(decoder: str | None) -> str:
    """``decoder`` checked (None: :data:`DEFAULT_DECODER`); an optional decoder that is not installed
    falls back to Pillow with a warning."""
    decoder = decoder or DEFAULT_DECODER
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r} (expected one of {', '.join(DECODERS)})")
    if decoder not in available_decoders():
        warn_user(f"decoder {decoder!r} is not installed (pip install simplejpeg); decoding with Pillow")
        return "pillow"
    return decoder


def to_8bit(im: Image.Image) -> Image.Image:
    """``im`` upright (EXIF orientation applied) and in mode "L" or "RGB".

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


def exif_orientation(im: Image.Image) -> int:
    """The EXIF orientation of an opened (not necessarily decoded) image: 1 (upright) to 8."""
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # a malformed EXIF block: Pillow's exif_transpose ignores it too
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def upright_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) of ``im`` once its EXIF orientation is applied, read from the header only."""
    w, h = im.size
    return (h, w) if exif_orientation(im) in _TRANSPOSED else (w, h)


def open_image(src: str | os.PathLike | bytes | Image.Image) -> Image.Image:
    """``src`` opened (header read, pixels not yet decoded); :class:`ImageDecodeError` if it is no image."""
    if isinstance(src, Image.Image):
        return src
    try:
        if isinstance(src, (bytes, bytearray, memoryview)):
            return Image.open(io.BytesIO(bytes(src)))
        path = Path(src)
        if not path.is_file():
            raise ImageDecodeError(f"{path}: no such image file")
        return Image.open(path)
    except ImageDecodeError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ImageDecodeError(f"{_name(src)}: cannot decode image ({_reason(err)})") from None


def _draft(im: Image.Image, draft_size: tuple[int, int]) -> None:
    """Ask a JPEG for reduced-size decoding that keeps it at least ``draft_size`` (upright w, h)."""
    if im.format != "JPEG" or getattr(im, "decoderconfig", None):
        return
    w, h = draft_size
    if exif_orientation(im) in _TRANSPOSED:
        w, h = h, w
    if w >= 1 and h >= 1:
        im.draft(None, (int(w), int(h)))


def _plain_jpeg(im: Image.Image) -> bool:
    """Whether libjpeg-turbo decodes ``im`` as Pillow would: a YCbCr or grayscale JPEG, upright."""
    return im.format == "JPEG" and im.mode in ("RGB", "L") and exif_orientation(im) == 1


def _simplejpeg_array(im: Image.Image, data: bytes, channels: int, draft_size: tuple[int, int] | None,
                      fast: bool = False) -> np.ndarray | None:
    """(H, W, channels) uint8 pixels of a plain JPEG by libjpeg-turbo, or None where Pillow must decode it.
    ``fast``: libjpeg-turbo's fast integer DCT and chroma upsampling (pixels within a few levels)."""
    import simplejpeg

    if not _plain_jpeg(im):
        return None
    kwargs: dict = {}
    if draft_size:
        kwargs = dict(min_width=int(draft_size[0]), min_height=int(draft_size[1]), min_factor=1)
    gray = im.mode == "L"
    arr = simplejpeg.decode_jpeg(data, colorspace="GRAY" if gray else "RGB", fastdct=fast, fastupsample=fast, **kwargs)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if gray and channels == 3:
        return np.repeat(arr, 3, axis=2)
    if not gray and channels == 1:  # Pillow's RGB → L (ITU-R 601-2 luma), as the Pillow path converts
        return np.array(Image.fromarray(arr, "RGB").convert("L"))[:, :, None]
    return arr


def _read(src: str | os.PathLike | bytes) -> bytes:
    return bytes(src) if isinstance(src, (bytes, bytearray, memoryview)) else Path(src).read_bytes()


@contextlib.contextmanager
def _decode_errors(src: object, im: Image.Image):
    """Any decoding failure as one :class:`ImageDecodeError` naming ``src``; the opened file closed after."""
    try:
        yield
    except ImageDecodeError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ImageDecodeError(f"{_name(src)}: cannot decode image ({_reason(err)})") from None
    finally:
        if not isinstance(src, Image.Image):
            im.close()  # the file opened by open_image (results are new images or arrays)


def decode_image(src: str | os.PathLike | bytes | Image.Image, channels: int = 3,
                 draft_size: tuple[int, int] | None = None, decoder: str | None = None) -> Image.Image:
    """Decode ``src`` (a path, the file's bytes or a Pillow image) into an upright Pillow image in
    mode "RGB" (``channels`` 3) or "L" (``channels`` 1).

    ``draft_size`` (width, height of the upright image): a JPEG may be decoded at reduced size, the
    largest reduction that keeps it at least that big (other formats ignore it): 1/2, 1/4 or 1/8 with
    Pillow, any of libjpeg's M/8 scales with simplejpeg (so the two may return different sizes).
    ``decoder``: one of :data:`DECODERS` (default :data:`DEFAULT_DECODER`); see the module docstring.
    Anything undecodable (not an image, truncated, missing) is an :class:`ImageDecodeError` naming it.
    """
    return decode_loaded(open_image(src), src, channels, draft_size, decoder)


def decode_loaded(im: Image.Image, src: str | os.PathLike | bytes | Image.Image, channels: int = 3,
                  draft_size: tuple[int, int] | None = None, decoder: str | None = None) -> Image.Image:
    """:func:`decode_image` of ``im``, already opened from ``src`` by :func:`open_image` (so that a
    caller can read the header, e.g. the size, before choosing ``draft_size``)."""
    _check_channels(channels)
    decoder = resolve_decoder(decoder)
    with _decode_errors(src, im):
        if decoder == "simplejpeg" and not isinstance(src, Image.Image):
            arr = _simplejpeg_array(im, _read(src), channels, draft_size)
            if arr is not None:
                return Image.fromarray(arr[:, :, 0], "L") if channels == 1 else Image.fromarray(arr, "RGB")
        return _pillow(im, channels, draft_size)


def decode_loaded_array(im: Image.Image, src: str | os.PathLike | bytes | Image.Image, channels: int = 3,
                        draft_size: tuple[int, int] | None = None, decoder: str | None = None,
                        fast: bool = False) -> np.ndarray:
    """:func:`decode_loaded` as an (H, W, ``channels``) uint8 array, without an intermediate Pillow image
    where libjpeg-turbo decodes the file; ``fast`` as in the training transform (see
    :class:`~cnnzoo.data.transforms.TrainTransform`)."""
    _check_channels(channels)
    decoder = resolve_decoder(decoder)
    with _decode_errors(src, im):
        if decoder == "simplejpeg" and not isinstance(src, Image.Image):
            arr = _simplejpeg_array(im, _read(src), channels, draft_size, fast)
            if arr is not None:
                return arr
        arr = np.array(_pillow(im, channels, draft_size))  # a writable copy (torch.from_numpy shares it)
        return arr if arr.ndim == 3 else arr[:, :, None]


def _check_channels(channels: object) -> None:
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")


def _pillow(im: Image.Image, channels: int, draft_size: tuple[int, int] | None) -> Image.Image:
    if draft_size:
        _draft(im, draft_size)
    im.load()
    out = to_8bit(im)
    mode = "L" if channels == 1 else "RGB"
    return out if out.mode == mode else out.convert(mode)
