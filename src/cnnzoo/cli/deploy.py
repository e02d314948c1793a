"""``cnnzoo deploy``: a checkpoint or a model on the fastest runtime that agrees with PyTorch, int8 optionally."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnzoo.checkpoint import load_checkpoint
from cnnzoo.cli._types import positive_int, setting_arg
from cnnzoo.inference import DEPLOY_DTYPES, RUNTIMES, deploy
from cnnzoo.inference.engine import default_measure
from cnnzoo.train.sources import trained_on
from cnnzoo.weights import shipped_models


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "deploy", help="put a checkpoint or a model on the fastest runtime here (torch, onnxruntime, openvino), "
                       "checked against PyTorch; int8 with an accuracy guard",
        description="Builds the model on each runtime, checks its outputs against eager PyTorch fp32, times the "
                    "ones that agree and writes the fastest one's file (ONNX, OpenVINO IR or TorchScript) with "
                    "a JSON of what was measured. --int8 quantises it, calibrated on --data (default: the run's own "
                    "data), and keeps the float model if top-1 on the validation split, scored as cnnzoo eval "
                    "scores it, drops by more than --max-drop points.")
    p.add_argument("target", help="a checkpoint file (a cnnzoo run's best.safetensors), or a model name")
    p.add_argument("--model", help="the model of a checkpoint without a cnnzoo header (torchvision or timm file)")
    p.add_argument("--runtime", default="auto", choices=["auto", *RUNTIMES],
                   help="where to run: auto (measure and choose, default) or one runtime")
    p.add_argument("--dtype", default="fp32", choices=DEPLOY_DTYPES,
                   help="precision (with auto: the lowest allowed; bf16 only where the CPU has it natively)")
    p.add_argument("--int8", action="store_true", help="same as --dtype int8")
    p.add_argument("--batch", type=positive_int, default=1, help="batch size to build and time for (default 1)")
    p.add_argument("--img-size", type=setting_arg("img_size"), default=None,
                   help="input side, 1 to 4096 (default: the checkpoint's training size, else the model's)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="int8: calibration and validation images, an image folder (DIR/train, DIR/val), shards or "
                        "Fashion-MNIST, prepared as cnnzoo eval prepares them (default: the data the checkpoint's "
                        "run was trained on, else Fashion-MNIST); refused when it does not fit the model or the "
                        "float model is at chance on it")
    p.add_argument("--max-drop", type=float, default=0.5,
                   help="int8: largest accepted top-1 drop in percentage points (default 0.5)")
    p.add_argument("--calib-images", type=positive_int, default=300, help="int8: calibration images (default 300)")
    p.add_argument("--val-images", type=positive_int, default=None,
                   help="int8: validation images scored (default: the whole split)")
    p.add_argument("--rounds", type=positive_int, default=5, help="interleaved timing rounds (default 5)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="where to write (default: deploy/ beside the checkpoint, or ./deploy-MODEL)")
    p.set_defaults(handler=_deploy)


def _deploy(args: argparse.Namespace) -> int:
    dtype = "int8" if args.int8 else args.dtype
    if args.int8 and args.dtype not in ("fp32", "int8"):
        raise ValueError(f"--int8 contradicts --dtype {args.dtype}")
    if dtype != "int8" and (args.data is not None or args.max_drop != 0.5):
        raise ValueError("--data and --max-drop apply to --int8 only")
    is_file = Path(args.target).is_file()
    if args.model and not is_file:
        raise ValueError(f"--model names the model of a checkpoint file; {args.target} is not a file")
    target = load_checkpoint(args.target, args.model) if args.model else args.target
    if not is_file and args.target not in shipped_models():
        print(f"{args.target}: RANDOM weights (no checkpoint given and none ship with cnnzoo): timings hold, "
              f"top-1 does not")
    if args.out:
        out = Path(args.out)
    else:
        out = Path(args.target).parent / "deploy" if is_file else Path(f"deploy-{args.target}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a directory")
    data = args.data if args.data is not None or not is_file else trained_on(args.target)  # the run's own
    engine = deploy(target, runtime=args.runtime, dtype=dtype, batch=args.batch, img_size=args.img_size,
                    data=data, max_drop=args.max_drop, calib_images=args.calib_images,
                    val_images=args.val_images, rounds=args.rounds, measure=default_measure)  # timed even when asked
    print(engine.report)
    paths = engine.save(out, stem=Path(args.target).stem if is_file else None)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
