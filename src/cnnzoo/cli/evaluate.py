"""``cnnzoo eval`` and ``cnnzoo predict``: what a checkpoint scores on a dataset, and what it sees in images."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

from cnnzoo.checkpoint import CheckpointHeader, load_checkpoint, read_header
from cnnzoo.cli._types import positive_int, setting_arg
from cnnzoo.data import load_image
from cnnzoo.data.config import resolve_data_config
from cnnzoo.data.folder import IMAGE_EXTENSIONS
from cnnzoo.device import resolve_device
from cnnzoo.files import write_text
from cnnzoo.registry import model_info
from cnnzoo.tables import confusion_table, format_table, plural
from cnnzoo.train import evaluate
from cnnzoo.train.evaluation import format_top5
from cnnzoo.train.report import plot_confusion
from cnnzoo.train.sources import eval_data, trained_on
from cnnzoo.weights import pretrained_dir, pretrained_path, shipped_models

__all__ = ["add_parser"]

_CHECKPOINT_HELP = ("a checkpoint file (cnnzoo, or torchvision/timm with --model), a run directory of cnnzoo train, "
                    "or the name of a model whose weights ship with cnnzoo (e.g. fashion_cnn)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("eval", help="evaluate a checkpoint: top-1/top-5, per-class accuracy, confusion matrix")
    e.add_argument("checkpoint", nargs="?", help=_CHECKPOINT_HELP)
    e.add_argument("--checkpoint", dest="checkpoint_opt", metavar="CHECKPOINT", help="the same, as an option")
    e.add_argument("--model", help="the model of a checkpoint without a cnnzoo header (torchvision or timm file)")
    e.add_argument("--data", help="data (default: the data the run was trained on, else Fashion-MNIST); an image "
                                  "folder or shards are read with the model's data config (resize to size / crop_pct, "
                                  "center crop) by --workers processes")
    e.add_argument("--split", default="test", help="split to evaluate: test (Fashion-MNIST; image folders: val/ "
                                                   "where there is no test/), val")
    e.add_argument("--workers", type=setting_arg("workers"), metavar="N",
                   help="decoding processes for an image folder or shards (default: the cores, at most 8; at most "
                        "twice the usable cores, or 8 where that is more)")
    e.add_argument("--batch-size", type=positive_int, default=500, help="images per forward pass (default 500)")
    e.add_argument("--tta-flip", action="store_true", help="average with the horizontally flipped image")
    e.add_argument("--subset", type=positive_int,
                   help="first N images only (an image folder: N drawn at random, seed 0)")
    e.add_argument("--out", help="directory for the confusion matrix PNG and the JSON of results (default: the run "
                                 "directory, or ./evals for shipped weights); files are named by time, never replaced")
    e.add_argument("--device", default="cpu", help="where the model runs: cpu, cuda or cuda:N (default cpu)")
    e.set_defaults(handler=_eval)

    q = sub.add_parser("predict", help="top-k classes of images with a trained checkpoint")
    q.add_argument("checkpoint", help=_CHECKPOINT_HELP)
    q.add_argument("images", nargs="+", help="image files or directories of images")
    q.add_argument("--model", help="the model of a checkpoint without a cnnzoo header (torchvision or timm file)")
    q.add_argument("-k", "--topk", type=positive_int, default=3, help="classes to show per image (default 3)")
    q.add_argument("--invert", action="store_true",
                   help="invert gray levels (Fashion-MNIST shows light objects on black)")
    q.set_defaults(handler=_predict)


def _resolve_ckpt(target: str) -> Path:
    """A checkpoint file from a file, a run directory or the name of a model with shipped weights."""
    p = Path(target)
    if p.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (p / name).is_file():
                return p / name
        raise FileNotFoundError(f"{p}: no best.safetensors or last.safetensors in this directory")
    if p.is_file():
        return p
    if target in shipped_models():
        return pretrained_path(target)
    try:
        model_info(target)
    except ValueError:
        raise FileNotFoundError(f"{target}: no such checkpoint file or run directory, and no model of that name "
                                f"(`cnnzoo list` shows the names)") from None
    raise ValueError(f"no weights ship with cnnzoo for {target} (models with shipped weights: "
                     f"{', '.join(shipped_models())}); give a checkpoint file, e.g. runs/<name>/best.safetensors "
                     f"or a torchvision/timm file with --model {target}")


def _load(args: argparse.Namespace, device: torch.device | str = "cpu") -> tuple[nn.Module, CheckpointHeader, Path]:
    target = args.checkpoint or getattr(args, "checkpoint_opt", None)
    if not target or (args.checkpoint and getattr(args, "checkpoint_opt", None)):
        raise ValueError("give one checkpoint: as the argument or as --checkpoint FILE")
    path = _resolve_ckpt(target)
    model = load_checkpoint(path, args.model, device=device)
    return model, model.checkpoint_header, path


def _output_dir(args: argparse.Namespace, path: Path) -> Path:
    if args.out:
        return Path(args.out)
    if path.resolve().is_relative_to(pretrained_dir().resolve()):
        return Path("evals")  # never write into the installed package
    return path.parent


def _unique(directory: Path, stem: str) -> str:
    """``stem`` with the time, and a counter where that name is taken: a new eval never replaces an old one."""
    base = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    name, n = base, 1
    while (directory / f"{name}.json").exists() or (directory / f"{name}.png").exists():
        n += 1
        name = f"{base}-{n}"
    return name


def _eval(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    model, header, path = _load(args, device)
    data_arg = args.data if args.data is not None else trained_on(path)
    # a cnnzoo checkpoint's header gives its size and normalisation; a torchvision/timm file gets its authors'
    config = None if read_header(path) is not None else resolve_data_config(header.model)
    data, size, n_images = eval_data(data_arg, args.split, model, header, args.batch_size, args.subset, args.workers,
                                     pin_memory=device.type == "cuda", config=config, checkpoint=str(path))
    classes = list(data.classes)
    t0 = time.perf_counter()
    res = evaluate(model, data, size, args.batch_size, device, tta_flip=args.tta_flip)
    rate = res.count / max(time.perf_counter() - t0, 1e-9)
    skipped = getattr(data, "skipped", [])
    why = f" ({len(skipped)} skipped: {data.skip_summary()})" if skipped else ""
    print(f"{header.model} ({path}) on {data.source} at {size} px{' with flip TTA' if args.tta_flip else ''}: "
          f"scored {res.count:,} of {plural(n_images, 'image', fmt=',')}{why}")
    print(f"top-1 {res.top1:.2f}%{format_top5(res.top5, '  top-5 {:.2f}%')}  loss {res.loss:.4f}  "
          f"{rate:.0f} images/s\n")
    print(format_table(["class", "accuracy %"], [[c, a] for c, a in zip(classes, res.per_class, strict=True)]))
    print("\n" + confusion_table(res.confusion, classes))
    out = _output_dir(args, path)
    out.mkdir(parents=True, exist_ok=True)
    name = _unique(out, f"{path.stem}-eval-{args.split}{'-tta' if args.tta_flip else ''}")
    plot_confusion(out / f"{name}.png", res.confusion, classes, f"{header.model}: top-1 {res.top1:.2f}%")
    write_text(out / f"{name}.json", json.dumps(dict(
        checkpoint=str(path), data=data.source, split=args.split, top1=res.top1, top5=res.top5, loss=res.loss,
        tta_flip=args.tta_flip, img_size=size, images_per_s=rate, images=n_images, scored=res.count,
        skipped=dict(count=len(skipped), files=skipped[:1000]), per_class=dict(zip(classes, res.per_class,
                                                                                    strict=True)),
        confusion=res.confusion.tolist()), indent=1))
    print(f"\nresults: {out / name}.json, confusion matrix: {out / name}.png")
    return 0


def _image_files(items: list[str]) -> list[Path]:
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise ValueError(f"{p}: a directory without images (extensions: {', '.join(IMAGE_EXTENSIONS)})")
            files += found
        elif not p.exists():
            raise FileNotFoundError(f"{p}: no such image file or directory")
        else:
            files.append(p)
    return files


def _predict(args: argparse.Namespace) -> int:
    files = _image_files(args.images)
    model, header, _ = _load(args)
    mean = torch.tensor(header.mean).view(1, -1, 1, 1)
    std = torch.tensor(header.std).view(1, -1, 1, 1)
    names = header.classes or [f"class {i}" for i in range(header.num_classes)]
    k = min(args.topk, header.num_classes)
    for f in files:
        img = load_image(f, header.in_chans, header.img_size).float().div(255).unsqueeze(0)
        if args.invert:
            img = 1 - img
        with torch.no_grad():
            probs = model((img - mean) / std).softmax(1)[0]
        top = probs.topk(k)
        print(f"{f}: " + ", ".join(f"{names[i]} {100 * p:.1f}%" for p, i in
                                   zip(top.values.tolist(), top.indices.tolist(), strict=True)))
    return 0
