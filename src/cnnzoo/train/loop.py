"""One epoch of training steps, and the per-epoch settings of progressive learning."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cnnzoo.device import autocast
from cnnzoo.train.augment import BatchAugment, soft_targets
from cnnzoo.train.batches import BatchSource, to_float
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.losses import compute_loss, split_outputs
from cnnzoo.train.state import RunState
from cnnzoo.train.transfer import bn_eval

__all__ = ["EpochStats", "NonFiniteLossError", "train_one_epoch", "stage_settings", "set_dropout"]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


@dataclass
class EpochStats:
    """Mean training loss, training accuracy (%), images seen (all ranks), seconds of one epoch and the
    seconds of it spent waiting for batches."""

    loss: float
    acc: float
    images: int
    seconds: float
    img_size: int
    data_seconds: float = 0.0


def stage_settings(cfg: TrainConfig, epoch: int, final_size: int) -> dict[str, Any]:
    """Progressive learning (EfficientNetV2, Alg. 1): the epochs are split into ``prog_stages`` stages and
    image size, dropout, RandAugment magnitude and mixup grow linearly from their ``prog_*_start`` values
    in the first stage to the configured values in the last."""
    final = dict(img_size=final_size, drop_rate=cfg.drop_rate, ra_m=cfg.ra_m, mixup=cfg.mixup, stage=0)
    if cfg.prog_stages <= 1:
        return final
    stage = min(cfg.prog_stages - 1, epoch * cfg.prog_stages // cfg.epochs)
    t = stage / (cfg.prog_stages - 1)
    start_size = cfg.prog_img_size_start or final_size
    lerp = lambda a, b: a + (b - a) * t  # noqa: E731
    size = int(round(lerp(start_size, final_size) / 4) * 4) if stage < cfg.prog_stages - 1 else final_size
    drop = None if cfg.drop_rate is None else lerp(cfg.prog_drop_rate_start, cfg.drop_rate)
    return dict(img_size=size, drop_rate=drop,
                ra_m=lerp(cfg.prog_ra_m_start, cfg.ra_m), mixup=lerp(cfg.prog_mixup_start, cfg.mixup), stage=stage)


def set_dropout(model: nn.Module, p: float) -> None:
    """Set the rate of every ``nn.Dropout`` in ``model``."""
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = p


def train_one_epoch(state: RunState, net: nn.Module, source: BatchSource, cfg: TrainConfig, epoch: int,
                    img_size: int, device: torch.device, *, world_size: int = 1, show_progress: bool = False,
                    checkpoint_hint: str = "none") -> EpochStats:
    """Train ``net`` (``state.model``, possibly wrapped in DDP) for epoch ``epoch`` (0-based) on ``source``'s
    batches at ``img_size`` (the final size; progressive learning starts smaller): augment, step the
    optimiser, the per-step schedule and the EMA. Sums are reduced over ranks.

    Raises :class:`NonFiniteLossError` (naming ``checkpoint_hint``, the last good checkpoint) on a NaN/inf loss.
    """
    st = stage_settings(cfg, epoch, img_size)
    if (set_size := getattr(source, "set_image_size", None)) is not None:  # streamed sources transform per size
        set_size(st["img_size"])
    if st["drop_rate"] is not None:
        set_dropout(state.model, st["drop_rate"])
    aug = BatchAugment(cfg.crop_padding, cfg.flip, cfg.policy, cfg.ra_n, st["ra_m"], cfg.erasing, st["mixup"],
                       cfg.cutmix)
    mean = torch.tensor(source.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(source.std, device=device).view(1, -1, 1, 1)
    steps = source.steps_per_epoch
    total_steps = steps * cfg.epochs
    done_steps = epoch * steps
    opt, sched, scaler, ema = state.optimizer, state.scheduler, state.scaler, state.ema
    net.train()
    bn_eval(state.model)  # --freeze-bn: batch-norm statistics stay fixed
    t0 = time.time()
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, count
    bar = None
    if show_progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", leave=True,
                   dynamic_ncols=True, mininterval=1.0)
    step_time = data_time = None
    data_total = 0.0
    t_wait = time.time()
    try:  # the bar ends its line however the epoch ends (Ctrl-C included)
        for i, (images, labels) in enumerate(source.batches(epoch)):
            ts = time.time()
            wait = ts - t_wait
            data_total += wait
            data_time = wait if data_time is None else 0.9 * data_time + 0.1 * wait
            x = to_float(images.to(device, non_blocking=True), st["img_size"])
            y = labels.to(device, non_blocking=True)
            x, mix = aug(x, y)
            x = (x - mean) / std
            if cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            targets = soft_targets(y, source.num_classes, cfg.label_smoothing, mix)
            with autocast(device, cfg.amp):
                logits, aux = split_outputs(net(x))
            loss = compute_loss(logits, aux, targets, cfg.aux_weight)
            if not torch.isfinite(loss).all():
                hint = "Try a lower --lr" + (f" or --amp fp32 (now {cfg.amp})" if cfg.amp != "fp32" else "") + "."
                raise NonFiniteLossError(
                    f"non-finite loss ({loss.item()}) at epoch {epoch + 1}, step {i + 1} (global step "
                    f"{done_steps + 1}); stopping. Last good checkpoint: {checkpoint_hint}. {hint}")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.clip_grad > 0:
                scaler.unscale_(opt)  # clip the true gradients, not the fp16-scaled ones
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip_grad)
            scaler.step(opt)
            scaler.update()
            sched.step()
            if ema is not None:
                ema.update(state.model)
            done_steps += 1
            with torch.no_grad():
                sums += torch.stack([loss.detach().double() * len(y), (logits.argmax(1) == y).sum().double(),
                                     torch.tensor(float(len(y)), dtype=torch.float64, device=device)])
            t_wait = time.time()
            dt = t_wait - ts
            step_time = dt if step_time is None else 0.9 * step_time + 0.1 * dt
            # data: waiting for the batch; step: the rest. data ≳ step: the loader is the bottleneck
            if bar is not None:
                eta = (step_time + data_time) * (total_steps - done_steps)
                bar.set_postfix_str(f"loss {sums[0] / sums[2]:.3f} acc {100 * sums[1] / sums[2]:.1f}% "
                                    f"{len(y) * world_size / (dt + wait):.0f} img/s data {1000 * data_time:.0f} ms "
                                    f"step {1000 * step_time:.0f} ms ETA {eta / 60:.1f} min", refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if world_size > 1:
        import torch.distributed as dist

        dist.all_reduce(sums)
        _average_buffers(state.model, world_size)
    return EpochStats(loss=float(sums[0] / sums[2]), acc=float(100 * sums[1] / sums[2]), images=int(sums[2]),
                      seconds=time.time() - t0, img_size=st["img_size"], data_seconds=data_total)


@torch.no_grad()
def _average_buffers(model: nn.Module, world: int) -> None:
    """Average floating-point buffers (batch-norm running statistics) over the ranks at the end of an
    epoch: DDP keeps parameters in step, but each rank updates its running statistics with its own batches."""
    import torch.distributed as dist

    for b in model.buffers():
        if b.is_floating_point():
            dist.all_reduce(b)
            b.div_(world)
