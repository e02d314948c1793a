"""``cnnzoo convert``: a torchvision / timm / cnnzoo checkpoint → a cnnzoo checkpoint with its header."""

from __future__ import annotations

import argparse
import json

import torch

from cnnzoo.checkpoint import convert_checkpoint


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert a torchvision/timm/cnnzoo checkpoint into a cnnzoo safetensors file",
        description="Read SRC (.safetensors/.pth/.pt/.bin, never running pickled code), detect its layout "
        "(cnnzoo, torchvision or timm), load it strictly into the model and write DST as a cnnzoo checkpoint "
        "whose header records the architecture, its arguments, classes, input size and mean/std.",
    )
    p.add_argument("src", help="the checkpoint to read")
    p.add_argument("dst", help="the .safetensors file to write")
    p.add_argument("--model", help="the cnnzoo model name (`cnnzoo list`); needed for torchvision/timm files")
    p.add_argument("--layout", choices=("cnnzoo", "torchvision", "timm"), help="force the source layout")
    p.add_argument("--fp16", action="store_true", help="store floating-point tensors as float16")
    p.add_argument("--mean", type=float, nargs="+", help="per-channel input mean for the header")
    p.add_argument("--std", type=float, nargs="+", help="per-channel input std for the header")
    p.add_argument("--kwargs", default="{}", help='family options as JSON, e.g. \'{"padding": "same"}\'')
    p.set_defaults(handler=_convert)


def _convert(args: argparse.Namespace) -> int:
    try:
        kwargs = json.loads(args.kwargs)
    except json.JSONDecodeError as err:
        raise ValueError(f"--kwargs is not valid JSON: {err}") from None
    if not isinstance(kwargs, dict):
        raise ValueError("--kwargs must be a JSON object")
    path, header = convert_checkpoint(
        args.src, args.dst, args.model, layout=args.layout, dtype=torch.float16 if args.fp16 else None,
        mean=tuple(args.mean) if args.mean else None, std=tuple(args.std) if args.std else None, **kwargs,
    )
    print(f"wrote {path} ({header.model}; {header.source or 'cnnzoo checkpoint'})")
    for key in ("num_classes", "in_chans", "img_size", "mean", "std", "classes"):
        print(f"  {key + ':':<12} {getattr(header, key)}")
    return 0
