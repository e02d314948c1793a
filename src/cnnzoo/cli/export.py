"""``cnnzoo export``: a model or a checkpoint to ONNX, TorchScript or OpenVINO IR, checked against PyTorch."""

from __future__ import annotations

import argparse
from pathlib import Path

from torch import nn

from cnnzoo.checkpoint import load_checkpoint
from cnnzoo.cli._types import positive_int, setting_arg, tolerance
from cnnzoo.export import FORMATS, SUFFIXES, export_model
from cnnzoo.factory import create_model
from cnnzoo.registry import model_info
from cnnzoo.weights import shipped_models

_WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a model or a checkpoint to ONNX, TorchScript or OpenVINO IR and check it against PyTorch",
        description="TARGET is a checkpoint file (a cnnzoo run's best.safetensors rebuilds itself; a torchvision "
                    "or timm file needs --model) or a model name (with --checkpoint FILE, its shipped weights, "
                    "or random weights, as it says).")
    p.add_argument("target", help="a checkpoint file, or a model name (`cnnzoo list`)")
    p.add_argument("--format", required=True, choices=FORMATS, help="file format: " + ", ".join(FORMATS))
    p.add_argument("--model", help="the model of a checkpoint without a cnnzoo header (torchvision or timm file)")
    p.add_argument("--checkpoint", metavar="FILE", help="weights for the model named by TARGET")
    p.add_argument("--output", "-o", metavar="FILE",
                   help="output file (default: MODEL.onnx / MODEL.pt / MODEL.xml (+ .bin), or beside the checkpoint)")
    p.add_argument("--dynamic-batch", action="store_true", help="leave the batch dimension free")
    p.add_argument("--img-size", type=setting_arg("img_size"), default=None,
                   help="input side, 1 to 4096 (default: the checkpoint's training size, else the model's)")
    p.add_argument("--batch", type=positive_int, default=1, help="batch size of the example input (default 1)")
    p.add_argument("--num-classes", type=positive_int, default=None, help="classifier outputs (random weights only)")
    p.add_argument("--in-chans", type=positive_int, default=None, help="input channels (random weights only)")
    p.add_argument("--exporter", default="dynamo", choices=["dynamo", "legacy"],
                   help="ONNX exporter (also for OpenVINO, converted from the ONNX file)")
    p.add_argument("--method", default="trace", choices=["trace", "script"], help="TorchScript method")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset version (dynamo: 18-23, legacy: 7-20)")
    p.add_argument("--atol", type=tolerance, default=1e-4, help="largest accepted |exported − PyTorch| (default 1e-4)")
    p.add_argument("--no-verify", action="store_true", help="skip running the exported file")
    p.set_defaults(handler=_export)


def _is_file_target(target: str) -> bool:
    return Path(target).is_file() or target.lower().endswith(_WEIGHT_SUFFIXES)


def _load(args: argparse.Namespace) -> tuple[nn.Module, str, Path | None]:
    """The model to export, where its weights come from (in words), and the checkpoint file if any."""
    if _is_file_target(args.target):
        if args.checkpoint:
            raise ValueError("give the checkpoint once: as TARGET or with --checkpoint MODEL, not both")
        ckpt, name = Path(args.target), args.model
    else:
        model_info(args.target)  # an unknown name is an error that lists close names
        if args.model and args.model != args.target:
            raise ValueError(f"--model {args.model} contradicts TARGET {args.target}")
        ckpt, name = (Path(args.checkpoint) if args.checkpoint else None), args.target
    if ckpt is not None:
        if args.num_classes is not None or args.in_chans is not None:
            raise ValueError("--num-classes and --in-chans apply to random weights only: a checkpoint records its own")
        model = load_checkpoint(ckpt, name)
        return model, f"weights {ckpt}", ckpt
    if name in shipped_models() and args.num_classes is None and args.in_chans is None:
        return create_model(name, pretrained=True), f"the weights that ship with cnnzoo for {name}", None
    model = create_model(name, num_classes=args.num_classes, in_chans=args.in_chans)
    return model, "RANDOM weights (no checkpoint given: pass a checkpoint file to export trained weights)", None


def _export(args: argparse.Namespace) -> int:
    if args.format != "torchscript" and args.method != "trace":
        raise ValueError("--method applies to --format torchscript only")
    if args.format == "torchscript" and (args.opset is not None or args.exporter != "dynamo"):
        raise ValueError("--opset and --exporter apply to --format onnx only")
    model, source, ckpt = _load(args)
    info = model.model_info
    size = info.input_size[1] if args.img_size is None else args.img_size
    suffix = SUFFIXES[args.format]
    if args.output:
        output = Path(args.output)
    elif ckpt is not None:
        output = ckpt.with_name(ckpt.stem + (".torchscript.pt" if args.format == "torchscript" else suffix))
    else:
        output = Path(f"{info.name}{suffix}")
    if ckpt is not None and output.resolve() == ckpt.resolve():
        raise ValueError(f"the output {output} would overwrite the checkpoint; choose another with -o")
    print(f"exporting {info.name} with {source}")
    result = export_model(model, output, args.format, input_shape=(args.batch, info.input_size[0], size, size),
                          dynamic_batch=args.dynamic_batch, verify=not args.no_verify, atol=args.atol,
                          exporter=args.exporter, method=args.method, opset=args.opset)
    written = f"{result.path} + {result.path.with_suffix('.bin').name}" if args.format == "openvino" else result.path
    msg = f"wrote {written} ({args.format}, input {result.input_shape}"
    msg += ", dynamic batch)" if result.dynamic_batch else ")"
    if result.max_abs_diff is not None:
        msg += f"; checked at {result.checked_shape}: max |diff| {result.max_abs_diff:.2e}, top-1 " + (
            "agrees" if result.top1_agree else "DIFFERS")
    print(msg)
    return 0
