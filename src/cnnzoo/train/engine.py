"""The training loop: one process or DistributedDataParallel under ``torchrun``.

``train(cfg)`` loads the data into memory, builds the model from the registry, and for each epoch
slices shuffled batches, augments them with kornia, steps the optimiser and the per-step schedule,
updates the EMA, evaluates on the test split, and writes metrics and checkpoints atomically
(only rank 0 writes). ``--resume`` restores everything including RNG states, so that on the CPU in
deterministic mode a killed and resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from cnnzoo.data import ImageData, iterate_batches, load_data
from cnnzoo.device import autocast, bf16_emulation_warning
from cnnzoo.factory import create_model
from cnnzoo.registry import model_info
from cnnzoo.train import checkpoint as ckpt
from cnnzoo.train.augment import BatchAugment, soft_targets
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.ema import ModelEMA
from cnnzoo.train.optim import create_optimizer, create_scheduler
from cnnzoo.train.report import confusion_table, format_table, plot_confusion, plot_curves, write_csv
from cnnzoo.train.whitening import first_conv, patch_whitening_

__all__ = ["train", "evaluate", "EvalResult", "stage_settings", "compute_loss", "NonFiniteLossError"]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


@dataclass
class EvalResult:
    top1: float
    top5: float
    loss: float
    per_class: list[float]
    confusion: torch.Tensor
    count: int


# ----------------------------------------------------------------------------------------- helpers

def _dist() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world


def _soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


def compute_loss(logits: torch.Tensor, aux: list[torch.Tensor], targets: torch.Tensor,
                 aux_weight: float = 0.3) -> torch.Tensor:
    """Soft-target cross-entropy of the main logits plus ``aux_weight`` × that of each auxiliary output
    (GoogLeNet, Szegedy et al. 2015, §5: the auxiliary classifiers' losses weigh 0.3)."""
    loss = _soft_cross_entropy(logits, targets)
    for a in aux:
        loss = loss + aux_weight * _soft_cross_entropy(a, targets)
    return loss


def _split_outputs(out: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
    if isinstance(out, (tuple, list)):
        return out[0], list(out[1:])
    return out, []


def _prepare(x_uint8: torch.Tensor, size: int, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    x = x_uint8.float().div_(255)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


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


def _set_dropout(model: nn.Module, p: float) -> None:
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = p


@torch.no_grad()
def evaluate(model: nn.Module, data: ImageData, img_size: int, batch_size: int = 500,
             device: str | torch.device = "cpu", amp: str = "none", channels_last: bool = False, tta_flip: bool = False,
             rank: int = 0, world_size: int = 1) -> EvalResult:
    """Top-1/top-5 (%), mean loss, per-class accuracy (%) and confusion matrix of ``model`` on ``data``.

    With ``tta_flip`` the softmax of each image and its mirror image are averaged. Under
    ``torch.distributed`` each rank scores a disjoint shard and the sums are reduced.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    n_cls = len(data.classes)
    mean = torch.tensor(data.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(data.std, device=device).view(1, -1, 1, 1)
    cm = torch.zeros(n_cls, n_cls, dtype=torch.int64, device=device)
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, top5 hits, count
    idx_all = torch.arange(len(data))[rank::world_size]
    for start in range(0, len(idx_all), batch_size):
        idx = idx_all[start:start + batch_size]
        x = _prepare(data.images[idx], img_size, mean, std).to(device)
        x = (x - mean) / std
        y = data.labels[idx].to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            logits = _split_outputs(model(x))[0].float()
            if tta_flip:
                logits2 = _split_outputs(model(torch.flip(x, dims=[3])))[0].float()
                probs = (logits.softmax(1) + logits2.softmax(1)) / 2
                logits = probs.clamp_min(1e-12).log()
        sums[0] += F.cross_entropy(logits, y, reduction="sum").double()
        k = min(5, n_cls)
        sums[1] += (logits.topk(k, dim=1).indices == y[:, None]).any(dim=1).sum()
        sums[2] += len(y)
        pred = logits.argmax(1)
        cm += torch.bincount(y * n_cls + pred, minlength=n_cls * n_cls).view(n_cls, n_cls)
    if world_size > 1:
        import torch.distributed as dist

        dist.all_reduce(cm)
        dist.all_reduce(sums)
    model.train(was_training)
    cm = cm.cpu()
    count = int(sums[2])
    per_class = (cm.diag().double() / cm.sum(1).clamp_min(1).double() * 100).tolist()
    return EvalResult(top1=float(cm.diag().sum()) / max(1, count) * 100, top5=float(sums[1]) / max(1, count) * 100,
                      loss=float(sums[0]) / max(1, count), per_class=per_class, confusion=cm, count=count)


def _accuracy(value: float) -> float | None:
    """A checkpoint's recorded accuracy: None for an epoch whose test split was not evaluated."""
    return None if math.isnan(value) else round(value, 4)


def _stale(path: Path, epoch: int) -> bool:
    try:
        return ckpt.read_metadata(path).get("epoch") != epoch
    except (FileNotFoundError, ValueError):
        return True


def _repair_weights(run_dir: Path, meta: dict, model: nn.Module, ema: ModelEMA | None, epoch: int, row: dict,
                    best_epoch: int, best_acc: float, best_kind: str) -> None:
    """After a kill between the resume state and the weight files, rewrite the weight files it left stale."""
    if _stale(run_dir / "last.safetensors", epoch):
        ckpt.save_weights(run_dir / "last.safetensors", model.state_dict(),
                          dict(meta, epoch=epoch, accuracy=_accuracy(row["test_top1"]), weights="model"))
    if ema is not None and _stale(run_dir / "last_ema.safetensors", epoch):
        ckpt.save_weights(run_dir / "last_ema.safetensors", ema.module.state_dict(),
                          dict(meta, epoch=epoch, accuracy=_accuracy(row["ema_top1"]), weights="ema"))
    if best_epoch == epoch and _stale(run_dir / "best.safetensors", epoch):
        src = ema.module if best_kind == "ema" and ema is not None else model
        ckpt.save_weights(run_dir / "best.safetensors", src.state_dict(),
                          dict(meta, epoch=epoch, accuracy=round(best_acc, 4), weights=best_kind))


@torch.no_grad()
def _average_buffers(model: nn.Module, world: int) -> None:
    """Average floating-point buffers (batch-norm running statistics) over the ranks at the end of an
    epoch: DDP keeps parameters in step, but each rank updates its running statistics with its own batches."""
    import torch.distributed as dist

    for b in model.buffers():
        if b.is_floating_point():
            dist.all_reduce(b)
            b.div_(world)


@torch.no_grad()
def _ranks_identical(model: nn.Module) -> bool:
    """Whether every rank holds exactly rank 0's weights (DDP keeps them in step; this checks it)."""
    import torch.distributed as dist

    flat = torch.cat([t.detach().reshape(-1).float() for t in model.state_dict().values() if t.is_floating_point()])
    ref = flat.clone()
    dist.broadcast(ref, 0)
    same = torch.tensor([1 if torch.equal(ref, flat) else 0], device=flat.device)
    dist.all_reduce(same, op=dist.ReduceOp.MIN)
    return bool(same.item())


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------------------- training

def train(cfg: TrainConfig, resume: bool = False) -> dict[str, Any]:
    """Run (or resume) a training described by ``cfg``; returns the final report (also saved as report.json)."""
    cfg.validate()
    rank, local_rank, world = _dist()
    distributed = world > 1
    if cfg.device:
        device = torch.device(cfg.device)
    elif torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if cfg.sync_bn and device.type != "cuda":
        raise ValueError("--sync-bn needs CUDA devices (PyTorch's SyncBatchNorm is GPU-only); "
                         "on the CPU each rank keeps its own batch-norm statistics, drop the flag")
    if cfg.amp == "fp16" and device.type != "cuda":
        raise ValueError("amp fp16 needs CUDA; on the CPU use --amp bf16")
    if distributed:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    is_main = rank == 0
    if cfg.amp == "bf16" and is_main and (msg := bf16_emulation_warning(device, "training")):
        print(f"cnnzoo train: warning: {msg} (--amp none)", file=sys.stderr, flush=True)

    run_dir = Path(cfg.out_dir) / (cfg.name or f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}")
    cfg.name = run_dir.name
    state_path = run_dir / "last.state.pt"
    if not resume and is_main and state_path.exists():
        raise ValueError(f"{run_dir} already holds a run; use --resume to continue it or choose another --name")

    # data --------------------------------------------------------------------------------------
    info = model_info(cfg.model)
    fmnist = cfg.data in (None, "", "fashion-mnist", "fashion_mnist") or (
        Path(cfg.data).is_dir() and (Path(cfg.data) / "t10k-labels-idx1-ubyte.gz").is_file())
    in_chans = cfg.in_chans or (1 if fmnist else info.default_in_chans)
    img_size = cfg.img_size or (max(28, info.min_size) if fmnist else info.input_size[1])
    train_data = load_data(cfg.data, "train", in_chans, img_size).subset(cfg.train_subset)
    test_data = load_data(cfg.data, "test", in_chans, img_size).subset(cfg.test_subset)
    test_data.mean, test_data.std = train_data.mean, train_data.std
    n_cls = len(train_data.classes)

    # model, optimiser, schedule ----------------------------------------------------------------
    _seed_all(cfg.seed)
    model = create_model(cfg.model, num_classes=n_cls, in_chans=in_chans, drop_rate=cfg.drop_rate,
                         drop_path_rate=cfg.drop_path_rate, **cfg.model_kwargs)
    if distributed and cfg.sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(device)
    if cfg.whiten_stem:  # set from the data, then frozen; a resumed run loads the same weights back
        sample = train_data.images[:10_000]
        x = _prepare(sample, img_size, None, None)
        x = (x - torch.tensor(train_data.mean).view(1, -1, 1, 1)) / torch.tensor(train_data.std).view(1, -1, 1, 1)
        patch_whitening_(first_conv(model), x.to(device))
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    ema = ModelEMA(model, cfg.ema_decay) if cfg.ema else None
    net: nn.Module = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    n_rank = -(-len(train_data) // world)
    drop_last = n_rank >= cfg.batch_size
    steps_per_epoch = n_rank // cfg.batch_size if drop_last else 1
    total_steps = steps_per_epoch * cfg.epochs
    opt = create_optimizer(model, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum)
    sched = create_scheduler(opt, cfg.schedule, total_steps, steps_per_epoch, cfg.warmup_epochs,
                             **dict(step_epochs=cfg.step_epochs, gamma=cfg.gamma, decay_rate=cfg.decay_rate,
                                    decay_epochs=cfg.decay_epochs) if cfg.schedule in ("step", "exponential") else {})
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")

    history: list[dict[str, Any]] = []
    start_epoch, best_acc, best_epoch, state_best_kind = 0, -1.0, 0, "model"
    if resume and not state_path.exists() and (run_dir / "config.yaml").is_file():
        if is_main:
            print(f"cnnzoo train: {run_dir} has no completed epoch yet; starting it from the beginning", flush=True)
        resume = False
    if resume:
        state = ckpt.load_state(state_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        if ema is not None and state.get("ema"):
            ema.load_state_dict(state["ema"])
        start_epoch, best_acc, best_epoch = int(state["epoch"]), float(state["best_acc"]), int(state["best_epoch"])
        history = json.loads(state["history"])
        state_best_kind = str(state.get("best_kind", "model"))
        ckpt.set_rng_state(state["rng"])
        if distributed:  # distinct augmentation streams per rank
            torch.manual_seed(cfg.seed + 1000 * rank + start_epoch)
    elif distributed:
        torch.manual_seed(cfg.seed + 1000 * rank)

    # drop_rate goes with the constructor keywords: in some heads it decides whether Dropout modules exist
    # (and so the state-dict keys), so a checkpoint is rebuilt with the rate it was trained with
    model_kwargs = dict(cfg.model_kwargs, **({} if cfg.drop_rate is None else {"drop_rate": cfg.drop_rate}))
    meta = dict(model=cfg.model, model_kwargs=model_kwargs, num_classes=n_cls, in_chans=in_chans,
                img_size=img_size, mean=list(train_data.mean), std=list(train_data.std), classes=train_data.classes)
    tb = None
    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        ckpt.atomic_write(run_dir / "config.yaml",
                          lambda tmp: Path(tmp).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False)))
        from cnnzoo.train.tensorboard import EventWriter

        tb = EventWriter(run_dir / "tensorboard")
        if resume and history:
            _repair_weights(run_dir, meta, model, ema, start_epoch, history[-1], best_epoch, best_acc, state_best_kind)
        print(f"cnnzoo train: {cfg.model} ({sum(p.numel() for p in model.parameters()):,} params) on "
              f"{train_data.source} — {len(train_data)} train / {len(test_data)} test images, {in_chans}×{img_size}²,"
              f" {cfg.epochs} epochs × {steps_per_epoch} steps, batch {cfg.batch_size}×{world}, device {device}"
              f"{', resuming after epoch ' + str(start_epoch) if resume else ''}; writing {run_dir}", flush=True)

    mean = torch.tensor(train_data.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(train_data.std, device=device).view(1, -1, 1, 1)
    t_run = time.time()
    done_steps = start_epoch * steps_per_epoch
    step_time = None
    res: EvalResult | None = None
    res_ema: EvalResult | None = None
    for epoch in range(start_epoch, cfg.epochs):
        st = stage_settings(cfg, epoch, img_size)
        if st["drop_rate"] is not None:
            _set_dropout(model, st["drop_rate"])
        aug = BatchAugment(cfg.crop_padding, cfg.flip, cfg.policy, cfg.ra_n, st["ra_m"], cfg.erasing, st["mixup"],
                           cfg.cutmix)
        net.train()
        t0 = time.time()
        sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, count
        bar = None
        if is_main and cfg.progress:
            from tqdm import tqdm

            bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", leave=True,
                       dynamic_ncols=True, mininterval=1.0)
        batches = iterate_batches(len(train_data), cfg.batch_size, True, cfg.seed, epoch, rank, world, drop_last)
        for i, idx in enumerate(batches):
            ts = time.time()
            x = _prepare(train_data.images[idx], st["img_size"], mean, std).to(device, non_blocking=True)
            y = train_data.labels[idx].to(device, non_blocking=True)
            x, mix = aug(x, y)
            x = (x - mean) / std
            if cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            targets = soft_targets(y, n_cls, cfg.label_smoothing, mix)
            with autocast(device, cfg.amp):
                logits, aux = _split_outputs(net(x))
            loss = compute_loss(logits, aux, targets, cfg.aux_weight)
            if not torch.isfinite(loss).all():
                last = f"{state_path} (epoch {epoch})" if epoch > 0 else "none (first epoch)"
                raise NonFiniteLossError(
                    f"non-finite loss ({loss.item()}) at epoch {epoch + 1}, step {i + 1} (global step "
                    f"{done_steps + 1}); stopping. Last good checkpoint: {last}. Try a lower --lr or --amp none.")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.clip_grad > 0:
                scaler.unscale_(opt)  # clip the true gradients, not the fp16-scaled ones
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip_grad)
            scaler.step(opt)
            scaler.update()
            sched.step()
            if ema is not None:
                ema.update(model)
            done_steps += 1
            with torch.no_grad():
                sums += torch.stack([loss.detach().double() * len(y), (logits.argmax(1) == y).sum().double(),
                                     torch.tensor(float(len(y)), dtype=torch.float64, device=device)])
            dt = time.time() - ts
            step_time = dt if step_time is None else 0.9 * step_time + 0.1 * dt
            if bar is not None:
                eta = step_time * (total_steps - done_steps)
                bar.set_postfix_str(f"loss {sums[0] / sums[2]:.3f} acc {100 * sums[1] / sums[2]:.1f}% "
                                    f"{len(y) * world / dt:.0f} img/s ETA {eta / 60:.1f} min", refresh=False)
                bar.update(1)
        if bar is not None:
            bar.close()
        if distributed:
            import torch.distributed as dist

            dist.all_reduce(sums)
            _average_buffers(model, world)
        train_time = time.time() - t0
        # the test split is evaluated every `eval_every` epochs and always after the last one
        evaluated = epoch + 1 == cfg.epochs or (cfg.eval_every > 0 and (epoch + 1) % cfg.eval_every == 0)
        nan = float("nan")
        if evaluated:
            res = evaluate(model, test_data, img_size, device=device, amp=cfg.amp, channels_last=cfg.channels_last,
                           rank=rank, world_size=world)
        row = dict(epoch=epoch + 1, lr=opt.param_groups[0]["lr"], img_size=st["img_size"],
                   train_loss=float(sums[0] / sums[2]), train_acc=float(100 * sums[1] / sums[2]),
                   test_loss=res.loss if evaluated else nan, test_top1=res.top1 if evaluated else nan,
                   test_top5=res.top5 if evaluated else nan,
                   img_per_s=float(sums[2]) / max(train_time, 1e-9), epoch_time_s=time.time() - t0,
                   wall_s=(history[-1]["wall_s"] if history else 0.0) + time.time() - t0)
        acc, weights_kind, best_sd = (res.top1 if evaluated else -1.0), "model", None
        if ema is not None:
            row["ema_top1"] = nan
            if evaluated:
                res_ema = evaluate(ema.module, test_data, img_size, device=device, amp=cfg.amp,
                                   channels_last=cfg.channels_last, rank=rank, world_size=world)
                row["ema_top1"] = res_ema.top1
                if res_ema.top1 > acc:
                    acc, weights_kind = res_ema.top1, "ema"
        history.append(row)
        if is_main:
            msg = f"epoch {epoch + 1}/{cfg.epochs}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.2f}% | "
            msg += (f"test loss {row['test_loss']:.4f} top-1 {row['test_top1']:.2f}% top-5 {row['test_top5']:.2f}%"
                    if evaluated else f"test not evaluated (eval_every {cfg.eval_every})")
            if ema is not None and evaluated:
                msg += f" | EMA top-1 {row['ema_top1']:.2f}%"
            print(msg + f" | {row['img_per_s']:.0f} img/s, {row['epoch_time_s']:.0f} s", flush=True)
            improved = acc > best_acc
            if improved:
                best_acc, best_epoch, state_best_kind = acc, epoch + 1, weights_kind
            # the resume state first: a kill between the files leaves a resumable run
            ckpt.save_state(state_path, dict(
                model=model.state_dict(), optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                scaler=scaler.state_dict(), ema=ema.state_dict() if ema is not None else None, epoch=epoch + 1,
                best_acc=best_acc, best_epoch=best_epoch, best_kind=weights_kind if improved else state_best_kind,
                history=json.dumps(history), rng=ckpt.rng_state(),
                config=json.dumps(cfg.to_dict())))
            if improved:
                best_sd = (ema.module if weights_kind == "ema" else model).state_dict()
                ckpt.save_weights(run_dir / "best.safetensors", best_sd,
                                  dict(meta, epoch=epoch + 1, accuracy=round(acc, 4), weights=weights_kind))
            ckpt.save_weights(run_dir / "last.safetensors", model.state_dict(),
                              dict(meta, epoch=epoch + 1, accuracy=_accuracy(row["test_top1"]), weights="model"))
            if ema is not None:
                ckpt.save_weights(run_dir / "last_ema.safetensors", ema.module.state_dict(),
                                  dict(meta, epoch=epoch + 1, accuracy=_accuracy(row["ema_top1"]), weights="ema"))
            write_csv(run_dir / "metrics.csv", history)
            assert tb is not None
            tb.add_scalars({k: float(v) for k, v in row.items() if k != "epoch" and not math.isnan(float(v))},
                           epoch + 1)
        if distributed:
            import torch.distributed as dist

            dist.barrier()

    # final report -------------------------------------------------------------------------------
    if res is not None and not cfg.tta_flip:  # the last epoch's evaluation is the final one
        final, final_ema = res, res_ema
    else:
        final = evaluate(model, test_data, img_size, device=device, amp=cfg.amp, channels_last=cfg.channels_last,
                         tta_flip=cfg.tta_flip, rank=rank, world_size=world)
        final_ema = evaluate(ema.module, test_data, img_size, device=device, amp=cfg.amp,
                             channels_last=cfg.channels_last, tta_flip=cfg.tta_flip, rank=rank,
                             world_size=world) if ema is not None else None
    ranks_identical = _ranks_identical(model) if distributed else None
    report: dict[str, Any] = dict(
        run_dir=str(run_dir), model=cfg.model, recipe=cfg.recipe, epochs=cfg.epochs, world_size=world,
        test_top1=final.top1, test_top5=final.top5, test_loss=final.loss, tta_flip=cfg.tta_flip,
        ema_test_top1=final_ema.top1 if final_ema else None, ranks_identical=ranks_identical,
        best_top1=best_acc, best_epoch=best_epoch,
        train_wall_s=history[-1]["wall_s"] if history else 0.0, session_wall_s=time.time() - t_run,
        per_class={c: a for c, a in zip(train_data.classes, final.per_class, strict=True)},
        confusion=final.confusion.tolist(), classes=train_data.classes, history=history)
    if is_main:
        if tb is not None:
            tb.close()
        plot_curves(run_dir / "curves.png", history, f"{cfg.model} ({cfg.recipe or 'custom'})")
        plot_confusion(run_dir / "confusion.png", final.confusion, train_data.classes,
                       f"{cfg.model}: test top-1 {final.top1:.2f}%")
        table = format_table(
            ["epoch", "lr", "train loss", "train acc %", "test loss", "test top-1 %", "test top-5 %"]
            + (["EMA top-1 %"] if ema is not None else []) + ["img/s", "time s"],
            [[r["epoch"], f"{r['lr']:.2e}", r["train_loss"], r["train_acc"], r["test_loss"], r["test_top1"],
              r["test_top5"]] + ([r["ema_top1"]] if ema is not None else []) + [f"{r['img_per_s']:.0f}",
                                                                               f"{r['epoch_time_s']:.0f}"]
             for r in history])
        per_class = format_table(["class", "accuracy %"], [[c, a] for c, a in report["per_class"].items()])
        text = (f"# {cfg.model} — {cfg.recipe or 'custom'}\n\n{table}\n\n"
                f"Final test top-1 {final.top1:.2f}% (top-5 {final.top5:.2f}%)"
                + (f", EMA {final_ema.top1:.2f}%" if final_ema else "")
                + f"; best {best_acc:.2f}% at epoch {best_epoch}; training time {report['train_wall_s']:.0f} s.\n\n"
                f"## Per class\n\n{per_class}\n\n## Confusion matrix\n\n"
                f"{confusion_table(final.confusion, train_data.classes)}\n")
        ckpt.atomic_write(run_dir / "report.md", lambda tmp: Path(tmp).write_text(text))
        ckpt.atomic_write(run_dir / "report.json", lambda tmp: Path(tmp).write_text(json.dumps(report, indent=1)))
        print("\n" + table + "\n")
        if distributed:
            print(f"all {world} ranks hold identical weights: {ranks_identical}")
        print(f"test accuracy: {final.top1:.2f}% (top-5 {final.top5:.2f}%)"
              + (f", EMA {final_ema.top1:.2f}%" if final_ema else "")
              + f" on {final.count} test images; report in {run_dir}/report.md", flush=True)
    if distributed:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return report

