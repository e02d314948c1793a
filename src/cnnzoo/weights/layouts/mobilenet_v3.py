"""torchvision's MobileNetV3 layout → cnnzoo, by key names.

torchvision numbers the blocks across stages (``features.1 …``; the stem is ``features.0``, the head
convolution the one after the last block) and builds in each ``block`` only the layers it has, in
order: 1×1 expansion (where the expanded width differs from the input), depthwise, SE, projection.
The stage of a block number and the parts of each block come from the cnnzoo model (see ``_mbconv``).
The classifier's hidden linear layer is ``classifier.0``, the final one ``classifier.3``.

timm's layout (``mobilenetv3_large_100``, ``mobilenetv3_small_100``) is its ``EfficientNet``-class naming
(see ``_mbconv``) with three differences: it groups the blocks into stages of equal output width
(Large 1, 2, 3, 4, 2, 3; Small 1, 2, 3, 2, 3) where cnnzoo has one stage per table row, so a block is
found by its number across stages; its last "stage" is one ``ConvBnAct`` (``conv``, ``bn1``): cnnzoo's
1×1 head convolution; and its ``conv_head`` is a 1×1 convolution with bias on the pooled features, the
same function as cnnzoo's hidden linear layer (weight ``[out, in, 1, 1]`` → ``[out, in]``). timm builds
its batch norms with eps 1e-5 where cnnzoo defaults to torchvision's 1e-3, which changes the outputs
(up to ~1 logit): build the model with ``bn_eps=1e-5`` for timm's weights (the converter warns otherwise).
"""

from __future__ import annotations

import re

import torch
from torch import nn

from cnnzoo._warn import warn_user
from cnnzoo.builder import build_model
from cnnzoo.layers.inverted_residual import MBConv
from cnnzoo.weights.layouts import _mbconv
from cnnzoo.weights.layouts._mbconv import Structure

_BLOCK = re.compile(r"features\.(\d+)\.block\.(\d+)\.(\w+)")
_CLASSIFIER = {"classifier.0": "head.hidden.0", "classifier.3": "head.fc"}


def _module(path: str, st: Structure) -> str | None:
    if path in _CLASSIFIER:
        return _CLASSIFIER[path]
    m = _BLOCK.fullmatch(path)
    if m is None:
        return _mbconv.torchvision_stem_head(path, st, st.num_blocks + 1)
    where = st.flat(int(m[1]) - 1)
    if where is None:
        return None
    return _mbconv.torchvision_block("features.{}.{}".format(*where), st.parts(*where), int(m[2]), m[3])


def torchvision(state_dict: dict[str, torch.Tensor], model_name: str,
                model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    st = _mbconv.structure(model_name, model)
    return _mbconv.rename(state_dict, lambda path: _module(path, st), "torchvision's MobileNetV3", model_name)


# -- timm -------------------------------------------------------------------------------------------
_TIMM_BLOCK = re.compile(r"blocks\.(\d+)\.(\d+)\.(.+)")
_TIMM_TOP = {"conv_stem": "features.0.0", "bn1": "features.0.1", "conv_head": "head.hidden.0",
             "classifier": "head.fc"}


def _timm_stages(model: nn.Module) -> list[int]:
    """timm's stage lengths: the runs of consecutive blocks with the same output width."""
    lengths: list[int] = []
    last = None
    for module in model.features[1:]:
        for block in module if isinstance(module, nn.Sequential) else ():
            if not isinstance(block, MBConv):
                continue
            if block.out_chs != last:
                lengths.append(0)
                last = block.out_chs
            lengths[-1] += 1
    return lengths


def _timm_module(path: str, st: Structure, lengths: list[int]) -> str | None:
    if path in _TIMM_TOP:
        return _TIMM_TOP[path]
    m = _TIMM_BLOCK.fullmatch(path)
    if m is None:
        return None
    stage, block, rest = int(m[1]), int(m[2]), m[3]
    if stage == len(lengths):  # the last "stage": one ConvBnAct, cnnzoo's 1×1 head convolution
        child = {"conv": "0", "bn1": "1"}.get(rest) if block == 0 and st.head is not None else None
        return None if child is None else f"features.{st.head}.{child}"
    if stage > len(lengths) or block >= lengths[stage]:
        return None
    where = st.flat(sum(lengths[:stage]) + block)
    parts = st.parts(*where) if where else None
    part = _mbconv.timm_block_part(parts, rest) if parts else None
    return None if part is None else "features.{}.{}.{}".format(*where, part)


_TIMM_BN_EPS = 1e-5


def timm(state_dict: dict[str, torch.Tensor], model_name: str,
         model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    if model is None:
        model = build_model(model_name, device="meta")
    st = _mbconv.structure(model_name, model)
    lengths = _timm_stages(model)
    out = _mbconv.rename(state_dict, lambda path: _timm_module(path, st, lengths), "timm's MobileNetV3", model_name)
    hidden = out.get("head.hidden.0.weight")
    if hidden is not None and hidden.ndim == 4:  # 1×1 convolution on the pooled features → linear layer
        out["head.hidden.0.weight"] = hidden.reshape(hidden.shape[0], -1)
    eps = {m.eps for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    if eps and eps != {_TIMM_BN_EPS}:
        warn_user(f"timm's MobileNetV3 weights use batch-norm eps {_TIMM_BN_EPS:g}; this {model_name} uses "
                      f"{', '.join(f'{e:g}' for e in sorted(eps))}, so its outputs will differ from timm's: "
                      f"build it with bn_eps={_TIMM_BN_EPS:g}")
    return out


LAYOUTS = {"torchvision": torchvision, "timm": timm}
