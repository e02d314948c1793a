"""Factorized hierarchical search spaces (MnasNet §4.1, EfficientNetV2 §3.3), as stage-table rows.

The network is a fixed skeleton of stages (base width, base repeats, stride); each stage picks its own
block type, kernel, expansion ratio, squeeze-and-excitation, number of layers and width, so the space
grows with the number of stages, not of layers. A sampled point is an arch mapping that
``cnnzoo.create_model("mbconv", arch=...)`` builds (:mod:`cnnzoo.models.mbconv`).

* ``mnasnet``: MBConv blocks, kernel {3, 5}, expansion {1, 3, 6}, SE {0, 0.25}, layers base + {−1, 0, +1},
  width ×{0.75, 1, 1.25} of MnasNet/EfficientNet-B0's skeleton, ReLU.
* ``efficientnet_v2``: {MBConv, Fused-MBConv}, kernel {3, 5}, expansion {1, 4, 6}, SE {0, 0.25}, layers
  and width as above, on a shallower EfficientNetV2-S skeleton (stem 24), SiLU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnnzoo.factory import create_model
from cnnzoo.layers.inverted_residual import round_channels
from cnnzoo.models.mbconv import parse_arch

__all__ = ["SearchSpace", "SPACES", "sample_arch", "space_min_size"]


@dataclass(frozen=True)
class SearchSpace:
    """The skeleton (base out_chs, base repeats, stride per stage) and the per-stage choices."""

    name: str
    skeleton: tuple[tuple[int, int, int], ...]
    blocks: tuple[str, ...]
    kernels: tuple[int, ...] = (3, 5)
    expansions: tuple[float, ...] = (1.0, 4.0, 6.0)
    se_ratios: tuple[float, ...] = (0.0, 0.25)
    repeat_deltas: tuple[int, ...] = (-1, 0, 1)
    widths: tuple[float, ...] = (0.75, 1.0, 1.25)
    stem_chs: int = 32
    head_chs: int = 1280
    act: str = "relu"

    def size(self) -> int:
        """Number of architectures in the space."""
        per_stage = len(self.blocks) * len(self.kernels) * len(self.expansions) * len(self.se_ratios) \
            * len(self.repeat_deltas) * len(self.widths)
        return per_stage ** len(self.skeleton)


SPACES: dict[str, SearchSpace] = {
    "mnasnet": SearchSpace(
        "mnasnet", ((16, 1, 1), (24, 2, 2), (40, 2, 2), (80, 3, 2), (112, 3, 1), (192, 4, 2), (320, 1, 1)),
        blocks=("mbconv",), expansions=(1.0, 3.0, 6.0)),
    "efficientnet_v2": SearchSpace(
        "efficientnet_v2", ((24, 1, 1), (48, 2, 2), (64, 2, 2), (128, 3, 2), (160, 4, 1), (256, 5, 2)),
        blocks=("fused", "mbconv"), stem_chs=24, act="silu"),
}


def sample_arch(trial: Any, space: SearchSpace | str, width: float = 1.0) -> dict[str, Any]:
    """One architecture of ``space`` chosen by an optuna ``trial`` (one categorical per stage and
    decision), as a canonical arch mapping. ``width`` scales every width of the skeleton (stem and
    head included), e.g. 0.25 for tiny searches."""
    space = SPACES[space] if isinstance(space, str) else space
    rows = []
    for i, (chs, repeats, stride) in enumerate(space.skeleton):
        block = trial.suggest_categorical(f"s{i}_block", list(space.blocks))
        kernel = trial.suggest_categorical(f"s{i}_kernel", list(space.kernels))
        expansion = trial.suggest_categorical(f"s{i}_expansion", list(space.expansions))
        se = trial.suggest_categorical(f"s{i}_se", list(space.se_ratios))
        delta = trial.suggest_categorical(f"s{i}_repeats", list(space.repeat_deltas))
        w = trial.suggest_categorical(f"s{i}_width", list(space.widths))
        rows.append(dict(block=block, repeats=max(1, repeats + delta), out_chs=round_channels(chs * w, width),
                         kernel=kernel, stride=stride, expansion=expansion, se_ratio=se))
    return parse_arch(dict(stem_chs=round_channels(space.stem_chs, width),
                           head_chs=round_channels(space.head_chs, width), act=space.act, stages=rows),
                      where=f"space {space.name}")


class _First:
    """A stand-in for an optuna trial that takes the first choice of every decision."""

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return choices[0]


def space_min_size(space: SearchSpace | str, width: float = 1.0) -> int:
    """The smallest input side the space's networks take (they share one skeleton of strides)."""
    arch = sample_arch(_First(), space, width)
    return int(create_model("mbconv", arch=arch, device="meta").min_size)
