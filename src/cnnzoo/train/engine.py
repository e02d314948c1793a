"""The training run: one process or DistributedDataParallel under ``torchrun``.

``train(cfg)`` checks the settings, loads the data as a :class:`~cnnzoo.train.batches.BatchSource`, builds
the model from the registry and its :class:`~cnnzoo.train.state.RunState`, then for each epoch runs
:func:`~cnnzoo.train.loop.train_one_epoch`, :func:`~cnnzoo.train.evaluation.evaluate` and the
:class:`~cnnzoo.train.writer.RunWriter` (only rank 0 writes). ``--resume`` restores everything including
RNG states, so that on the CPU in deterministic mode a killed and resumed run ends with the same weights
as an uninterrupted one. Every error about the settings, the data or the model comes before anything is
written. The run directory is claimed by one run at a time (:mod:`cnnzoo.train.run_dir`); a run that fails
before its first checkpoint takes back what it wrote, and Ctrl-C raises :class:`RunInterrupted`, whose
message says what was saved and how to resume.
"""

from __future__ import annotations

import os
import random
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnzoo.checkpoint import header_for, read_header
from cnnzoo.device import bf16_emulation_warning, resolve_device
from cnnzoo.factory import create_model
from cnnzoo.tables import plural
from cnnzoo.train.batches import InMemoryBatches, to_float
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.ema import ModelEMA
from cnnzoo.train.evaluation import EvalResult, evaluate, format_top5
from cnnzoo.train.loop import train_one_epoch
from cnnzoo.train.optim import create_optimizer, create_scheduler
from cnnzoo.train.run_dir import RunDirLock, check_in_use, check_new_run, check_resumable
from cnnzoo.train.sources import RunData, load_run_data
from cnnzoo.train.state import RunState
from cnnzoo.train.transfer import freeze
from cnnzoo.train.whitening import first_conv, patch_whitening_
from cnnzoo.train.writer import RunWriter
from cnnzoo.weights import pretrained_path, shipped_models

__all__ = ["train", "pick_device", "RunInterrupted"]


def _dist() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world


def pick_device(cfg: TrainConfig, local_rank: int = 0) -> torch.device:
    """The configured device (checked), else this rank's CUDA device when there is one, else the CPU."""
    if cfg.device:
        return resolve_device(cfg.device)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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


def _lr_factor(opt: torch.optim.Optimizer) -> float:
    """The schedule's current multiplier (groups may have their own rates: layer decay, head multiplier)."""
    g = opt.param_groups[0]
    return g["lr"] / g.get("initial_lr", g["lr"])


def _freeze_stages(cfg: TrainConfig) -> int | str | None:
    return None if cfg.freeze is None else cfg.freeze if cfg.freeze == "backbone" else int(cfg.freeze)


def _check_freeze(cfg: TrainConfig) -> None:
    """``--freeze N`` beyond the model's stages fails here, on a ``meta`` copy, before the data is read."""
    if cfg.freeze not in (None, "backbone"):
        model = create_model(cfg.model, device="meta",
                             **dict(cfg.model_kwargs, **({"arch": cfg.arch} if cfg.arch else {})))
        freeze(model, _freeze_stages(cfg))


def pretrained_file(cfg: TrainConfig) -> Path | None:
    """The weight file ``--pretrained`` names: ``true`` the shipped weights of ``--model``, a run directory its
    best.safetensors, else the file itself; a missing file or a cnnzoo checkpoint of another model is an error."""
    if cfg.pretrained is None:
        return None
    if cfg.pretrained == "true":
        try:
            return pretrained_path(cfg.model)
        except ValueError:
            have = ", ".join(shipped_models()) or "none"
            raise ValueError(f"--pretrained true: no weights ship with cnnzoo for {cfg.model} (models with shipped "
                             f"weights: {have}); give a checkpoint, a run directory or a torchvision/timm "
                             f"file") from None
    path = Path(cfg.pretrained).expanduser()
    if path.is_dir():
        if not (path / "best.safetensors").is_file():
            raise FileNotFoundError(f"--pretrained {path}: the directory has no best.safetensors (expected a run "
                                    f"directory of cnnzoo train, or a checkpoint file)")
        path = path / "best.safetensors"
    elif not path.is_file():
        raise FileNotFoundError(f"--pretrained {path}: no such file or run directory")
    header = read_header(path)
    if header is not None and header.model != cfg.model:
        raise ValueError(f"--pretrained {path}: a checkpoint of {header.model}, not of --model {cfg.model}; "
                         f"train --model {header.model} or give a {cfg.model} checkpoint")
    return path


