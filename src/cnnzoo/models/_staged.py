"""A model whose backbone is a list of named stages, with optional auxiliary classifiers tapped between
them: the shape of the whole Inception lineage (GoogLeNet §5, Inception v3 §4).

Convention for every model with auxiliary heads: with ``aux_logits=True`` and in training mode,
``forward`` returns ``(logits, aux1, …)`` (auxiliary heads in network order); in eval mode, or with
``aux_logits=False``, the logits tensor alone. ``forward_features`` (and ``features_only``) never
run the auxiliary heads; ``reset_classifier`` resets them to the same number of classes. Train with
:func:`cnnzoo.train.losses.aux_loss`.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.models._base import ZooModel, _is_exporting


class StagedModel(ZooModel):
    """Subclasses register their stages as attributes in forward order and list the names in
    ``stage_names``; ``aux_taps`` maps a stage name to the attribute name of the auxiliary head that
    reads that stage's output (empty without auxiliary heads). Each auxiliary head has ``reset(n)``."""

    stage_names: list[str]
    aux_taps: dict[str, str]

    def __init__(self, in_chans: int, num_classes: int, min_size: int, aux_logits: bool = False) -> None:
        super().__init__(in_chans, num_classes, min_size)
        self.aux_logits = aux_logits
        self.stage_names = []
        self.aux_taps = {}

    def add_stage(self, name: str, module: nn.Module) -> None:
        """Append a stage to the backbone (run in the order added)."""
        self.add_module(name, module)
        self.stage_names.append(name)

    def _run_stages(self, x: torch.Tensor, collect_aux: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        aux: list[torch.Tensor] = []
        for name in self.stage_names:
            x = self._modules[name](x)
            if collect_aux and name in self.aux_taps:
                aux.append(self._modules[self.aux_taps[name]](x))
        return x, aux

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._run_stages(x, collect_aux=False)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:  # type: ignore[override]
        if not torch.jit.is_scripting() and not torch.jit.is_tracing() and not _is_exporting():
            self.check_input(x)
        collect = self.training and self.aux_logits and bool(self.aux_taps)
        x, aux = self._run_stages(x, collect)
        logits = self.forward_head(x)
        return (logits, *aux) if collect else logits

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier, and every auxiliary classifier, with ``num_classes`` outputs."""
        super().reset_classifier(num_classes)
        for head in self.aux_taps.values():
            self._modules[head].reset(num_classes)
