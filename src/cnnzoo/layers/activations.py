"""Activation functions by name: ReLU, ReLU6 (MobileNetV2), h-swish and h-sigmoid (MobileNetV3 §5.2),
SiLU/Swish (EfficientNet), and the gates used by squeeze-and-excitation."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

ActLayer = type[nn.Module] | Callable[..., nn.Module] | str | None

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "hard_swish": nn.Hardswish,
    "hswish": nn.Hardswish,
    "hard_sigmoid": nn.Hardsigmoid,
    "hsigmoid": nn.Hardsigmoid,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "identity": nn.Identity,
}


def get_act_layer(act: ActLayer) -> Callable[..., nn.Module] | None:
    """Resolve an activation given by name (``"relu6"``, ``"hard_swish"``…), by class, or ``None``."""
    if act is None or not isinstance(act, str):
        return act
    key = act.lower()
    if key not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; expected one of {', '.join(sorted(_ACTIVATIONS))}")
    return _ACTIVATIONS[key]


def create_act(act: ActLayer, inplace: bool = True) -> nn.Module:
    """Instantiate an activation; ``None`` gives ``nn.Identity``."""
    layer = get_act_layer(act)
    if layer is None:
        return nn.Identity()
    if layer in (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.LeakyReLU):
        return layer(inplace=inplace)
    return layer()