def _build_state(cfg: TrainConfig, data: RunData, device: torch.device, distributed: bool,
                 pretrained: Path | None = None) -> RunState:
    _seed_all(cfg.seed)
    with warnings.catch_warnings():  # the training header says it once, in its own words
        warnings.filterwarnings("ignore", message=r".*the classifier .* is re-initialised and needs training")
        model = create_model(cfg.model, pretrained=pretrained or False, num_classes=data.train.num_classes,
                             in_chans=data.in_chans, drop_rate=cfg.drop_rate, drop_path_rate=cfg.drop_path_rate,
                             **dict(cfg.model_kwargs, **({"arch": cfg.arch} if cfg.arch else {})))
    if distributed and cfg.sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if cfg.freeze is not None or cfg.freeze_bn:
        freeze(model, _freeze_stages(cfg), bn=cfg.freeze_bn)
    model = model.to(device)
    if cfg.whiten_stem:  # set from the data, then frozen; a resumed run loads the same weights back
        x = to_float(data.train.sample(10_000), data.img_size)
        x = (x - torch.tensor(data.train.mean).view(1, -1, 1, 1)) / torch.tensor(data.train.std).view(1, -1, 1, 1)
        patch_whitening_(first_conv(model), x.to(device))
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    ema = ModelEMA(model, cfg.ema_decay) if cfg.ema else None
    steps = data.train.steps_per_epoch
    opt = create_optimizer(model, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum, cfg.layer_decay,
                           cfg.head_lr_mult)
    sched = create_scheduler(opt, cfg.schedule, steps * cfg.epochs, steps, cfg.warmup_epochs,
                             **dict(step_epochs=cfg.step_epochs, gamma=cfg.gamma, decay_rate=cfg.decay_rate,
                                    decay_epochs=cfg.decay_epochs) if cfg.schedule in ("step", "exponential") else {})
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
    return RunState(model, opt, sched, scaler, ema)


