"""The per-image train and eval transforms of the ImageNet lineage, on one decoded image.

* :class:`TrainTransform`: RandomResizedCrop (Szegedy et al. 2015, "Going deeper with convolutions",
  §6: patches of 8 %–100 % of the image area with aspect ratio in [3/4, 4/3]) and a horizontal flip.
  The crop box is drawn exactly as torchvision's ``RandomResizedCrop.get_params`` draws it (ten tries,
  then the central crop of the clamped aspect ratio) from the global torch RNG, so the same seed gives
  the same boxes as torchvision, and a DataLoader's per-worker seeding makes an epoch reproducible.
  The transform decodes the file itself (libjpeg-turbo for plain JPEGs), knowing the box first, and
  resizes the uncopied crop with PyTorch's uint8 antialiased kernel; a JPEG is decoded at 1/2, 1/4 or
  1/8 size when the crop is downscaled at least 2×.
* :class:`EvalTransform`: resize the shorter side to ``floor(size / crop_pct)`` then center-crop
  ``size`` (torchvision's ``Resize`` + ``CenterCrop``, timm's eval transform), on the Pillow image,
  pixel for pixel as torchvision does it on a Pillow image.

Both return uint8 tensors (channels, size, size); normalisation and the batch augmentations
(RandAugment, mixup, …) run afterwards on the batch.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from cnnzoo.data.decode import (
    available_decoders,
    decode_loaded,
    decode_loaded_array,
    open_image,
    resolve_decoder,
    upright_size,
)

if TYPE_CHECKING:
    from cnnzoo.data.config import DataConfig

__all__ = ["TrainTransform", "EvalTransform", "transforms_for", "random_resized_crop_params", "INTERPOLATIONS",
           "eval_resize_size", "to_tensor", "decode_held"]

#: interpolation names → Pillow resampling filters
INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}

#: interpolations with a uint8 kernel in PyTorch (antialiased when downscaling)
_TORCH_MODES = {"nearest": "nearest", "bilinear": "bilinear", "bicubic": "bicubic"}


def train_decoder() -> str:
    """The training transform's default decoder: libjpeg-turbo (simplejpeg) where installed, else Pillow."""
    return "simplejpeg" if "simplejpeg" in available_decoders() else "pillow"


def _resample(interpolation: str) -> Image.Resampling:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {interpolation!r} (expected one of {', '.join(INTERPOLATIONS)})")
    return INTERPOLATIONS[interpolation]


def _check_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int (the output side in pixels), got {size!r}")
    return size


def _check_channels(channels: object) -> int:
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    return channels  # type: ignore[return-value]


def to_tensor(im: Image.Image) -> torch.Tensor:
    """A Pillow "L" or "RGB" image as a uint8 tensor (C, H, W)."""
    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.transpose(2, 0, 1).copy())  # one copy: Pillow's buffer is read-only


def random_resized_crop_params(width: int, height: int, scale: tuple[float, float] = (0.08, 1.0),
                               ratio: tuple[float, float] = (3 / 4, 4 / 3),
                               generator: torch.Generator | None = None) -> tuple[int, int, int, int]:
    """A crop box (top, left, height, width) of a ``width`` × ``height`` image: area a uniform fraction
    in ``scale`` of the image's, log-uniform aspect ratio in ``ratio``; ten tries, then the whole image
    clamped to the ratio range, centered. Drawn in torchvision's order from ``generator``, else from the
    global torch RNG."""
    area = height * width
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1], generator=generator).item()
        aspect = math.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1], generator=generator).item())
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, size=(1,), generator=generator).item())
            left = int(torch.randint(0, width - w + 1, size=(1,), generator=generator).item())
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


