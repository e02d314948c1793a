"""The proxy task every candidate of a search is trained on, with the same budget for all.

MnasNet (§4.3) and EfficientNetV2 (§3.3) rank candidates by a short training run on a proxy task instead
of full ImageNet training; here the proxy is a slice of Fashion-MNIST (or any image folder) at a small
resolution, trained for a fixed number of epochs with SGD and a one-cycle schedule. The accuracy on a
test slice is measured ``evals`` times during training, so poor trials can be pruned early.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.data import ImageData, is_fashion_mnist, load_data
from cnnzoo.tables import plural
from cnnzoo.train.batches import InMemoryBatches, to_float
from cnnzoo.train.evaluation import evaluate
from cnnzoo.train.optim import create_optimizer, create_scheduler

__all__ = ["ProxyTask", "ProxyData", "ProxyResult", "NonFiniteLoss", "load_proxy_data", "seeded_build",
           "train_proxy", "MAX_PROXY_SIZE"]

#: the largest proxy image side (the slices are held in memory at this size) and the most evaluations
MAX_PROXY_SIZE, MAX_EVALS = 512, 100


class NonFiniteLoss(RuntimeError):
    """The proxy training's loss became NaN or infinite: the candidate's score would be chance, not its own."""


@dataclass(frozen=True)
class ProxyTask:
    """The proxy budget: which images, at which size, for how long.

    ``train_images``/``test_images`` take the first N of each split; ``max_steps`` caps the steps of the
    whole run (``None``: ``epochs`` full epochs); ``evals`` is how many times the test slice is scored
    (the intermediate values that pruning compares)."""

    data: str | None = None
    img_size: int = 32
    train_images: int = 3000
    test_images: int = 1000
    epochs: int = 1
    max_steps: int | None = None
    batch_size: int = 64
    lr: float = 0.1
    weight_decay: float = 5e-5
    evals: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("img_size", "train_images", "test_images", "epochs", "batch_size", "evals"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"proxy {key} must be an integer >= 1, got {value!r}")
        if self.max_steps is not None and (not isinstance(self.max_steps, int) or self.max_steps < 1):
            raise ValueError(f"proxy max_steps must be an integer >= 1 or None, got {self.max_steps!r}")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < math.inf):
            raise ValueError(f"proxy lr must be a finite number > 0, got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and 0 <= self.weight_decay < math.inf):
            raise ValueError(f"proxy weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if self.evals > MAX_EVALS:
            raise ValueError(f"proxy evals must be at most {MAX_EVALS}, got {self.evals}")
        if self.img_size > MAX_PROXY_SIZE:
            raise ValueError(f"proxy img_size must be at most {MAX_PROXY_SIZE}, got {self.img_size}")

    def describe(self) -> str:
        steps = f", at most {plural(self.max_steps, 'step')}" if self.max_steps else ""
        return (f"{self.train_images} train / {self.test_images} test images at {self.img_size}², "
                f"{plural(self.epochs, 'epoch')}{steps}, batch {self.batch_size}, SGD lr {self.lr:g} one-cycle")


@dataclass
class ProxyData:
    """The proxy task's two splits, in memory."""

    train: ImageData
    test: ImageData

    @property
    def in_chans(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.train.classes)


@dataclass
class ProxyResult:
    """Proxy accuracy (top-1 %, on the test slice), mean training-step time (ms), steps and seconds run."""

    accuracy: float
    step_time_ms: float
    steps: int
    seconds: float


def load_proxy_data(task: ProxyTask) -> ProxyData:
    """Load the task's slices once (Fashion-MNIST as 1 channel; an image folder as 3)."""
    in_chans = 1 if is_fashion_mnist(task.data) else 3
    train = load_data(task.data, "train", in_chans, task.img_size).subset(task.train_images)
    test = load_data(task.data, "test", in_chans, task.img_size).subset(task.test_images)
    test.mean, test.std = train.mean, train.std
    return ProxyData(train, test)


def seeded_build(task: ProxyTask, build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` with PyTorch's generator set to the task's seed, and restored afterwards: the same
    architecture starts from the same weights in every trial and every process. Its proxy accuracy is then
    a property of the architecture, not of the weights it happened to draw (they moved it by up to 14
    points on the 47-step proxy of BENCHMARKS.md, "Scaling-coefficient search")."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(task.seed)
        return build()


def train_proxy(model: nn.Module, data: ProxyData, task: ProxyTask, img_size: int | None = None,
                report: Callable[[int, float], None] | None = None,
                progress: Callable[[int, int], None] | None = None) -> ProxyResult:
    """Train ``model`` on the proxy task (at ``img_size``, default the task's) and return its accuracy.

    ``report(k, accuracy)`` is called at each of the ``task.evals`` evaluation points but the last (``k`` =
    0, 1, …; it may raise to stop the run, e.g. ``optuna.TrialPruned``); ``progress(step, total)`` after
    each step. A NaN or infinite loss raises :class:`NonFiniteLoss`.
    """
    size = img_size or task.img_size
    torch.manual_seed(task.seed)
    source = InMemoryBatches(data.train, task.batch_size, shuffle=True, seed=task.seed)
    per_epoch = source.steps_per_epoch
    total = per_epoch * task.epochs if task.max_steps is None else min(task.max_steps, per_epoch * task.epochs)
    opt = create_optimizer(model, "sgd", task.lr, task.weight_decay, 0.9)
    sched = create_scheduler(opt, "onecycle", total, per_epoch)
    at = sorted({max(1, math.ceil(total * (k + 1) / task.evals)) for k in range(task.evals)})
    mean = torch.tensor(data.train.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.train.std).view(1, -1, 1, 1)
    step, acc, times, t0 = 0, float("nan"), [], time.perf_counter()
    model.train()
    for epoch in range(task.epochs):
        for images, labels in source.batches(epoch):
            if step >= total:
                break
            ts = time.perf_counter()
            x = (to_float(images, size) - mean) / std
            loss = F.cross_entropy(model(x), labels)
            if not torch.isfinite(loss):
                raise NonFiniteLoss(f"the proxy loss is {loss.item()} at step {step + 1} of {total}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            times.append(time.perf_counter() - ts)
            step += 1
            if progress is not None:
                progress(step, total)
            if step in at:
                acc = evaluate(model, data.test, size, batch_size=250).top1
                model.train()
                if report is not None and step != at[-1]:  # after the last one there is nothing to save
                    report(at.index(step), acc)
    warm = times[1:] or times  # the first step pays one-off allocations
    return ProxyResult(acc, 1e3 * sum(warm) / max(1, len(warm)), step, time.perf_counter() - t0)
