"""Per-model data configs: the input size, crop and normalisation a model's weights were made with.

One declared table, :data:`DATA_CONFIGS`, by this rule:

1. where torchvision has the architecture, the preprocessing of the weights torchvision marks
   ``DEFAULT`` (``Weights.DEFAULT.transforms()``: crop size, resize size, interpolation, mean, std;
   input size = test input size = the crop, crop_pct = crop / resize);
2. else, where timm has it, timm's default pretrained config (the model's first pretrained tag:
   ``input_size``, ``test_input_size``, ``crop_pct``, ``test_crop_pct``, ``interpolation``, mean, std);
3. else (architectures neither library has, and the small-input Fashion-MNIST / CIFAR models), a
   config from the registry's input size: ImageNet statistics, crop_pct 0.875 and bilinear at
   ImageNet sizes; at small sizes crop_pct 1 (no crop) and the statistics of the data the family is
   made for (Fashion-MNIST for one-channel models, CIFAR-10 for three-channel ones).

The values are facts about those weights, stated here once and checked against torchvision and timm
by ``tests/test_data_config.py`` in the reference environment. A model loaded from a checkpoint
carries its header: :func:`resolve_data_config` then uses the header's image size, mean and std,
which are what the checkpoint was trained with (``load_checkpoint`` of a torchvision or timm file
records this module's config in the header it makes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from torch import nn

from cnnzoo.data.idx import FASHION_MNIST_MEAN, FASHION_MNIST_STD
from cnnzoo.registry import model_info

__all__ = ["DataConfig", "resolve_data_config", "DATA_CONFIGS", "IMAGENET_MEAN", "IMAGENET_STD",
           "INCEPTION_MEAN", "INCEPTION_STD", "CIFAR10_MEAN", "CIFAR10_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: the [-1, 1] scaling of the TensorFlow-trained weights (Inception, TF EfficientNets)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


@dataclass(frozen=True)
class DataConfig:
    """How a model's images are prepared.

    ``input_size``: training side (RandomResizedCrop output); ``test_input_size``: evaluation side;
    ``crop_pct``: evaluation resizes the shorter side to ``floor(size / crop_pct)`` then center-crops
    ``size``; ``test_crop_pct``: the crop_pct at ``test_input_size`` when it differs (timm), else None;
    ``interpolation``: "bilinear", "bicubic", …; ``mean`` / ``std``: per channel, on a 0..1 scale.
    """

    input_size: int
    test_input_size: int
    crop_pct: float
    interpolation: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    test_crop_pct: float | None = None

    @property
    def eval_crop_pct(self) -> float:
        """The crop_pct used at ``test_input_size``."""
        return self.test_crop_pct if self.test_crop_pct is not None else self.crop_pct

    def __post_init__(self) -> None:
        for key in ("input_size", "test_input_size"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"DataConfig.{key} must be a positive int (pixels), got {v!r}")
        for key in ("crop_pct", "test_crop_pct"):
            v = getattr(self, key)
            if v is not None and not (isinstance(v, (int, float)) and 0 < v <= 1):
                raise ValueError(f"DataConfig.{key} must be in (0, 1], got {v!r}")
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(f"DataConfig.mean and .std need one value per channel, got {self.mean!r} and {self.std!r}")
        if min(self.std) <= 0:
            raise ValueError(f"DataConfig.std must be positive, got {self.std!r}")


def _tv(crop: int, resize: int, interpolation: str = "bilinear", mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD) -> DataConfig:
    """A torchvision weights' transform: ``Resize(resize)``, ``CenterCrop(crop)``."""
    return DataConfig(crop, crop, crop / resize, interpolation, mean, std)


def _timm(size: int, crop_pct: float, interpolation: str = "bicubic", mean: tuple[float, ...] = IMAGENET_MEAN,
          std: tuple[float, ...] = IMAGENET_STD, test_size: int | None = None,
          test_crop_pct: float | None = None) -> DataConfig:
    """A timm pretrained config."""
    return DataConfig(size, test_size or size, crop_pct, interpolation, mean, std, test_crop_pct)


_TV_224 = _tv(224, 256)  # the common torchvision IMAGENET1K_V1 transform
_TV_224_V2 = _tv(224, 232)  # torchvision's IMAGENET1K_V2 ("new training recipe") transform
_TIMM_RESNET = _timm(224, 0.875, test_size=288, test_crop_pct=0.95)  # timm's ResNet-family default cfg

