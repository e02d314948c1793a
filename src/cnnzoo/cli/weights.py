"""``cnnzoo convert``: a torchvision / timm / cnnzoo checkpoint → a cnnzoo safetensors file."""

from __future__ import annotations

import argparse
import json

import torch


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert a torchvision/timm/cnnzoo checkpoint into a cnnzoo safetensors file",
        description="Read SRC (.safetensors/.pth/.pt/.bin, never running pickled code), detect its layout "
        "(cnnzoo, torchvision or timm), load it strictly into MODEL and write DST as safetensors with a "
        "metadata header (architecture, classes, input size, mean/std).",
    )
    p.add_argument("src", help="the checkpoint to read")
    p.add_argument("dst", help="the .safetensors file to write")
    p.add_argument("--model", required=True, help="the cnnzoo model name (see `cnnzoo list`)")
    p.add_argument("--layout", choices=("cnnzoo", "torchvision", "timm"), help="force the source layout")
    p.add_argument("--fp16", action="store_true", help="store floating-point tensors as float16")
    p.add_argument("--mean", type=float, nargs="+", help="per-channel input mean for the header")
    p.add_argument("--std", type=float, nargs="+", help="per-channel input std for the header")
    p.add_argument("--kwargs", default="{}", help='family options as JSON, e.g. \'{"padding": "same"}\'')
    p.set_defaults(handler=_convert)


def _convert(args: argparse.Namespace) -> int:
    from cnnzoo.weights import convert_checkpoint, parse_metadata, read_metadata

    if not str(args.dst).endswith(".safetensors"):
        raise ValueError(f"DST must be a .safetensors file, got {args.dst!r}")
    if (args.mean is None) != (args.std is None) or (args.mean and len(args.mean) != len(args.std)):
        raise ValueError("give --mean and --std together, one value per input channel each")
    try:
        kwargs = json.loads(args.kwargs)
    except json.JSONDecodeError as err:
        raise ValueError(f"--kwargs is not valid JSON: {err}") from None
    if not isinstance(kwargs, dict):
        raise ValueError("--kwargs must be a JSON object")
    path, report = convert_checkpoint(
        args.src, args.dst, args.model, layout=args.layout, dtype=torch.float16 if args.fp16 else None,
        mean=tuple(args.mean) if args.mean else None, std=tuple(args.std) if args.std else None, **kwargs,
    )
    meta = parse_metadata(read_metadata(path))
    print(f"wrote {path} ({args.model}, {report.layout} layout → cnnzoo)")
    for key in ("num_classes", "in_chans", "img_size", "mean", "std"):
        print(f"  {key + ':':<12} {meta.get(key)}")
    return 0
