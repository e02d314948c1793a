"""The factory: :func:`create_model` (a registered variant, optionally with weights and as a feature
extractor) and :func:`scale_model` (compound scaling, EfficientNet §3.3).

It sits above the catalogue (:mod:`cnnzoo.registry`), the builder (:mod:`cnnzoo.builder`), the
checkpoint format (:mod:`cnnzoo.checkpoint`) and the weight layouts (:mod:`cnnzoo.weights`).

Compound scaling: with one coefficient φ, depth grows by ``d = α^φ``, width by ``w = β^φ`` and the input
resolution by ``r = γ^φ`` (Eq. 3); with ``α·β²·γ² ≈ 2`` the FLOPs grow by about ``2^φ``, since a
network's FLOPs are proportional to ``d·w²·r²``. The defaults α = 1.2, β = 1.1, γ = 1.15 are the
paper's grid-search result for EfficientNet-B0. Any registered model whose constructor takes
``width_mult``, ``depth_mult`` and ``depth_rounding`` (EfficientNet, EdgeTPU, EfficientNetV2,
MobileNetV2/V3, MnasNet) can be the base; the scaled model records all three as constructor
arguments, so a saved scaled model is rebuilt exactly.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnzoo.builder import build_model
from cnnzoo.checkpoint import CheckpointHeader, check_header_model, load_weights, read_header
from cnnzoo.files import read_yaml
from cnnzoo.layers.inverted_residual import DEPTH_ROUNDINGS
from cnnzoo.models._features import FeatureExtractor
from cnnzoo.registry import list_models, model_info
from cnnzoo.weights import pretrained_path

__all__ = ["create_model", "compound_coefficients", "load_coefficients", "scale_model", "scalable_models"]


def _weights_file(name: str, pretrained: bool | str | os.PathLike) -> Path:
    if pretrained is True:
        return pretrained_path(name)
    if not isinstance(pretrained, (str, os.PathLike)):
        raise TypeError(f"pretrained must be True or a path, got {type(pretrained).__name__}")
    return Path(pretrained)


def create_model(
    name: str,
    pretrained: bool | str | os.PathLike = False,
    num_classes: int | None = None,
    in_chans: int | None = None,
    drop_rate: float | None = None,
    drop_path_rate: float | None = None,
    features_only: bool = False,
    out_indices: tuple[int, ...] | None = None,
    device: str | torch.device | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model.

    Args:
        name: a name from :func:`cnnzoo.list_models`.
        pretrained: ``True`` for the weights that ship with the package, or the path of a cnnzoo,
            torchvision or timm checkpoint (see :func:`cnnzoo.load_weights`). A cnnzoo checkpoint of this
            model sets the defaults of everything it records (classes, input channels, the options it was
            trained or scaled with); arguments given here still win (another ``num_classes`` re-initialises
            the classifier, with a warning).
        num_classes: classifier outputs (default: the variant's, 1000 for ImageNet models).
        in_chans: input channels (default: the variant's, 3 for ImageNet models).
        drop_rate: dropout before the classifier (default: the variant's own, e.g. the paper's).
        drop_path_rate: stochastic-depth rate, where the family has residual blocks (default: the variant's).
        features_only: return a feature extractor giving each stage's feature map.
        out_indices: which stages ``features_only`` returns (default: all).
        device: build directly on this device (``"meta"`` builds shapes only, no memory).
        **kwargs: the family's own options (e.g. ``width_mult``); unknown keywords are an error.
    """
    if out_indices is not None and not features_only:
        raise ValueError("out_indices is only used with features_only=True")
    path = _weights_file(name, pretrained) if pretrained else None
    header: CheckpointHeader | None = read_header(path) if path is not None else None
    given = dict(kwargs, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate,
                 drop_path_rate=drop_path_rate)
    if header is not None and header.model == name:  # what the checkpoint records, unless given here
        check_header_model(path, header)
        given = {**header.build_args(), **{k: v for k, v in given.items() if v is not None}}
    model = build_model(name, device=device, **given)
    if path is not None:
        report = load_weights(model, path, model_name=name)
        cfg = dataclasses.asdict(header) if header is not None else {}
        model.pretrained_cfg = dict(cfg, file=str(path), layout=report.layout, reinitialized=report.reinitialized,
                                    adapted=report.adapted, source_classes=report.source_classes)
    if features_only:
        model = FeatureExtractor(model, out_indices=out_indices)
    return model


def compound_coefficients(phi: float, alpha: float = 1.2, beta: float = 1.1, gamma: float = 1.15
                          ) -> tuple[float, float, float]:
    """The (depth, width, resolution) multipliers ``(α^φ, β^φ, γ^φ)`` of Eq. 3."""
    for key, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if not value >= 1.0:
            raise ValueError(f"{key} must be >= 1 (Eq. 3 constrains α, β, γ ≥ 1), got {value!r}")
    return alpha ** phi, beta ** phi, gamma ** phi


