"""Training losses: soft-target cross-entropy and the auxiliary-classifier sum (GoogLeNet §5, Inception v3 §4).

Models with ``aux_logits=True`` return ``(logits, aux1, …)`` in training mode and the logits alone in
eval mode; :func:`aux_loss` takes either form.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


def aux_loss(outputs: torch.Tensor | Sequence[torch.Tensor], target: torch.Tensor,
             criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
             aux_weight: float = 0.3) -> torch.Tensor:
    """``criterion(main) + aux_weight · Σ criterion(aux_i)``.

    GoogLeNet adds each auxiliary loss "with a discount weight (the losses of the auxiliary classifiers
    were weighted by 0.3)" (Szegedy et al. 2015, §5); torchvision's Inception v3 recipe uses 0.4.
    A plain tensor (eval mode, or a model without auxiliary heads) gives ``criterion(outputs, target)``.
    """
    if isinstance(outputs, torch.Tensor):
        return criterion(outputs, target)
    if not isinstance(outputs, (tuple, list)) or not outputs:
        raise TypeError(f"outputs must be a tensor or a non-empty tuple (logits, aux…), got {type(outputs).__name__}")
    main, *aux = outputs
    loss = criterion(main, target)
    for logits in aux:
        loss = loss + aux_weight * criterion(logits, target)
    return loss


def split_outputs(out: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``(logits, [aux…])`` of a model's output, a tensor or a tuple (logits, aux1, …)."""
    if isinstance(out, (tuple, list)):
        return out[0], list(out[1:])
    return out, []


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft targets (label smoothing, mixup), computed in float32."""
    return -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


def compute_loss(logits: torch.Tensor, aux: list[torch.Tensor], targets: torch.Tensor,
                 aux_weight: float = 0.3) -> torch.Tensor:
    """The training loss: soft-target cross-entropy of the logits plus ``aux_weight`` × that of each auxiliary
    output, via :func:`aux_loss`."""
    return aux_loss((logits, *aux) if aux else logits, targets, lambda o, t: soft_cross_entropy(o, t), aux_weight)
