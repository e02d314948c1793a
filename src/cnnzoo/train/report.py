"""What a run leaves for people: metrics CSV, curves and confusion matrix as PNG, summary tables."""

from __future__ import annotations

import os
import textwrap
from typing import Any

import torch

from cnnzoo.files import atomic_write

__all__ = ["plot_curves", "plot_confusion", "confusion_figure"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(path: str | os.PathLike, rows: list[dict[str, Any]], title: str = "", split: str = "test") -> None:
    """Loss and accuracy per epoch (train and the evaluated ``split``, EMA if present)."""
    if not rows:
        return
    plt = _plt()
    ep = [r["epoch"] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(ep, [r["train_loss"] for r in rows], "o-", label="train")
    a1.plot(ep, [r["test_loss"] for r in rows], "o-", label=split)
    a1.set(xlabel="epoch", ylabel="loss", title="loss")
    a2.plot(ep, [r["train_acc"] for r in rows], "o-", label="train")
    a2.plot(ep, [r["test_top1"] for r in rows], "o-", label=split)
    if "ema_top1" in rows[0]:
        a2.plot(ep, [r["ema_top1"] for r in rows], "o-", label=f"{split} (EMA)")
    a2.set(xlabel="epoch", ylabel="top-1 accuracy (%)", title="accuracy")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend()
    fig.suptitle(title)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def _short(name: str, width: int = 24) -> str:
    """A class name cut to ``width`` characters (with an ellipsis) for axis labels."""
    return name if len(name) <= width else name[:width - 1] + "…"


def confusion_figure(cm: torch.Tensor, classes: list[str], title: str = "") -> Any:
    """The confusion matrix (rows: true class, columns: predicted) as a matplotlib figure whose title and
    labels fit inside it whatever the number and length of the class names: the figure grows with the
    classes, names longer than 24 characters are shortened, x labels are rotated and the title wrapped."""
    plt = _plt()
    n = len(classes)
    side = max(5.0, 2.5 + 0.45 * n)  # inches
    fig, ax = plt.subplots(figsize=(side, side), layout="constrained")
    ax.imshow(cm.numpy(), cmap="Blues")
    labels = [_short(str(c)) for c in classes]
    ax.set_xticks(range(n), labels, rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(textwrap.fill(title or "confusion matrix", width=max(20, int(side * 9))), fontsize=10)
    vmax = float(cm.max()) if cm.numel() else 0.0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > vmax / 2 else "black")
    return fig


def plot_confusion(path: str | os.PathLike, cm: torch.Tensor, classes: list[str], title: str = "") -> None:
    """Write :func:`confusion_figure` as a PNG, atomically."""
    plt = _plt()
    fig = confusion_figure(cm, classes, title)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)

