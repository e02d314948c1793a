"""``cnnzoo shards``: write an image folder or Fashion-MNIST as WebDataset tar shards with an index."""

from __future__ import annotations

import argparse

from cnnzoo.cli._types import positive_int
from cnnzoo.data.shards import write_shards
from cnnzoo.tables import plural

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("shards", help="write an image folder or Fashion-MNIST as WebDataset tar shards",
                       description="Write SRC's train and val splits as OUT/train-000000.tar … and OUT/val-000000.tar "
                                   "… (webdataset's ShardWriter; each shard complete or absent) with OUT/index.json "
                                   "(class names, counts per split and shard). Train from them with "
                                   "--data OUT or --data 'OUT/train-{000000..000099}.tar'.")
    p.add_argument("src", help="an image folder (SRC/train/<class>/<image>, SRC/val/<class>/<image>), or "
                               "fashion-mnist (or a directory of its IDX files)")
    p.add_argument("out", help="directory for the shards (new or empty)")
    p.add_argument("--shard-size", type=positive_int, default=1000, help="samples per shard (default 1000)")
    p.set_defaults(handler=_shards)


def _shards(args: argparse.Namespace) -> int:
    index = write_shards(args.src, args.out, args.shard_size)
    print(f"{plural(len(index['classes']), 'class')}; index: {args.out}/index.json")
    return 0
