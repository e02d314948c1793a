"""Name-based conversion for the stage-table families (MobileNetV2/V3, MnasNet, EfficientNet, EfficientNetV2,
EfficientNet-EdgeTPU), which all build :class:`~cnnzoo.models._mbconv_net.MBConvNet`.

Every reference key is renamed from its own name, so the order of the keys in the file does not matter
(a safetensors file stores them sorted by name). What a name alone does not say — which cnnzoo stage a
flat block number belongs to (torchvision's MobileNets number blocks across stages), or which part of a
block a positional child is (torchvision's ``block.2`` is the SE layer in one block, the projection in
the next) — is read from the cnnzoo model's own structure (:class:`Structure`): the blocks of each stage
and the parts each block has, in forward order.

cnnzoo's layout: ``features.0`` the stem (ConvNormAct: ``0`` conv, ``1`` norm), ``features.1 … S`` the
stages, ``features.S+1`` the 1×1 head convolution, ``head.hidden``/``head.fc`` the classifier. A block
``features.s.b`` has ``conv_pw`` (1×1 expansion), ``conv_dw``, ``se`` (``fc1``/``fc2``), ``conv_pwl``
(MBConv) or ``conv_exp``, ``se``, ``conv_pwl`` (Fused-MBConv), each present only where the block has it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from cnnzoo.builder import build_model
from cnnzoo.layers.inverted_residual import FusedMBConv, MBConv

_PARAMS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_PARTS = {MBConv: ("conv_pw", "conv_dw", "se", "conv_pwl"), FusedMBConv: ("conv_exp", "se", "conv_pwl")}

Block = tuple[str, ...]


@dataclass(frozen=True)
class Structure:
    """The parts of a cnnzoo stage-table model that key names need: ``stages[i][b]`` is the tuple of
    parts block ``features.{i+1}.{b}`` has, in forward order (e.g. ``("conv_pw", "conv_dw", "se",
    "conv_pwl")``); ``head`` is the index of the head convolution in ``features`` (``None``: none)."""

    stages: tuple[tuple[Block, ...], ...]
    head: int | None

    def parts(self, stage: int, block: int) -> Block | None:
        """The parts of block ``features.{stage}.{block}``, or ``None`` when the model has no such block."""
        if 1 <= stage <= len(self.stages) and 0 <= block < len(self.stages[stage - 1]):
            return self.stages[stage - 1][block]
        return None

    def flat(self, index: int) -> tuple[int, int] | None:
        """``(stage, block)`` of the ``index``-th block counted across all stages (from 0)."""
        if index < 0:
            return None
        for s, blocks in enumerate(self.stages, start=1):
            if index < len(blocks):
                return s, index
            index -= len(blocks)
        return None

    @property
    def num_blocks(self) -> int:
        return sum(len(blocks) for blocks in self.stages)


def structure(model_name: str, model: nn.Module | None = None) -> Structure:
    """The :class:`Structure` of ``model`` (built on the meta device from ``model_name`` when ``None``)."""
    if model is None:
        model = build_model(model_name, device="meta")
    features = getattr(model, "features", None)
    if not isinstance(features, nn.Sequential):
        raise ValueError(f"{model_name}: not a stage-table model (no 'features' sequence)")
    stages: list[tuple[Block, ...]] = []
    head = None
    for i, child in enumerate(features):
        blocks = list(child) if isinstance(child, nn.Sequential) else []
        if i > 0 and blocks and all(type(b) in _PARTS for b in blocks):
            stages.append(tuple(tuple(p for p in _PARTS[type(b)] if not isinstance(getattr(b, p), nn.Identity))
                                for b in blocks))
        elif i > 0:
            head = i
    return Structure(tuple(stages), head)


def rename(state_dict: dict[str, torch.Tensor], module_name: Callable[[str], str | None], what: str,
           model_name: str) -> dict[str, torch.Tensor]:
    """Rename every key with ``module_name`` (a reference module path → cnnzoo's, ``None`` if it has no
    counterpart), keeping the parameter name (``weight``, ``running_mean``…).

    Raises ``ValueError`` naming the keys that have no counterpart, or two keys that would land on the
    same cnnzoo key: the checkpoint is not ``what`` (e.g. "torchvision's MobileNetV2") for ``model_name``.
    """
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in state_dict.items():
        path, _, param = key.rpartition(".")
        new = module_name(path) if path and param in _PARAMS else None
        if new is None:
            unknown.append(key)
            continue
        new_key = f"{new}.{param}"
        if new_key in origin:
            raise ValueError(f"cannot convert to {model_name}: {origin[new_key]} and {key} both map to {new_key}")
        out[new_key], origin[new_key] = value, key
    if unknown:
        unknown.sort()
        shown = ", ".join(unknown[:6]) + (f", … ({len(unknown) - 6} more)" if len(unknown) > 6 else "")
        raise ValueError(f"cannot convert to {model_name} as {what}: no counterpart for {len(unknown)} "
                         f"key(s): {shown}; is it the same architecture?")
    return out


def conv_norm(part: str, child: str) -> str | None:
    """A ConvNormAct child (``0`` conv, ``1`` norm) of ``part``, or an SE layer (``fc1``/``fc2``)."""
    if part == "se":
        return f"se.{child}" if child in ("fc1", "fc2") else None
    return f"{part}.{child}" if child in ("0", "1") else None


# -- torchvision ------------------------------------------------------------------------------------
_TV_STEM_HEAD = re.compile(r"features\.(\d+)\.([01])")


def torchvision_stem_head(path: str, st: Structure, head_index: int) -> str | None:
    """torchvision's stem ``features.0.{0,1}`` and head convolution ``features.{head_index}.{0,1}``."""
    m = _TV_STEM_HEAD.fullmatch(path)
    if m is None:
        return None
    i, child = int(m[1]), m[2]
    if i == 0:
        return f"features.0.{child}"
    if i == head_index and st.head is not None:
        return f"features.{st.head}.{child}"
    return None