class TrainTransform:
    """Decode, RandomResizedCrop to ``size`` × ``size``, flip horizontally with probability ``hflip``.

    ``src`` is what :func:`cnnzoo.data.decode_image` takes (a path, bytes or a Pillow image); the
    result is uint8 (``channels``, size, size). The crop is cut from the decoded pixels without a copy
    and resized by PyTorch's uint8 antialiased kernel (``F.interpolate(..., antialias=True)``, the one
    torchvision's v2 transforms use on uint8 tensors; within a level or two of Pillow's resize, and
    1.9× faster per image than Pillow's decode + crop + resize on a 2-core Zen 3: BENCHMARKS.md). Plain
    JPEGs are decoded by libjpeg-turbo with its fast integer DCT and chroma upsampling (``decoder``
    "simplejpeg", the default where installed; training-time pixels within a few levels of the exact
    decode). ``draft``: when the crop is downscaled at least 2×, the JPEG is decoded at 1/2, 1/4 or
    1/8 size by the DCT (the box is then rounded to whole pixels of the reduced image).
    Interpolations PyTorch has no uint8 kernel for (lanczos, box, hamming) resize with Pillow.
    """

    def __init__(self, size: int, scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), hflip: float = 0.5, interpolation: str = "bilinear",
                 channels: int = 3, draft: bool = True, decoder: str | None = None) -> None:
        self.size = _check_size(size)
        if not (len(scale) == 2 and 0 < scale[0] <= scale[1] <= 1):
            raise ValueError(f"scale must be (min, max) area fractions with 0 < min <= max <= 1, got {scale!r}")
        if not (len(ratio) == 2 and 0 < ratio[0] <= ratio[1]):
            raise ValueError(f"ratio must be (min, max) aspect ratios with 0 < min <= max, got {ratio!r}")
        if not 0.0 <= hflip <= 1.0:
            raise ValueError(f"hflip must be a probability in [0, 1], got {hflip!r}")
        self.scale, self.ratio, self.hflip = tuple(scale), tuple(ratio), float(hflip)
        self.interpolation = interpolation
        self.resample = _resample(interpolation)
        self.channels = _check_channels(channels)
        self.draft, self.decoder = draft, resolve_decoder(decoder or train_decoder())

    def __repr__(self) -> str:
        return (f"TrainTransform(size={self.size}, scale={self.scale}, ratio={tuple(round(r, 4) for r in self.ratio)}, "
                f"hflip={self.hflip}, interpolation={self.interpolation!r}, channels={self.channels})")

    def __call__(self, src: str | os.PathLike | bytes | Image.Image) -> torch.Tensor:
        im = open_image(src)
        width, height = upright_size(im)
        top, left, h, w = random_resized_crop_params(width, height, self.scale, self.ratio)
        flip = torch.rand(1).item() < self.hflip  # drawn as by crop()
        draft = None
        factor = min(w, h) / self.size
        if self.draft and factor >= 2:  # a DCT-reduced decode (1/2, 1/4, 1/8) that keeps the box >= size
            draft = (math.ceil(width / factor), math.ceil(height / factor))
        if self.interpolation not in _TORCH_MODES:
            return self._pillow(im, src, (left, top, left + w, top + h), draft, flip)
        arr = decode_loaded_array(im, src, self.channels, draft, self.decoder, fast=True)
        if arr.shape[:2] != (height, width):  # decoded at reduced size: the box in its whole pixels
            sy, sx = arr.shape[0] / height, arr.shape[1] / width
            top, left = round(top * sy), round(left * sx)
            h, w = max(1, min(round(h * sy), arr.shape[0] - top)), max(1, min(round(w * sx), arr.shape[1] - left))
        return self._resize(torch.from_numpy(arr[top:top + h, left:left + w]), flip)

    def _resize(self, crop: torch.Tensor, flip: bool) -> torch.Tensor:
        """A crop (h, w, channels) resized to (channels, size, size) by PyTorch's uint8 kernel, and flipped."""
        mode = _TORCH_MODES[self.interpolation]
        out = F.interpolate(crop.permute(2, 0, 1)[None], size=(self.size, self.size), mode=mode,  # channels-last
                            antialias=mode != "nearest", align_corners=None if mode == "nearest" else False)[0]
        if flip:
            out = out.flip(-1)
        return out.contiguous()

    def crop(self, image: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The transform of an image already decoded and held in memory as uint8 (H, W, channels) (see
        :func:`decode_held`): the same draws from ``generator`` (else the global torch RNG), box and resize
        as on a file, so an image held at its decoded size gives the pixels the file gives."""
        height, width = image.shape[:2]
        top, left, h, w = random_resized_crop_params(width, height, self.scale, self.ratio, generator)
        flip = torch.rand(1, generator=generator).item() < self.hflip
        if self.interpolation in _TORCH_MODES:
            return self._resize(image[top:top + h, left:left + w], flip)
        im = Image.fromarray(image.numpy() if self.channels == 3 else image[:, :, 0].numpy())
        return self._pillow(im, im, (left, top, left + w, top + h), None, flip)

    def _pillow(self, im: Image.Image, src: str | os.PathLike | bytes | Image.Image, box: tuple[int, int, int, int],
                draft: tuple[int, int] | None, flip: bool) -> torch.Tensor:
        width, height = upright_size(im)
        im = decode_loaded(im, src, self.channels, draft, self.decoder)
        sx, sy = im.size[0] / width, im.size[1] / height
        out = im.resize((self.size, self.size), self.resample,
                        box=(box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy))
        if flip:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return to_tensor(out)


def decode_held(src: str | os.PathLike | bytes | Image.Image, channels: int, max_side: int,
                interpolation: str = "bilinear", decoder: str | None = None) -> torch.Tensor:
    """An image decoded as :class:`TrainTransform` decodes it, to be held in memory and cropped by
    :meth:`TrainTransform.crop`: uint8 (H, W, ``channels``), upright, its shorter side reduced to
    ``max_side`` (aspect ratio kept; the model's interpolation, antialiased) where it is longer."""
    im = open_image(src)
    width, height = upright_size(im)
    factor = min(width, height) / _check_size(max_side)
    draft = (math.ceil(width / factor), math.ceil(height / factor)) if factor >= 2 else None
    arr = decode_loaded_array(im, src, _check_channels(channels), draft, resolve_decoder(decoder or train_decoder()),
                              fast=True)
    x = torch.from_numpy(arr)
    short = min(x.shape[0], x.shape[1])
    if short <= max_side:
        return x
    new = (max(1, round(x.shape[0] * max_side / short)), max(1, round(x.shape[1] * max_side / short)))
    if interpolation not in _TORCH_MODES:
        pil = Image.fromarray(arr if channels == 3 else arr[:, :, 0])
        out = to_tensor(pil.resize((new[1], new[0]), _resample(interpolation)))
    else:
        mode = _TORCH_MODES[interpolation]
        out = F.interpolate(x.permute(2, 0, 1)[None], size=new, mode=mode, antialias=mode != "nearest",
                            align_corners=None if mode == "nearest" else False)[0]
    return out.permute(1, 2, 0).contiguous()


def eval_resize_size(size: int, crop_pct: float) -> int:
    """The shorter side before the center crop: ``floor(size / crop_pct)`` (timm's rule; torchvision's
    ``resize_size`` when ``crop_pct`` = crop / resize). A 1e-6 guard keeps ratios declared as
    fractions such as 224 / 232 from flooring to 231 by rounding error."""
    return int(math.floor(size / crop_pct + 1e-6))


class EvalTransform:
    """Decode, resize the shorter side to ``floor(size / crop_pct)``, center-crop ``size`` × ``size``.

    Equal to torchvision's ``Resize(floor(size / crop_pct), interpolation)`` + ``CenterCrop(size)`` on
    the decoded Pillow image (same pixels). ``draft``: decode JPEGs at reduced size first (off by
    default, so that evaluation sees exactly the reference's pixels).
    """

    def __init__(self, size: int, crop_pct: float = 0.875, interpolation: str = "bilinear", channels: int = 3,
                 draft: bool = False, decoder: str | None = None) -> None:
        self.size = _check_size(size)
        if not (isinstance(crop_pct, (int, float)) and 0 < crop_pct <= 1):
            raise ValueError(f"crop_pct must be in (0, 1] (the center crop's share of the resized side), "
                             f"got {crop_pct!r}")
        self.crop_pct = float(crop_pct)
        self.resize_size = eval_resize_size(self.size, self.crop_pct)
        self.interpolation = interpolation
        self.resample = _resample(interpolation)
        self.channels = _check_channels(channels)
        self.draft, self.decoder = draft, resolve_decoder(decoder)

    def __repr__(self) -> str:
        return (f"EvalTransform(size={self.size}, crop_pct={self.crop_pct:.4g} (resize {self.resize_size}), "
                f"interpolation={self.interpolation!r}, channels={self.channels})")

    def _resized_size(self, width: int, height: int) -> tuple[int, int]:
        """torchvision's Resize(int): the shorter side to resize_size, the longer one truncated."""
        r = self.resize_size
        return (r, int(r * height / width)) if width <= height else (int(r * width / height), r)

    def __call__(self, src: str | os.PathLike | bytes | Image.Image) -> torch.Tensor:
        im = open_image(src)
        width, height = upright_size(im)
        new_w, new_h = self._resized_size(width, height)
        draft = (new_w, new_h) if self.draft else None
        im = decode_loaded(im, src, self.channels, draft, self.decoder)
        if im.size != (new_w, new_h):
            im = im.resize((new_w, new_h), self.resample)
        top = int(round((new_h - self.size) / 2.0))
        left = int(round((new_w - self.size) / 2.0))
        return to_tensor(im.crop((left, top, left + self.size, top + self.size)))


def transforms_for(config: DataConfig, train: bool, scale: tuple[float, float] = (0.08, 1.0),
                   ratio: tuple[float, float] = (3 / 4, 4 / 3), hflip: float = 0.5, channels: int = 3,
                   size: int | None = None, **kwargs) -> TrainTransform | EvalTransform:
    """The train or eval transform of a :class:`~cnnzoo.data.config.DataConfig`: training at
    ``config.input_size``, evaluation at ``config.test_input_size`` (as timm's validate.py), or at
    ``size`` when given (e.g. a progressive-learning stage); evaluation at the test size uses the
    config's ``test_crop_pct`` where it has one. ``kwargs``: ``draft``, ``decoder``."""
    if train:
        return TrainTransform(size or config.input_size, scale=scale, ratio=ratio, hflip=hflip,
                              interpolation=config.interpolation, channels=channels, **kwargs)
    crop_pct = config.crop_pct if size and size != config.test_input_size else config.eval_crop_pct
    return EvalTransform(size or config.test_input_size, crop_pct=crop_pct,
                         interpolation=config.interpolation, channels=channels, **kwargs)
