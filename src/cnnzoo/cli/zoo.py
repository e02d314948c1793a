"""The zoo's own sub-commands: ``cnnzoo list`` and ``cnnzoo info``."""

from __future__ import annotations

import argparse

from cnnzoo.data.config import resolve_data_config
from cnnzoo.data.transforms import eval_resize_size
from cnnzoo.registry import list_models, model_info
from cnnzoo.zoo import zoo_row, zoo_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list the registered models with parameters and GMACs")
    p.add_argument("pattern", nargs="?", default="*", help="shell wildcard, e.g. 'resnet*'")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--names", action="store_true", help="names only, one a line")
    p.set_defaults(handler=_list)

    p = sub.add_parser("info", help="what the registry knows of one model")
    p.add_argument("model", help="a model name (`cnnzoo list`)")
    p.set_defaults(handler=_info)


def _list(args: argparse.Namespace) -> int:
    names = list_models(args.pattern)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}")
    print("\n".join(names) if args.names else zoo_table(args.pattern, markdown=args.markdown))
    return 0


def _info(args: argparse.Namespace) -> int:
    info = model_info(args.model)
    row = zoo_row(args.model)
    print(f"{info.name}  ({info.family})")
    print(f"  paper:        {info.paper}")
    print(f"  parameters:   {row['params']:,}")
    print(f"  GMACs:        {row['gmacs']:.3f} at {info.input_size}")
    print(f"  input size:   {info.input_size} (default), minimum {row['min_size']}x{row['min_size']}")
    print(f"  classes:      {info.num_classes}")
    cfg = resolve_data_config(info.name)
    resize = eval_resize_size(cfg.test_input_size, cfg.eval_crop_pct)
    print(f"  data config:  train {cfg.input_size} px, eval {cfg.test_input_size} px crop of a {resize} px "
          f"{cfg.interpolation} resize; mean {list(cfg.mean)}, std {list(cfg.std)}")
    if info.reference:
        print(f"  reference:    {info.reference}")
    for key, value in info.scaling.items():
        print(f"  {key + ':':<14}{value}")
    if info.pretrained_accuracy is not None:
        print(f"  shipped weights: Fashion-MNIST test accuracy {info.pretrained_accuracy:.2%}")
    return 0
