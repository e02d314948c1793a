"""``features_only=True``: a model's stage outputs as a list of feature maps, for detectors."""

from __future__ import annotations

import torch
from torch import nn


class FeatureExtractor(nn.Module):
    """Wrap a :class:`~cnnzoo.models._base.ZooModel` to return the feature map of each stage.

    The model's ``feature_info`` names, per stage, the module whose output is that stage's map;
    forward hooks collect them during ``forward_features``. ``feature_info`` here lists the
    selected stages with ``num_chs``, ``reduction`` (stride against the input) and ``module``.
    """

    def __init__(self, model: nn.Module, out_indices: tuple[int, ...] | None = None) -> None:
        super().__init__()
        info = list(getattr(model, "feature_info", []))
        if not info:
            raise ValueError(f"{type(model).__name__} has no stages to return: features_only is not supported")
        n = len(info)
        out_indices = tuple(range(n)) if out_indices is None else tuple(out_indices)
        bad = [i for i in out_indices if not -n <= i < n]
        if bad or not out_indices:
            raise ValueError(f"out_indices {out_indices} out of range: this model has {n} stages (0..{n - 1})")
        self.out_indices = tuple(sorted(i % n for i in out_indices))
        self.feature_info = [dict(info[i]) for i in self.out_indices]
        if hasattr(model, "reset_classifier"):
            model.reset_classifier(0)
        self.model = model
        self._outputs: dict[str, torch.Tensor] = {}
        modules = dict(model.named_modules())
        for entry in self.feature_info:
            name = entry["module"]
            if name not in modules:
                raise RuntimeError(f"feature_info names module {name!r}, which the model does not have")
            modules[name].register_forward_hook(self._save(name))

    def _save(self, name: str):
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            self._outputs[name] = output

        return hook

    @property
    def min_size(self) -> int:
        return int(getattr(self.model, "min_size", 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if hasattr(self.model, "check_input"):
            self.model.check_input(x)
        self._outputs = {}
        self.model.forward_features(x)
        out = [self._outputs[e["module"]] for e in self.feature_info]
        self._outputs = {}
        return out