def torchvision_block(prefix: str, parts: Block | None, k: int, rest: str) -> str | None:
    """Child ``block.{k}.{rest}`` of a torchvision MobileNetV3/EfficientNet block: its ``k``-th layer is
    the block's ``k``-th part (torchvision only builds the layers a block has, in forward order)."""
    if parts is None or k >= len(parts):
        return None
    child = conv_norm(parts[k], rest)
    return f"{prefix}.{child}" if child else None


# -- timm -------------------------------------------------------------------------------------------
# timm names a block's convolutions by role and its norms by position (``bn1`` after the first
# convolution…). Its block class follows from the convolutions the cnnzoo block has:
_TIMM_CONVS: dict[Block, Block] = {
    ("conv_pw", "conv_dw", "conv_pwl"): ("conv_pw", "conv_dw", "conv_pwl"),  # InvertedResidual
    ("conv_dw", "conv_pwl"): ("conv_dw", "conv_pw"),  # DepthwiseSeparableConv: its conv_pw projects
    ("conv_exp", "conv_pwl"): ("conv_exp", "conv_pwl"),  # EdgeResidual (Fused-MBConv)
    ("conv_exp",): ("conv",),  # ConvBnAct (Fused-MBConv without expansion)
}
_TIMM_TOP = {"conv_stem": "features.0.0", "bn1": "features.0.1", "classifier": "head.fc"}
_TIMM_BLOCK = re.compile(r"blocks\.(\d+)\.(\d+)\.(.+)")
_TIMM_BN = re.compile(r"bn(\d)")


def timm_block_part(parts: Block, name: str) -> str | None:
    if name in ("se.conv_reduce", "se.conv_expand"):
        return ("se.fc1" if name.endswith("reduce") else "se.fc2") if "se" in parts else None
    convs = tuple(p for p in parts if p != "se")
    timm_convs = _TIMM_CONVS.get(convs, ())
    if name in timm_convs:
        return f"{convs[timm_convs.index(name)]}.0"
    m = _TIMM_BN.fullmatch(name)
    if m and 1 <= int(m[1]) <= len(convs):
        return f"{convs[int(m[1]) - 1]}.1"
    return None


def timm_module(path: str, st: Structure) -> str | None:
    """timm's ``EfficientNet`` class (EfficientNet, EfficientNetV2, EdgeTPU, MnasNet, MobileNetV2):
    ``conv_stem``/``bn1``, ``blocks.{s}.{b}`` (stage ``s + 1`` here), ``conv_head``/``bn2``, ``classifier``."""
    if path in _TIMM_TOP:
        return _TIMM_TOP[path]
    if path in ("conv_head", "bn2"):
        return None if st.head is None else f"features.{st.head}.{0 if path == 'conv_head' else 1}"
    m = _TIMM_BLOCK.fullmatch(path)
    if m is None:
        return None
    stage, block = int(m[1]) + 1, int(m[2])
    parts = st.parts(stage, block)
    part = timm_block_part(parts, m[3]) if parts else None
    return None if part is None else f"features.{stage}.{block}.{part}"


def timm(state_dict: dict[str, torch.Tensor], model_name: str,
         model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """A ``LAYOUTS`` entry for timm's ``EfficientNet`` class (see :func:`timm_module`)."""
    st = structure(model_name, model)
    return rename(state_dict, lambda path: timm_module(path, st), "timm's layout", model_name)