def load_coefficients(source: str | os.PathLike | dict[str, Any]) -> tuple[float, float, float]:
    """(α, β, γ) from a JSON/YAML file (or mapping) with keys ``alpha``, ``beta``, ``gamma`` — the file
    ``cnnzoo search scaling`` writes. Each must be a number >= 1."""
    where = "coefficients"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such coefficients file (JSON or YAML with alpha, beta, gamma)")
        where = str(path)
        source = read_yaml(path, "a JSON/YAML mapping with alpha, beta and gamma")  # JSON is YAML
    if not isinstance(source, dict):
        raise ValueError(f"{where}: expected a mapping with alpha, beta and gamma, got {type(source).__name__}")
    out = []
    for key in ("alpha", "beta", "gamma"):
        value = source.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 1.0:
            raise ValueError(f"{where}: {key} must be a number >= 1 (EfficientNet Eq. 3), got {value!r}")
        out.append(float(value))
    return out[0], out[1], out[2]


def _is_scalable(name: str) -> bool:
    fn = model_info(name).constructor
    params = inspect.signature(fn).parameters if fn is not None else {}
    return {"width_mult", "depth_mult", "depth_rounding"} <= set(params)


def scalable_models() -> list[str]:
    """Registered models that :func:`scale_model` accepts as a base."""
    return [n for n in list_models() if _is_scalable(n)]


def scale_model(
    base: str,
    phi: float | None = None,
    alpha: float = 1.2,
    beta: float = 1.1,
    gamma: float = 1.15,
    *,
    depth: float | None = None,
    width: float | None = None,
    resolution: float | None = None,
    num_classes: int | None = None,
    in_chans: int | None = None,
    device: str | torch.device | None = None,
    depth_rounding: str = "round",
    coefficients: str | os.PathLike | dict[str, Any] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build ``base`` scaled by compound scaling with coefficient ``phi``, or by given coefficients.

    Args:
        base: a registered model with a stage table (see :func:`scalable_models`), e.g.
            ``"efficientnet_b0"``. Its own coefficients are the starting point: scaling
            ``efficientnet_b1`` multiplies B1's width and depth.
        phi: the compound coefficient φ; depth, width and resolution are multiplied by
            ``alpha**phi``, ``beta**phi`` and ``gamma**phi``.
        depth, width, resolution: multipliers given directly (relative to the base); each overrides
            what ``phi`` gives for that dimension. At least ``phi`` or one of them is needed.
        depth_rounding: ``"round"`` (default) rounds the scaled repeats of each stage to nearest, which
            keeps FLOPs near ``2^φ``; ``"ceil"`` is the reference code's rule for the released
            variants (it overshoots at small φ: ``ceil(1 × 1.2) = 2``).
        coefficients: a file (or mapping) with ``alpha``, ``beta`` and ``gamma``, e.g. the one
            ``cnnzoo search scaling`` writes; it replaces the three arguments.
        num_classes, in_chans, device, **kwargs: passed to :func:`cnnzoo.create_model` (``arch=`` for
            the ``mbconv`` base).

    Returns:
        The model. Its ``model_info`` carries the scaled ``input_size`` (the base's resolution times
        ``r``, rounded, and capped at the family's ``max_size`` where it has one, e.g.
        EfficientNetV2's 480) and a ``scaling`` dict with ``phi``, ``alpha``, ``beta``, ``gamma``,
        ``depth_mult``, ``width_mult``, ``resolution`` and ``flops_factor`` (``d·w²·r²``); the
        resolution is also ``model.resolution``.
    """
    info = model_info(base)
    if coefficients is not None:
        alpha, beta, gamma = load_coefficients(coefficients)
    if not _is_scalable(base):
        raise ValueError(f"cannot scale {base!r}: it is not built from a stage table (no width_mult/depth_mult); "
                         f"scalable bases: {', '.join(scalable_models())}")
    if phi is None and depth is None and width is None and resolution is None:
        raise ValueError("give phi, or at least one of depth, width, resolution")
    d, w, r = compound_coefficients(phi, alpha, beta, gamma) if phi is not None else (1.0, 1.0, 1.0)
    d = d if depth is None else depth
    w = w if width is None else width
    r = r if resolution is None else resolution
    for key, value in (("depth", d), ("width", w), ("resolution", r)):
        if not value > 0:
            raise ValueError(f"the {key} multiplier must be > 0, got {value!r}")
    if {"width_mult", "depth_mult"} & set(kwargs):
        raise TypeError("give the scaling as phi/width/depth, not width_mult/depth_mult")
    if depth_rounding not in DEPTH_ROUNDINGS:
        raise ValueError(f"depth_rounding must be one of {', '.join(DEPTH_ROUNDINGS)}, got {depth_rounding!r}")

    base_w = float(info.scaling.get("width_mult", 1.0))
    base_d = float(info.scaling.get("depth_mult", 1.0))
    base_res = float(info.scaling.get("resolution", info.input_size[1]))
    size = max(1, round(base_res * r))
    cap = info.scaling.get("max_size")
    if cap is not None:
        size = min(size, int(cap))
    model = create_model(base, num_classes=num_classes, in_chans=in_chans, device=device,
                         width_mult=base_w * w, depth_mult=base_d * d, depth_rounding=depth_rounding, **kwargs)
    size = max(size, int(getattr(model, "min_size", 1)))
    scaling = {
        "phi": float(phi) if phi is not None else float("nan"),
        "alpha": alpha, "beta": beta, "gamma": gamma,
        "depth_mult": base_d * d, "width_mult": base_w * w, "resolution": size,
        "flops_factor": d * w * w * (size / base_res) ** 2,
    }
    model.model_info = replace(model.model_info, input_size=(model.model_info.input_size[0], size, size),
                               scaling=scaling)
    model.resolution = size
    return model
