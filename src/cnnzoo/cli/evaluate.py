"""``cnnzoo eval`` and ``cnnzoo predict``: what a checkpoint scores on a dataset, and what it sees in images."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("eval", help="evaluate a checkpoint: top-1/top-5, per-class accuracy, confusion matrix")
    e.add_argument("checkpoint", help="a .safetensors checkpoint written by cnnzoo train (or a run directory)")
    e.add_argument("--data", help="data (default Fashion-MNIST)")
    e.add_argument("--split", default="test", help="split to evaluate (test; val for image folders)")
    e.add_argument("--batch-size", type=int, default=500)
    e.add_argument("--tta-flip", action="store_true", help="average with the horizontally flipped image")
    e.add_argument("--subset", type=int, help="first N images only")
    e.add_argument("--out", help="directory for confusion.png and eval.json (default: next to the checkpoint)")
    e.add_argument("--device", default="cpu")
    e.set_defaults(handler=_eval)

    q = sub.add_parser("predict", help="top-k classes of images with a trained checkpoint")
    q.add_argument("checkpoint", help="a .safetensors checkpoint written by cnnzoo train, a run directory, "
                   "or the name of a model with shipped weights (e.g. fashion_cnn)")
    q.add_argument("images", nargs="+", help="image files")
    q.add_argument("-k", "--topk", type=int, default=3)
    q.add_argument("--invert", action="store_true",
                   help="invert gray levels (Fashion-MNIST shows light objects on black)")
    q.set_defaults(handler=_predict)



def _resolve_ckpt(path: str) -> Path:
    p = Path(path)
    if not p.exists():  # the name of a model whose weights ship with the package (offline)
        from cnnzoo.weights import pretrained_path, shipped_models

        if path in shipped_models():
            return pretrained_path(path)
    if p.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (p / name).is_file():
                return p / name
        raise FileNotFoundError(f"{p}: no best.safetensors or last.safetensors in this directory")
    return p


def _eval(args: argparse.Namespace) -> int:
    from cnnzoo.data import load_data
    from cnnzoo.train import evaluate, load_checkpoint_model
    from cnnzoo.train.report import confusion_table, format_table, plot_confusion

    path = _resolve_ckpt(args.checkpoint)
    model, meta = load_checkpoint_model(path, args.device)
    data = load_data(args.data, args.split, int(meta["in_chans"]), int(meta["img_size"])).subset(args.subset)
    data.mean, data.std = tuple(meta["mean"]), tuple(meta["std"])
    if len(data.classes) != int(meta["num_classes"]):
        raise ValueError(f"{path}: the checkpoint has {meta['num_classes']} classes, the data {len(data.classes)}")
    res = evaluate(model, data, int(meta["img_size"]), args.batch_size, args.device, tta_flip=args.tta_flip)
    print(f"{meta['model']} ({path}) on {data.source}, {res.count} images{' with flip TTA' if args.tta_flip else ''}")
    print(f"top-1 {res.top1:.2f}%  top-5 {res.top5:.2f}%  loss {res.loss:.4f}\n")
    print(format_table(["class", "accuracy %"], [[c, a] for c, a in zip(data.classes, res.per_class, strict=True)]))
    print("\n" + confusion_table(res.confusion, data.classes))
    out = Path(args.out) if args.out else path.parent
    out.mkdir(parents=True, exist_ok=True)
    stem = path.stem
    plot_confusion(out / f"{stem}_confusion.png", res.confusion, data.classes,
                   f"{meta['model']}: top-1 {res.top1:.2f}%")
    (out / f"{stem}_eval.json").write_text(json.dumps(dict(
        checkpoint=str(path), top1=res.top1, top5=res.top5, loss=res.loss, tta_flip=args.tta_flip,
        per_class=dict(zip(data.classes, res.per_class, strict=True)), confusion=res.confusion.tolist()), indent=1))
    print(f"\nconfusion matrix: {out / f'{stem}_confusion.png'}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    import torch

    from cnnzoo.data import load_image
    from cnnzoo.train import load_checkpoint_model

    path = _resolve_ckpt(args.checkpoint)
    model, meta = load_checkpoint_model(path)
    size, chans = int(meta["img_size"]), int(meta["in_chans"])
    mean = torch.tensor(meta["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(meta["std"]).view(1, -1, 1, 1)
    classes = meta["classes"]
    k = max(1, min(args.topk, len(classes)))
    for f in args.images:
        img = load_image(f, chans, size).float().div(255).unsqueeze(0)
        if args.invert:
            img = 1 - img
        with torch.no_grad():
            probs = model((img - mean) / std).softmax(1)[0]
        top = probs.topk(k)
        print(f"{f}: " + ", ".join(f"{classes[i]} {100 * p:.1f}%" for p, i in
                                   zip(top.values.tolist(), top.indices.tolist(), strict=True)))
    return 0