def train(cfg: TrainConfig, resume: bool = False) -> dict[str, Any]:
    """Run (or resume) a training described by ``cfg``; returns the final report (also saved as report.json)."""
    cfg.validate()
    _check_freeze(cfg)
    pretrained = None if resume else pretrained_file(cfg)  # a resumed run starts from its resume state
    rank, local_rank, world = _dist()
    distributed, is_main = world > 1, rank == 0
    device = pick_device(cfg, local_rank)
    if cfg.sync_bn and device.type != "cuda":
        raise ValueError("--sync-bn needs CUDA devices (PyTorch's SyncBatchNorm is GPU-only); "
                         "on the CPU each rank keeps its own batch-norm statistics, drop the flag")
    if cfg.amp == "fp16" and device.type != "cuda":
        raise ValueError("amp: fp16 needs CUDA; on the CPU use --amp bf16 or fp32")
    run_dir = Path(cfg.out_dir) / (cfg.name or f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}")
    cfg.name = run_dir.name
    state_path = run_dir / "last.state.pt"
    # the run directory, read only: a live run's is refused, a new run never writes over another run's results,
    # a resume needs a resume state (checked again under the run directory's lock once it is claimed)
    if is_main:
        check_in_use(run_dir)
    restart = False
    if resume:
        if not check_resumable(run_dir):
            if not (run_dir / "config.yaml").is_file():
                raise FileNotFoundError(f"{state_path}: no checkpoint to resume from")
            resume = restart = True  # a run that completed no epoch: it starts from the beginning
    elif is_main:
        check_new_run(run_dir)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if distributed:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    if cfg.amp == "bf16" and is_main and (msg := bf16_emulation_warning(device, "training")):
        print(f"cnnzoo: warning: {msg} (--amp fp32)", file=sys.stderr, flush=True)

    data = load_run_data(cfg, rank, world, device)
    if restart:  # a run without a completed epoch starts again from the beginning: from its weights too
        pretrained = pretrained_file(cfg)
    state = _build_state(cfg, data, device, distributed, pretrained)
    model = state.model
    net: nn.Module = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    # the header records the model's exact constructor arguments (drop_rate included: in some heads it
    # decides whether Dropout modules exist), so a checkpoint rebuilds the model it was trained as
    classes = data.train.classes
    header = header_for(model, classes=classes, mean=data.train.mean, std=data.train.std,
                        img_size=data.img_size, dataset=data.train.source)
    config = cfg.to_dict()
    writer = RunWriter(run_dir, header, enabled=is_main)
    lock = RunDirLock(run_dir) if is_main else None
    if lock is not None:
        lock.acquire()
    try:
        if is_main:  # the same checks as above, now that no other run can write here
            if not resume:
                check_new_run(run_dir)
            elif check_resumable(run_dir) == restart:
                raise RuntimeError(f"{run_dir} changed while this run started (a resume state appeared or went); "
                                   f"run the command again")
        if restart:
            if is_main:
                print(f"cnnzoo train: {run_dir} has no completed epoch yet; starting it from the beginning",
                      flush=True)
            resume = False
        if resume:
            state.load(state_path)
            writer.saved_epoch = state.epoch
            if distributed:  # distinct augmentation streams per rank
                torch.manual_seed(cfg.seed + 1000 * rank + state.epoch)
        elif distributed:
            torch.manual_seed(cfg.seed + 1000 * rank)
        writer.start(config)
        report = _run(cfg, data, state, net, writer, run_dir, resume, device, rank, world)
    except KeyboardInterrupt:
        writer.close()
        raise RunInterrupted(_interrupted(run_dir, writer, cfg) if is_main
                             else f"cnnzoo train: rank {rank} interrupted") from None
    except BaseException:
        writer.close()
        writer.discard()  # before its first checkpoint, a failed run takes back its config.yaml
        if lock is not None:
            lock.release()
            lock.remove_created_dirs()
        raise
    finally:
        if lock is not None:
            lock.release()
    return report


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run; the message says what was saved and the command that resumes it."""


def _interrupted(run_dir: Path, writer: RunWriter, cfg: TrainConfig) -> str:
    """One line for a run stopped by Ctrl-C: what is saved, and how to continue."""
    import shlex

    command = f"cnnzoo train --resume {shlex.quote(str(run_dir))}"
    saved = writer.saved()
    if saved is None and writer.state_path.is_file():  # a resume stopped before it loaded the state
        return f"cnnzoo train: interrupted; {writer.state_path} is as it was; resume with: {command}"
    if saved is None:
        return (f"cnnzoo train: interrupted; nothing saved yet (no epoch completed); start it again with: "
                f"{command}")
    done = f"epoch {saved} of {cfg.epochs}" + (" (the final report is not written yet)" if saved >= cfg.epochs
                                                else "")
    return f"cnnzoo train: interrupted; saved {writer.state_path} at {done}; resume with: {command}"


def _run(cfg: TrainConfig, data: RunData, state: RunState, net: nn.Module, writer: RunWriter, run_dir: Path,
         resume: bool, device: torch.device, rank: int, world: int) -> dict[str, Any]:
    """The epochs and the final evaluation and report of a started run (``writer`` has written config.yaml)."""
    model, classes, config = state.model, data.train.classes, cfg.to_dict()
    distributed, is_main = world > 1, rank == 0
    state_path = writer.state_path
    if resume and is_main and (fixed := writer.repair(state)):
        print(f"cnnzoo train: brought {', '.join(fixed)} up to the resume state (epoch {state.epoch})", flush=True)
    steps, split = data.train.steps_per_epoch, data.test_split
    if is_main:
        print(f"cnnzoo train: {cfg.model} ({sum(p.numel() for p in model.parameters()):,} params) on "
              f"{data.train.source} ({_data_path(data)}) — {data.train.num_images:,} train / {data.num_test:,} "
              f"{split} images, {data.in_chans}×{data.img_size}², {plural(cfg.epochs, 'epoch')} × "
              f"{plural(steps, 'step')}, batch {cfg.batch_size}×{world}, device {device}"
              f"{', resuming after epoch ' + str(state.epoch) if resume else ''}; writing {run_dir}", flush=True)
        loaded = getattr(model, "pretrained_cfg", None)
        if loaded and not resume:
            print(f"weights: {loaded['file']} ({loaded['layout']} layout)"
                  + (f"; stem adapted to {data.in_chans} input channels" if loaded["adapted"] else ""), flush=True)
            if loaded["reinitialized"]:
                print(f"classifier re-initialised: the checkpoint has {plural(loaded['source_classes'], 'class')}, "
                      f"the data {data.train.num_classes}", flush=True)

    t_run = time.time()
    res: EvalResult | None = None
    res_ema: EvalResult | None = None
    ev = dict(device=device, amp=cfg.amp, channels_last=cfg.channels_last, rank=rank, world_size=world)
    try:
        for epoch in range(state.epoch, cfg.epochs):
            t0 = time.time()
            hint = f"{state_path} (epoch {epoch})" if epoch > 0 else "none (first epoch)"
            stats = train_one_epoch(state, net, data.train, cfg, epoch, data.img_size, device, world_size=world,
                                    show_progress=is_main and cfg.progress, checkpoint_hint=hint)
            # the test split is evaluated every `eval_every` epochs and always after the last one
            evaluated = epoch + 1 == cfg.epochs or (cfg.eval_every > 0 and (epoch + 1) % cfg.eval_every == 0)
            nan = float("nan")
            res = evaluate(model, data.test, data.img_size, **ev) if evaluated else None
            row = dict(epoch=epoch + 1, lr=cfg.lr * _lr_factor(state.optimizer), img_size=stats.img_size,
                       train_loss=stats.loss, train_acc=stats.acc, test_loss=res.loss if res else nan,
                       test_top1=res.top1 if res else nan, test_top5=res.top5 if res else nan,
                       img_per_s=stats.images / max(stats.seconds, 1e-9), data_wait_s=stats.data_seconds,
                       epoch_time_s=time.time() - t0,
                       wall_s=(state.history[-1]["wall_s"] if state.history else 0.0) + time.time() - t0)
            acc, kind = (res.top1 if res else -1.0), "model"
            if state.ema is not None:
                res_ema = evaluate(state.ema.module, data.test, data.img_size, **ev) if res else None
                row["ema_top1"] = res_ema.top1 if res_ema else nan
                if res_ema and res_ema.top1 > acc:
                    acc, kind = res_ema.top1, "ema"
            state.record(row, acc, kind)
            if is_main:
                _print_epoch(cfg, row, res is not None, state.ema is not None, split)
            writer.epoch_end(state, config)
            if distributed:
                import torch.distributed as dist

                dist.barrier()
    finally:
        writer.close()

    if res is not None and not cfg.tta_flip:  # the last epoch's evaluation is the final one
        final, final_ema = res, res_ema
    else:
        final = evaluate(model, data.test, data.img_size, tta_flip=cfg.tta_flip, **ev)
        final_ema = evaluate(state.ema.module, data.test, data.img_size, tta_flip=cfg.tta_flip, **ev) \
            if state.ema is not None else None
    ranks_identical = _ranks_identical(model) if distributed else None
    history = state.history
    report: dict[str, Any] = dict(
        run_dir=str(run_dir), model=cfg.model, recipe=cfg.recipe, epochs=cfg.epochs, world_size=world,
        test_split=split, test_top1=final.top1, test_top5=final.top5, test_loss=final.loss, tta_flip=cfg.tta_flip,
        ema_test_top1=final_ema.top1 if final_ema else None, ranks_identical=ranks_identical,
        best_top1=state.best_acc, best_epoch=state.best_epoch,
        train_wall_s=history[-1]["wall_s"] if history else 0.0, session_wall_s=time.time() - t_run,
        per_class={c: a for c, a in zip(classes, final.per_class, strict=True)},
        confusion=final.confusion.tolist(), classes=classes, history=history,
        skipped_images=_skipped(data, distributed, device))
    table = writer.finish(report, final, final_ema, f"{cfg.model} — {cfg.recipe or 'custom'}")
    if is_main:
        print("\n" + table + "\n")
        if report["skipped_images"]["count"]:
            print(f"skipped {plural(report['skipped_images']['count'], 'image')} that could not be decoded (listed in "
                  f"report.json)")
        if distributed:
            print(f"all {world} ranks hold identical weights: {ranks_identical}")
        print(f"{split} accuracy: {final.top1:.2f}%{format_top5(final.top5, ' (top-5 {:.2f}%)')}"
              + (f", EMA {final_ema.top1:.2f}%" if final_ema else "")
              + f" on {plural(final.count, f'{split} image', fmt=',')}; report in {run_dir}/report.md", flush=True)
    if distributed:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return report


def _data_path(data: RunData) -> str:
    """How the training data is read, for the header: held in memory or streamed by N workers."""
    if isinstance(data.train, InMemoryBatches):
        return "data held in memory"
    workers = getattr(getattr(data.train, "loader", None), "num_workers", None)
    if workers is None:
        return "data streamed"
    if workers == 0:
        return "data streamed, decoded in the main process"
    return f"data streamed by {workers} worker{'s' if workers != 1 else ''}"


def _skipped(data: RunData, distributed: bool, device: torch.device) -> dict[str, Any]:
    """The images skipped because they could not be decoded: their count over all ranks and their names."""
    names = sorted(set(data.skipped))
    count = len(data.skipped)
    if distributed and not isinstance(data.train, InMemoryBatches):  # in memory, every rank loads every image
        import torch.distributed as dist

        t = torch.tensor([count], dtype=torch.int64, device=device)
        dist.all_reduce(t)
        count = int(t.item())
    return dict(count=count, files=names[:1000])


def _print_epoch(cfg: TrainConfig, row: dict[str, Any], evaluated: bool, ema: bool, split: str = "test") -> None:
    msg = f"epoch {row['epoch']}/{cfg.epochs}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.2f}% | "
    msg += (f"{split} loss {row['test_loss']:.4f} top-1 {row['test_top1']:.2f}%{format_top5(row['test_top5'])}"
            if evaluated else f"{split} not evaluated (eval_every {cfg.eval_every})")
    if ema and evaluated:
        msg += f" | EMA top-1 {row['ema_top1']:.2f}%"
    print(msg + f" | {row['img_per_s']:.0f} img/s, {row['epoch_time_s']:.0f} s (waiting for data "
                f"{row['data_wait_s']:.0f} s)", flush=True)


