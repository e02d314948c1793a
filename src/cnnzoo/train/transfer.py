"""Transfer learning for any family: freeze stages, fix batch-norm statistics, layer-wise learning rates.

Every model is split the same way, through its ``feature_info`` (the stages ``features_only`` returns):

- stage 0, *the stem*: every layer up to and including the module of ``feature_info[0]``;
- stage k (1 … S, S = ``len(feature_info) - 1``): the layers after stage k−1 up to and including the
  module of ``feature_info[k]``; layers after the last feature map that are not the classifier
  (a final 1×1 head convolution) belong to stage S;
- the *head* (index S + 1): ``model.head`` and any auxiliary classifiers.

The order is the modules' registration order, which is their forward order in every family.
"""

from __future__ import annotations

from typing import Literal

from torch import nn

__all__ = ["bn_eval", "freeze", "num_stages", "param_groups", "param_stages"]


def _decays(p: nn.Parameter) -> bool:
    # No weight decay on biases and normalisation parameters (1-D tensors), as in the recipes.
    return p.ndim > 1


def _model_name(model: nn.Module) -> str:
    return type(model).__name__


def _head_prefixes(model: nn.Module) -> list[str]:
    if not isinstance(getattr(model, "head", None), nn.Module):
        raise ValueError(f"{_model_name(model)} has no classifier head: build it with features_only=False")
    return ["head", *getattr(model, "aux_taps", {}).values()]


def _feature_modules(model: nn.Module) -> list[str]:
    info = list(getattr(model, "feature_info", None) or [])
    if not info:
        raise ValueError(f"{_model_name(model)} has no feature_info stages: cannot split it into stem, stages and head")
    return [e["module"] for e in info]


def num_stages(model: nn.Module) -> int:
    """Number of stages after the stem (``len(model.feature_info) - 1``); ``freeze`` accepts 0 … this."""
    return len(_feature_modules(model)) - 1


def param_stages(model: nn.Module) -> dict[str, int]:
    """Map every parameter name (``named_parameters`` order) to 0 (stem), 1 … S (stages) or S + 1 (head)."""
    ends = _feature_modules(model)
    heads = _head_prefixes(model)
    names = [n for n, _ in model.named_modules()]
    pos = {n: i for i, n in enumerate(names)}
    last = []  # per stage, the position of the last module of its subtree (named_modules is pre-order)
    for m in ends:
        if m not in pos:
            raise RuntimeError(f"feature_info names module {m!r}, which {_model_name(model)} does not have")
        last.append(max(i for i, n in enumerate(names) if n == m or n.startswith(m + ".")))
    head_index = len(ends)
    out: dict[str, int] = {}
    for name, _ in model.named_parameters():
        owner = name.rpartition(".")[0]
        if any(owner == h or owner.startswith(h + ".") for h in heads):
            out[name] = head_index
            continue
        p = pos[owner]
        out[name] = next((k for k, end in enumerate(last) if p <= end), head_index - 1)
    return out


def _check_stages(model: nn.Module, stages: int | str | None) -> int:
    n = num_stages(model)
    if stages is None:
        return -1
    if stages == "backbone":
        return n
    if isinstance(stages, bool) or not isinstance(stages, int) or not 0 <= stages <= n:
        raise ValueError(f"cannot freeze {stages!r} stages of {_model_name(model)}: it has a stem and {n} stages; "
                         f"expected 0 (the stem only) … {n}, or 'backbone'")
    return stages


def freeze(model: nn.Module, stages: int | Literal["backbone"] | None = "backbone", bn: bool = False) -> list[str]:
    """Stop training the early layers of ``model`` in place; return the names of the frozen parameters.

    Args:
        stages: ``N`` freezes the stem and the first ``N`` stages (0: the stem only; see
            :func:`num_stages`); ``"backbone"`` freezes everything but the classifier (a linear probe).
            More stages than the model has is a ``ValueError``; ``None`` freezes no parameter (with ``bn``).
        bn: also keep every batch-norm layer's running statistics fixed (its affine parameters still train
            unless frozen): the layers are put in eval mode now and must be put back after every
            ``model.train()`` with :func:`bn_eval`, which the trainer does.
    """
    n = _check_stages(model, stages)
    params = dict(model.named_parameters())
    frozen = [name for name, k in param_stages(model).items() if k <= n]
    for name in frozen:
        params[name].requires_grad_(False)
    if bn:
        model._cnnzoo_freeze_bn = True  # read by bn_eval
        bn_eval(model)
    return frozen


def bn_eval(model: nn.Module) -> nn.Module:
    """Put every batch-norm layer of ``model`` in eval mode (running statistics fixed) after ``model.train()``.

    Without ``freeze(..., bn=True)`` on this model it does nothing, so a training loop can always call it."""
    if getattr(model, "_cnnzoo_freeze_bn", False):
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
    return model


def param_groups(model: nn.Module, lr: float, weight_decay: float = 0.0, layer_decay: float | None = None,
                 head_lr_mult: float = 1.0) -> list[dict]:
    """Optimiser parameter groups of the trainable parameters, with per-stage learning rates.

    Biases and normalisation parameters (1-D tensors) get no weight decay. With ``layer_decay=D``
    each stage from the head down gets ``lr × D**distance`` (ConvNeXt/BEiT layer-wise decay: the head
    ``lr``, the last stage ``lr·D``, …, the stem ``lr·D**(S+1)``); ``head_lr_mult`` multiplies the
    head's rate. Without either, two groups (decay, no decay) in the model's parameter order. Each
    group has ``params``, ``lr``, ``weight_decay`` and a ``name`` such as ``"stage2/no_decay"``.
    """
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if layer_decay is not None and not 0 < layer_decay <= 1:
        raise ValueError(f"layer_decay must be in (0, 1], got {layer_decay}")
    if head_lr_mult <= 0:
        raise ValueError(f"head_lr_mult must be > 0, got {head_lr_mult}")
    params = dict(model.named_parameters())
    if layer_decay is None and head_lr_mult == 1.0:
        keys = {name: ("all", 1.0) for name in params}
    else:
        stages = param_stages(model)
        head = num_stages(model) + 1
        names = ["stem", *(f"stage{k}" for k in range(1, head)), "head"]
        keys = {name: (names[k], (head_lr_mult if k == head else (layer_decay or 1.0) ** (head - k)))
                for name, k in stages.items()}
    groups: dict[tuple[str, bool], dict] = {}
    for name, p in params.items():
        if not p.requires_grad:
            continue
        stage, scale = keys[name]
        decays = _decays(p)
        key = (stage, decays)
        if key not in groups:
            groups[key] = dict(params=[], lr=lr * scale, weight_decay=weight_decay if decays else 0.0,
                               name=f"{stage}/{'decay' if decays else 'no_decay'}")
        groups[key]["params"].append(p)
    if layer_decay is None and head_lr_mult == 1.0:  # the trainer's historical two groups, always both
        for decays in (True, False):
            groups.setdefault(("all", decays), dict(params=[], lr=lr, weight_decay=weight_decay if decays else 0.0,
                                                    name=f"all/{'decay' if decays else 'no_decay'}"))
        return [groups[("all", True)], groups[("all", False)]]
    return list(groups.values())
