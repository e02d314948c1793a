"""``cnnzoo export``: a registered model (optionally with a checkpoint) to ONNX or TorchScript."""

from __future__ import annotations

import argparse

from cnnzoo.export import FORMATS, export_model, load_checkpoint


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a model to ONNX or TorchScript and check it against PyTorch")
    p.add_argument("model")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--checkpoint", metavar="FILE", help="weights to load (.safetensors or a weights-only torch file)")
    p.add_argument("--output", "-o", metavar="FILE", help="output file (default: MODEL.onnx / MODEL.pt)")
    p.add_argument("--dynamic-batch", action="store_true", help="leave the batch dimension free")
    p.add_argument("--img-size", type=int, default=None, help="input side (default: the model's)")
    p.add_argument("--batch", type=int, default=1, help="batch size of the example input (default 1)")
    p.add_argument("--num-classes", type=int, default=None, help="classifier outputs (to fit a checkpoint)")
    p.add_argument("--in-chans", type=int, default=None, help="input channels (to fit a checkpoint)")
    p.add_argument("--exporter", default="dynamo", choices=["dynamo", "legacy"], help="ONNX exporter")
    p.add_argument("--method", default="trace", choices=["trace", "script"], help="TorchScript method")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset version")
    p.add_argument("--atol", type=float, default=1e-4, help="largest accepted |exported − PyTorch| (default 1e-4)")
    p.add_argument("--no-verify", action="store_true", help="skip running the exported file")
    p.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    from cnnzoo.registry import create_model

    if args.format == "onnx" and args.method != "trace":
        raise ValueError("--method applies to --format torchscript only")
    if args.format == "torchscript" and (args.opset is not None or args.exporter != "dynamo"):
        raise ValueError("--opset and --exporter apply to --format onnx only")
    model = create_model(args.model, num_classes=args.num_classes, in_chans=args.in_chans)
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint)
    info = model.model_info
    size = info.input_size[1] if args.img_size is None else args.img_size
    if args.batch < 1:
        raise ValueError(f"--batch must be >= 1, got {args.batch}")
    output = args.output or f"{args.model}.{'onnx' if args.format == 'onnx' else 'pt'}"
    result = export_model(model, output, args.format, input_shape=(args.batch, info.input_size[0], size, size),
                          dynamic_batch=args.dynamic_batch, verify=not args.no_verify, atol=args.atol,
                          exporter=args.exporter, method=args.method, opset=args.opset)
    msg = f"wrote {result.path} ({args.format}, input {result.input_shape}"
    msg += ", dynamic batch)" if result.dynamic_batch else ")"
    if result.max_abs_diff is not None:
        msg += f"; checked at {result.checked_shape}: max |diff| {result.max_abs_diff:.2e}, top-1 " + (
            "agrees" if result.top1_agree else "DIFFERS")
    print(msg)
    return 0