#: name → data config (rule in the module docstring); models absent here get the registry rule (3)
DATA_CONFIGS: dict[str, DataConfig] = {
    # torchvision, Weights.DEFAULT
    "alexnet": _TV_224,  # AlexNet_Weights.IMAGENET1K_V1
    **{f"densenet{d}": _TV_224 for d in (121, 161, 169, 201)},  # IMAGENET1K_V1
    "efficientnet_b0": _tv(224, 256, "bicubic"),  # IMAGENET1K_V1
    "efficientnet_b1": _tv(240, 255),  # IMAGENET1K_V2 (bilinear)
    "efficientnet_b2": _tv(288, 288, "bicubic"),
    "efficientnet_b3": _tv(300, 320, "bicubic"),
    "efficientnet_b4": _tv(380, 384, "bicubic"),
    "efficientnet_b5": _tv(456, 456, "bicubic"),
    "efficientnet_b6": _tv(528, 528, "bicubic"),
    "efficientnet_b7": _tv(600, 600, "bicubic"),
    "efficientnet_v2_s": _tv(384, 384),
    "efficientnet_v2_m": _tv(480, 480),
    "efficientnet_v2_l": _tv(480, 480, "bicubic", INCEPTION_MEAN, INCEPTION_STD),
    "googlenet": _TV_224,
    "inception_v3": _tv(299, 342),
    "mnasnet0_5": _TV_224,
    "mnasnet0_75": _TV_224_V2,
    "mnasnet1_0": _TV_224,
    "mnasnet1_3": _TV_224_V2,
    "mobilenet_v2": _TV_224_V2,
    "mobilenet_v3_large": _TV_224_V2,
    "mobilenet_v3_small": _TV_224,
    "resnet18": _TV_224,
    "resnet34": _TV_224,
    "resnet50": _TV_224_V2,
    "resnet101": _TV_224_V2,
    "resnet152": _TV_224_V2,
    "resnext50_32x4d": _TV_224_V2,
    "resnext101_32x8d": _TV_224_V2,
    "resnext101_64x4d": _TV_224_V2,
    "wide_resnet50_2": _TV_224_V2,
    "wide_resnet101_2": _TV_224_V2,
    "shufflenet_v2_x0_5": _TV_224,
    "shufflenet_v2_x1_0": _TV_224,
    "shufflenet_v2_x1_5": _TV_224_V2,
    "shufflenet_v2_x2_0": _TV_224_V2,
    "squeezenet1_0": _TV_224,
    "squeezenet1_1": _TV_224,
    **{f"vgg{d}{bn}": _TV_224 for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    # timm, default pretrained tag (timm's model name where it differs)
    "efficientnet_b8": _timm(672, 0.954, mean=INCEPTION_MEAN, std=INCEPTION_STD),  # tf_efficientnet_b8.ap_in1k
    "efficientnet_l2": _timm(475, 0.936),  # tf_efficientnet_l2.ns_jft_in1k_475
    "efficientnet_edgetpu_s": _timm(224, 0.875),  # efficientnet_es.ra_in1k
    "efficientnet_edgetpu_m": _timm(240, 0.882),  # efficientnet_em.ra2_in1k
    "efficientnet_edgetpu_l": _timm(300, 0.904),  # efficientnet_el.ra_in1k
    "efficientnet_v2_xl": _timm(384, 1.0, mean=INCEPTION_MEAN, std=INCEPTION_STD,
                                test_size=512),  # tf_efficientnetv2_xl.in21k_ft_in1k
    "inception_v4": _timm(299, 0.875, mean=INCEPTION_MEAN, std=INCEPTION_STD),  # inception_v4.tf_in1k
    "inception_resnet_v2": _timm(299, 0.8975, mean=INCEPTION_MEAN, std=INCEPTION_STD),  # .tf_in1k
    "mnasnet_a1": _timm(224, 0.875),  # mnasnet_a1 (semnasnet_100).rmsp_in1k
    "mobilenet_v1": _timm(224, 0.875, mean=INCEPTION_MEAN, std=INCEPTION_STD, test_size=256,
                          test_crop_pct=0.95),  # mobilenetv1_100.ra4_e3600_r224_in1k
    "resnest14d": _timm(224, 0.875, "bilinear"),  # .gluon_in1k
    "resnest26d": _timm(224, 0.875, "bilinear"),  # .gluon_in1k
    "resnest50d": _timm(224, 0.875, "bilinear"),  # .in1k
    "resnest50d_1s4x24d": _timm(224, 0.875),
    "resnest50d_4s2x40d": _timm(224, 0.875),
    "resnest101e": _timm(256, 0.875, "bilinear"),
    "resnest200e": _timm(320, 0.909),
    "resnest269e": _timm(416, 0.928),
    "resnet50d": _TIMM_RESNET,  # .ra2_in1k
    "senet154": _timm(224, 0.875),  # .gluon_in1k
    "seresnet18": _TIMM_RESNET,  # (untrained: the family default)
    "seresnet34": _TIMM_RESNET,
    "seresnet50": _timm(224, 0.95, test_size=288, test_crop_pct=1.0),  # .a1_in1k
    "seresnet101": _TIMM_RESNET,
    "seresnet152": _TIMM_RESNET,
    "seresnext50_32x4d": _TIMM_RESNET,  # .racm_in1k
    "seresnext101_32x4d": _timm(224, 0.875),  # .gluon_in1k
}

_SMALL = 64  # registry input sides up to this are Fashion-MNIST / CIFAR-sized


def _from_registry(name: str, in_chans: int | None = None) -> DataConfig:
    """Rule 3: a config from the registry's default input (channels, height, width); ``in_chans``, that
    of a model built with other channels, chooses the statistics instead."""
    chans, size, _ = model_info(name).input_size
    chans = in_chans or chans
    if size > _SMALL:
        return _for_channels(DataConfig(size, size, 0.875, "bilinear", IMAGENET_MEAN, IMAGENET_STD), chans)
    mean, std = (FASHION_MNIST_MEAN, FASHION_MNIST_STD) if chans == 1 else (CIFAR10_MEAN, CIFAR10_STD)
    return _for_channels(DataConfig(size, size, 1.0, "bilinear", mean, std), chans)


def _core(model: nn.Module) -> nn.Module | None:
    """The cnnzoo model inside ``model`` (itself, or the one a ``features_only`` wrapper holds)."""
    if getattr(getattr(model, "model_info", None), "name", None):
        return model
    inner = getattr(model, "model", None)
    return _core(inner) if isinstance(inner, nn.Module) and inner is not model else None


def _for_channels(cfg: DataConfig, in_chans: int | None) -> DataConfig:
    """``cfg`` with one mean/std per input channel: a grayscale model of an RGB config gets the mean
    of the three statistics; other counts repeat them cyclically (as timm does)."""
    n = len(cfg.mean)
    if in_chans is None or in_chans == n:
        return cfg
    if in_chans == 1:
        return dataclasses.replace(cfg, mean=(round(sum(cfg.mean) / n, 4),), std=(round(sum(cfg.std) / n, 4),))
    return dataclasses.replace(cfg, mean=tuple(cfg.mean[i % n] for i in range(in_chans)),
                               std=tuple(cfg.std[i % n] for i in range(in_chans)))


def _model_values(model: nn.Module, core: nn.Module | None, name: str, cfg: DataConfig) -> dict[str, Any]:
    """What a built model says about its data, as changes to ``cfg``: the mean and std of its checkpoint
    header (``model.checkpoint_header``, or a cnnzoo ``pretrained_cfg``), and its image size — the
    header's, else the one it was built at (e.g. by ``scale_model``) where that differs from the
    registry's — when that size is neither of the config's (both sizes then become it, evaluated with
    ``crop_pct``)."""
    header = getattr(model, "checkpoint_header", None) or getattr(core, "checkpoint_header", None)
    if header is not None:
        values = {"img_size": getattr(header, "img_size", None), "mean": getattr(header, "mean", None),
                  "std": getattr(header, "std", None)}
    else:
        pretrained = getattr(model, "pretrained_cfg", None) or getattr(core, "pretrained_cfg", None)
        values = {k: pretrained.get(k) for k in ("img_size", "mean", "std")} if isinstance(pretrained, dict) else {}
    info = getattr(core, "model_info", None)
    if not values.get("img_size") and info is not None and info.input_size[1] != model_info(name).input_size[1]:
        values["img_size"] = info.input_size[1]
    out: dict[str, Any] = {}
    size = values.get("img_size")
    if size and int(size) not in (cfg.input_size, cfg.test_input_size):
        out.update(input_size=int(size), test_input_size=int(size), test_crop_pct=None)
    if values.get("mean") and values.get("std"):
        out["mean"], out["std"] = tuple(float(v) for v in values["mean"]), tuple(float(v) for v in values["std"])
    return out


def resolve_data_config(model_or_name: str | nn.Module, **overrides: Any) -> DataConfig:
    """The :class:`DataConfig` of a model name or a built model (see the module docstring for the rule).

    A model loaded from a checkpoint (``cnnzoo.load_checkpoint``, or ``create_model(pretrained=...)``
    from a cnnzoo file) uses the image size, mean and std its header records; a model built at another
    resolution (``scale_model``) uses that size; one built with another ``in_chans`` gets one mean/std
    per channel. ``overrides`` replace any field, e.g.
    ``resolve_data_config("resnet50", input_size=176)``.
    """
    in_chans, model, core = None, None, None
    if isinstance(model_or_name, str):
        name = model_or_name
        model_info(name)  # an unknown name is an error listing the close ones
    elif isinstance(model_or_name, nn.Module):
        model, core = model_or_name, _core(model_or_name)
        if core is not None:
            name, in_chans = core.model_info.name, core.model_info.input_size[0]
        else:
            name = getattr(getattr(model, "checkpoint_header", None), "model", None)
        if name is None:
            raise ValueError(f"{type(model).__name__} is not a cnnzoo model (no model_info): pass its name, "
                             f"e.g. resolve_data_config('resnet50')")
    else:
        raise TypeError(f"resolve_data_config takes a model name or a cnnzoo nn.Module, got "
                        f"{type(model_or_name).__name__}")
    cfg = _for_channels(DATA_CONFIGS[name], in_chans) if name in DATA_CONFIGS else _from_registry(name, in_chans)
    header = _model_values(model, core, name, cfg) if model is not None else {}
    fields = {f.name for f in dataclasses.fields(DataConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(f"resolve_data_config got unknown override(s) {', '.join(unknown)}; "
                        f"DataConfig fields: {', '.join(sorted(fields))}")
    values = {**header, **{k: v for k, v in overrides.items() if v is not None}}
    for key in ("mean", "std"):
        if key in values:
            values[key] = tuple(values[key])
    return dataclasses.replace(cfg, **values) if values else cfg
