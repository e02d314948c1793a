"""Evaluation: top-1/top-5, loss, per-class accuracy and confusion matrix of a model on a split."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.data import ImageData
from cnnzoo.device import autocast
from cnnzoo.train.batches import BatchSource, InMemoryBatches, to_float
from cnnzoo.train.losses import split_outputs

__all__ = ["EvalResult", "evaluate", "format_top5", "TOP5_MIN_CLASSES"]

# top-5 is reported only with more than 5 classes: with 5 or fewer it is 100 % by construction
TOP5_MIN_CLASSES = 6


@dataclass
class EvalResult:
    """Accuracies in %, mean cross-entropy, per-class accuracy (%), confusion matrix (true × predicted).
    ``top5`` is ``None`` with 5 classes or fewer, where it would say nothing (always 100 %)."""

    top1: float
    top5: float | None
    loss: float
    per_class: list[float]
    confusion: torch.Tensor
    count: int


@torch.no_grad()
def evaluate(model: nn.Module, data: ImageData | BatchSource, img_size: int, batch_size: int = 500,
             device: str | torch.device = "cpu", amp: str = "fp32", channels_last: bool = False,
             tta_flip: bool = False, rank: int = 0, world_size: int = 1) -> EvalResult:
    """Top-1/top-5 (%), mean loss, per-class accuracy (%) and confusion matrix of ``model`` on ``data``
    (an ``ImageData``, scored in order, or any :class:`BatchSource`, whose ``batches(0)`` is scored).

    With ``tta_flip`` the softmax of each image and its mirror image are averaged. Under
    ``torch.distributed`` each rank scores a disjoint shard and the sums are reduced.
    """
    device = torch.device(device)
    source = InMemoryBatches(data, batch_size, shuffle=False, rank=rank, world_size=world_size) \
        if isinstance(data, ImageData) else data
    was_training = model.training
    model.eval()
    n_cls = len(source.classes)
    mean = torch.tensor(source.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(source.std, device=device).view(1, -1, 1, 1)
    cm = torch.zeros(n_cls, n_cls, dtype=torch.int64, device=device)
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, top5 hits, count
    for images, labels in source.batches(0):
        x = (to_float(images.to(device, non_blocking=True), img_size) - mean) / std
        y = labels.to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            logits = split_outputs(model(x))[0].float()
            if tta_flip:
                logits2 = split_outputs(model(torch.flip(x, dims=[3])))[0].float()
                probs = (logits.softmax(1) + logits2.softmax(1)) / 2
                logits = probs.clamp_min(1e-12).log()
        sums[0] += F.cross_entropy(logits, y, reduction="sum").double()
        sums[1] += (logits.topk(min(5, n_cls), dim=1).indices == y[:, None]).any(dim=1).sum()
        sums[2] += len(y)
        cm += torch.bincount(y * n_cls + logits.argmax(1), minlength=n_cls * n_cls).view(n_cls, n_cls)
    if world_size > 1:
        import torch.distributed as dist

        dist.all_reduce(cm)
        dist.all_reduce(sums)
    model.train(was_training)
    cm = cm.cpu()
    count = int(sums[2])
    per_class = (cm.diag().double() / cm.sum(1).clamp_min(1).double() * 100).tolist()
    top5 = float(sums[1]) / max(1, count) * 100 if n_cls >= TOP5_MIN_CLASSES else None
    return EvalResult(top1=float(cm.diag().sum()) / max(1, count) * 100, top5=top5,
                      loss=float(sums[0]) / max(1, count), per_class=per_class, confusion=cm, count=count)


def format_top5(top5: float | None, template: str = " top-5 {:.2f}%") -> str:
    """``template`` filled with a top-5 accuracy, or ``""`` where top-5 is not reported (``None``)."""
    return "" if top5 is None else template.format(top5)
