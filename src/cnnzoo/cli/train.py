"""``cnnzoo train``: a run from a recipe and flags."""

from __future__ import annotations

import argparse
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

