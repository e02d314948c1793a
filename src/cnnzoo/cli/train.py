"""``cnnzoo train``, ``cnnzoo eval`` and ``cnnzoo predict``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

__all__ = ["add_parser"]


def _bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


# flag -> (type, help); every default is None so that only given flags override the recipe
_TRAIN_FLAGS: dict[str, tuple] = {
    "model": (str, "registry name (default fashion_cnn)"),
    "data": (str, "Fashion-MNIST IDX directory or ImageFolder with train/ and val/ (default: Fashion-MNIST "
                  "from $CNNZOO_DATA or /usr/share/datasets/fashion-mnist)"),
    "epochs": (int, "number of epochs"),
    "batch_size": (int, "batch size per process"),
    "lr": (float, "base learning rate"),
    "img_size": (int, "square input side (default: the data's, 28 for Fashion-MNIST)"),
    "in_chans": (int, "input channels (default 1 for Fashion-MNIST)"),
    "optimizer": (str, "sgd (Nesterov) | rmsprop_tf | rmsprop | adamw"),
    "momentum": (float, "momentum"),
    "weight_decay": (float, "weight decay (not on biases / norm parameters)"),
    "schedule": (str, "step | cosine | onecycle | exponential | constant"),
    "warmup_epochs": (float, "linear warm-up epochs"),
    "step_epochs": (float, "step schedule: decay every N epochs"),
    "gamma": (float, "step schedule: decay factor"),
    "decay_rate": (float, "exponential schedule: factor per decay_epochs"),
    "decay_epochs": (float, "exponential schedule: epochs per decay"),
    "clip_grad": (float, "clip the global gradient norm to this value (0 = off)"),
    "label_smoothing": (float, "label smoothing ε"),
    "whiten_stem": (_bool, "initialise the first convolution as a frozen patch-whitening transform of the data"),
    "drop_rate": (float, "dropout rate of the classifier"),
    "drop_path_rate": (float, "stochastic depth rate"),
    "ema": (_bool, "keep and evaluate an EMA of the weights (true/false)"),
    "ema_decay": (float, "EMA decay"),
    "aux_weight": (float, "weight of auxiliary losses (GoogLeNet 0.3)"),
    "crop_padding": (int, "random translation: pad N pixels and crop back"),
    "flip": (_bool, "random horizontal flip (true/false)"),
    "policy": (str, "randaugment | autoaugment | trivialaugment | none"),
    "ra_n": (int, "RandAugment ops per image"),
    "ra_m": (float, "RandAugment magnitude (0-30)"),
    "erasing": (float, "random-erasing probability"),
    "mixup": (float, "mixup strength: λ ~ U(0, mixup)"),
    "cutmix": (float, "cutmix weight (against mixup when both are set)"),
    "prog_stages": (int, "progressive learning: number of stages (0 = off)"),
    "prog_img_size_start": (int, "progressive learning: first stage's image size"),
    "prog_drop_rate_start": (float, "progressive learning: first stage's dropout"),
    "prog_ra_m_start": (float, "progressive learning: first stage's RandAugment magnitude"),
    "prog_mixup_start": (float, "progressive learning: first stage's mixup"),
    "amp": (str, "mixed precision: none | bf16 | fp16 (CUDA)"),
    "channels_last": (_bool, "channels-last memory format (true/false)"),
    "num_threads": (int, "torch CPU threads"),
    "sync_bn": (_bool, "SyncBatchNorm under torchrun (true/false)"),
    "device": (str, "cpu | cuda | cuda:N (default: cuda if available)"),
    "seed": (int, "random seed"),
    "deterministic": (_bool, "deterministic algorithms (true/false)"),
    "eval_every": (int, "evaluate the test split every N epochs and after the last (0: after the last only)"),
    "tta_flip": (_bool, "flip test-time augmentation in the final evaluation"),
    "train_subset": (int, "use only the first N training images"),
    "test_subset": (int, "use only the first N test images"),
    "name": (str, "run name: writes runs/<name>/ (default <model>-<time>)"),
    "out_dir": (str, "parent directory of runs (default runs)"),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (Fashion-MNIST by default)",
                       description="Train a registry model. Settings come from --config (a recipe YAML or the name "
                                   "of a shipped recipe, see --list-recipes), then from the flags.")
    p.add_argument("--config", "-c", help="recipe YAML file or shipped recipe name")
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN_DIR",
                   help="continue the run runs/<name> (or RUN_DIR) from its last checkpoint")
    p.add_argument("--list-recipes", action="store_true", help="list the shipped recipes and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any other setting as YAML, e.g. --set model_kwargs='{batch_norm: true}'")
    for flag, (typ, hlp) in _TRAIN_FLAGS.items():
        p.add_argument("--" + flag.replace("_", "-"), dest=flag, type=typ, default=None, help=hlp)
    p.set_defaults(handler=_train)

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


def _train(args: argparse.Namespace) -> int:
    from cnnzoo.train import TrainConfig, list_recipes, load_recipe, train

    if args.list_recipes:
        for name in list_recipes():
            rec = load_recipe(name)
            print(f"{name:28s} {rec.get('model', 'fashion_cnn'):20s} {rec.get('description', '')}")
        return 0
    cfg = TrainConfig()
    resume = args.resume is not None
    if isinstance(args.resume, str):
        run_dir = Path(args.resume)
        saved = run_dir / "config.yaml"
        if not saved.is_file():
            raise FileNotFoundError(f"{saved}: no such file; --resume RUN_DIR needs a run directory of cnnzoo train")
        cfg.update(yaml.safe_load(saved.read_text()), str(saved))
        cfg.out_dir, cfg.name = str(run_dir.parent), run_dir.name
    elif resume:
        if not args.name:
            raise ValueError("--resume needs the run: --resume runs/<name> or --name <name>")
        saved = Path(args.out_dir or "runs") / args.name / "config.yaml"
        if saved.is_file():
            cfg.update(yaml.safe_load(saved.read_text()), str(saved))
    if args.config:
        cfg.update(load_recipe(args.config), args.config)
    for flag in _TRAIN_FLAGS:
        value = getattr(args, flag)
        if value is not None:
            cfg.update({flag: None if (flag == "policy" and value == "none") else value}, "--" + flag)
    for item in args.set:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, val = item.split("=", 1)
        cfg.update({key.strip().replace("-", "_"): yaml.safe_load(val)}, "--set")
    if args.no_progress:
        cfg.progress = False
    train(cfg, resume=resume)
    return 0


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
