"""``cnnzoo train``: a run from a recipe and flags; the flags are generated from ``TrainConfig``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from cnnzoo.train.config import (
    RESUME_CHANGEABLE,
    TrainConfig,
    list_recipes,
    load_recipe,
    load_run_config,
    merge_for_resume,
    model_recipe,
    settings,
)

__all__ = ["add_parser", "resolve_config"]

_METAVAR = {int: "N", float: "X", bool: "BOOL", str: "STR"}


def _help(s: Any) -> str:
    accepts = s.expected()
    default = "none" if s.default is None else str(s.default).lower() if isinstance(s.default, bool) else s.default
    return f"{s.help}; {accepts} (default {default})".replace("%", "%%")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (Fashion-MNIST by default)",
                       description="Train a registry model. Settings start from the model's own recipe "
                                   "(recipes/<model>.yaml, if there is one) or from --config, then the flags "
                                   "and --set override them. Every value is checked before a run starts.")
    p.add_argument("--config", "-c", help="recipe YAML file or shipped recipe name ('none': the defaults only, "
                                          "not the model's recipe)")
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN_DIR",
                   help="continue the run runs/<name> (or RUN_DIR) from its last checkpoint; only "
                        f"{', '.join(RESUME_CHANGEABLE)} may change")
    p.add_argument("--list-recipes", action="store_true", help="list the shipped recipes and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any setting as YAML, e.g. --set model_kwargs='{batch_norm: true}'")
    for s in settings().values():
        if s.flag:  # every default None: only given flags override the recipe
            p.add_argument("--" + s.name.replace("_", "-"), dest=s.name, default=None, help=_help(s),
                           metavar=_METAVAR.get(s.type, "VALUE"))
    p.set_defaults(handler=_train)


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the command line gives (flags, then --set), unchecked; --set values are YAML."""
    given: dict[str, Any] = {}
    for s in settings().values():
        if s.flag and getattr(args, s.name, None) is not None:
            given[s.name] = getattr(args, s.name)
    for item in args.set:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, val = item.split("=", 1)
        try:
            given[key.strip().replace("-", "_")] = yaml.safe_load(val)
        except yaml.YAMLError as err:
            raise ValueError(f"--set {item!r}: invalid YAML ({err})") from None
    if args.no_progress:
        given["progress"] = False
    return given


def resolve_config(args: argparse.Namespace, log: Any = print) -> tuple[TrainConfig, bool]:
    """The checked configuration of ``cnnzoo train`` and whether it resumes a run. ``log`` gets the lines
    that say where the settings came from."""
    given = _given(args)
    resume = args.resume is not None
    if resume:
        if isinstance(args.resume, str):
            run_dir = Path(args.resume)
        elif args.name:
            run_dir = Path(args.out_dir or "runs") / args.name
        else:
            raise ValueError("--resume needs the run: --resume runs/<name> or --name <name>")
        saved = run_dir / "config.yaml"
        if not saved.is_file():
            raise FileNotFoundError(f"{saved}: no such file; --resume RUN_DIR needs a run directory of cnnzoo train")
        cfg = load_run_config(saved)
        if args.config and args.config != "none":
            given = {**load_recipe(args.config), **given}
        cfg, taken, kept = merge_for_resume(cfg, given)
        cfg.out_dir, cfg.name = str(run_dir.parent), run_dir.name
        for key, (old, new) in taken.items():
            log(f"cnnzoo train: resume takes {key} = {new} from the command line (the run had {old})")
        for key, (old, new) in kept.items():
            log(f"cnnzoo train: resume keeps {key} = {old} from the run, not {new} (only "
                f"{', '.join(RESUME_CHANGEABLE)} may change on resume)")
    else:
        cfg = TrainConfig()
        if args.config and args.config != "none":
            cfg.update(load_recipe(args.config), args.config)
        elif args.config is None:
            model = given.get("model", cfg.model)
            if isinstance(model, str) and (recipe := model_recipe(model)):
                cfg.update(load_recipe(recipe), f"recipe {recipe}")
                log(f"cnnzoo train: starting from the recipe {recipe} of {model} (flags override it; "
                    f"--config none for the defaults)")
        cfg.update(given, "")
    cfg.validate()
    return cfg, resume


def _train(args: argparse.Namespace) -> int:
    from cnnzoo.train import train  # the engine loads kornia: only when a run starts

    if args.list_recipes:
        for name in list_recipes():
            rec = load_recipe(name)
            print(f"{name:28s} {rec.get('model', 'fashion_cnn'):20s} {rec.get('description', '')}")
        return 0
    try:
        cfg, resume = resolve_config(args)
        train(cfg, resume=resume)
    except KeyboardInterrupt as err:  # the engine's message says what was saved and how to resume
        print(str(err) or "cnnzoo train: interrupted before the run started; nothing written", file=sys.stderr,
              flush=True)
        return 130
    return 0
