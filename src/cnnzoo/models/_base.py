"""The base class of every cnnzoo classifier: input checks and the timm-style model interface."""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.layers.classifier import ClassifierHead
from cnnzoo.layers.helpers import is_exporting as _is_exporting
from cnnzoo.tables import plural


class ZooModel(nn.Module):
    """A backbone followed by a classifier head.

    Subclasses build ``self.head`` (a :class:`~cnnzoo.layers.ClassifierHead` or a module with the
    same ``reset``/``forward(x, pre_logits)`` interface), implement :meth:`forward_features`, and
    append one entry per stage to ``self.feature_info``:
    ``dict(num_chs=…, reduction=…, module="dotted.name")`` (the module whose output is the stage's
    feature map), which ``features_only=True`` uses.
    """

    head: nn.Module

    def __init__(self, in_chans: int, num_classes: int, min_size: int) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.min_size = min_size
        self.feature_info: list[dict] = []

    # -- input ---------------------------------------------------------------------------------
    @torch.jit.unused
    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ``ValueError`` that says what was wrong for inputs the model cannot take."""
        name = type(self).__name__
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} expects a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 4:
            raise ValueError(
                f"{name} expects a 4-D batch (N, C, H, W), got a tensor of shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.in_chans:
            raise ValueError(
                f"{name} was built for in_chans={self.in_chans} but got {plural(x.shape[1], 'channel')} "
                f"(input shape {tuple(x.shape)}); build it with in_chans={x.shape[1]}"
            )
        h, w = x.shape[-2:]
        if h < self.min_size or w < self.min_size:
            raise ValueError(
                f"{name} needs inputs of at least {self.min_size}x{self.min_size} pixels, got {h}x{w}"
            )

    # -- the timm-style interface --------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone: input batch → last feature map (N, C, H', W')."""
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pooling and classifier; ``pre_logits=True`` stops before the last linear layer."""
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting() and not torch.jit.is_tracing() and not _is_exporting():
            self.check_input(x)
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The final linear layer."""
        return self.head.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a new one of ``num_classes`` outputs (0: no classifier)."""
        if not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be an int >= 0, got {num_classes!r}")
        self.head.reset(num_classes)
        self.num_classes = num_classes

    @property
    def num_features(self) -> int:
        """Width of the pre-logits features."""
        head = self.head
        return head.num_features if isinstance(head, ClassifierHead) else int(head.num_features)
