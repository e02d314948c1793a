"""``cnnzoo profile`` and ``cnnzoo bench``: what a model costs, counted and measured."""

from __future__ import annotations

import argparse

from cnnzoo.analysis.bench import (
    bench_models,
    parse_runtimes,
    plot_macs_vs_latency,
    rows_to_csv,
    rows_to_json,
    rows_to_table,
    runtime_latency,
)
from cnnzoo.analysis.profiler import profile_model
from cnnzoo.factory import create_model
from cnnzoo.files import write_text


def _int_list(text: str) -> list[int]:
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 1,16,64, got {text!r}") from err
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers like 1,16,64, got {text!r}")
    return values


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="per-layer params, MACs, memory access cost, kernels and latency")
    p.add_argument("model", help="a model name (`cnnzoo list`)")
    p.add_argument("--img-size", type=int, default=None, help="input side (default: the model's)")
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    p.add_argument("--device", default="cpu", help="where latency is measured: cpu or cuda (default cpu)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs before timing (default 3)")
    p.add_argument("--repeats", type=int, default=10, help="timed runs (default 10)")
    p.add_argument("--no-latency", action="store_true", help="count only, do not run the model")
    p.add_argument("--runtime", type=_runtimes, default=None, metavar="RT[,RT…]",
                   help="also measure the model deployed on these runtimes (torch, onnxruntime, openvino)")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"], help="precision of --runtime (default fp32)")
    p.add_argument("--max-rows", type=int, default=None, help="print at most this many layers")
    p.add_argument("--json", metavar="FILE", help="also write the profile as JSON ('-' prints it instead)")
    p.add_argument("--csv", metavar="FILE", help="also write the per-layer table as CSV ('-' prints it instead)")
    p.set_defaults(handler=_profile)

    p = sub.add_parser("bench", help="latency and throughput of models across batch sizes and settings")
    p.add_argument("models", nargs="+", metavar="MODEL", help="one or more model names (`cnnzoo list`)")
    p.add_argument("--batch", type=_int_list, default=[1], help="comma-separated batch sizes (default 1)")
    p.add_argument("--img-size", type=int, default=None, help="input side (default: each model's)")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"],
                   help="precision (fp16: PyTorch eager only)")
    p.add_argument("--runtime", type=_runtimes, default=None, metavar="RT[,RT…]",
                   help="measure each model deployed on these runtimes (torch, onnxruntime, openvino; "
                        "cnnzoo.deploy, outputs checked against PyTorch) instead of PyTorch eager")
    p.add_argument("--channels-last", action="store_true", help="NHWC weights and inputs")
    p.add_argument("--compile", nargs="?", const="inductor", default=False, choices=["inductor", "jit"],
                   help="torch.compile the models (Inductor); '--compile jit' (with --optimize): TorchScript "
                        "freeze + optimize_for_inference")
    p.add_argument("--optimize", action="store_true",
                   help="run through cnnzoo.optimize_for_inference (folds batch norms; with the settings above)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs before timing (default 3)")
    p.add_argument("--repeats", type=int, default=10, help="timed runs per round (default 10)")
    p.add_argument("--rounds", type=int, default=1, help="interleaved rounds over all models (median taken)")
    p.add_argument("--clock", default="wall", choices=["wall", "process"],
                   help="wall-clock time, or this process's CPU time (steadier on a shared CPU; CPU only)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--peak", action="store_true", help="measure the matmul peak and report the fraction reached")
    p.add_argument("--plot", metavar="PNG", help="write the GMACs-vs-latency scatter plot here")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    p.add_argument("--csv", metavar="FILE", help="also write the rows as CSV")
    p.set_defaults(handler=_bench)


def _runtimes(text: str) -> list[str]:
    try:
        return parse_runtimes(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _profile(args: argparse.Namespace) -> int:
    if args.runtime and (args.no_latency or args.device != "cpu"):
        raise ValueError("--runtime measures deployed engines on the CPU; it contradicts --no-latency and --device")
    prof = profile_model(args.model, img_size=args.img_size, batch_size=args.batch, device=args.device,
                         latency=not args.no_latency, warmup=args.warmup, repeats=args.repeats)
    if args.runtime:
        prof.extra["runtimes"] = runtime_latency(create_model(args.model), args.runtime, prof.input_shape,
                                                 args.dtype, warmup=args.warmup, repeats=args.repeats)
    for flag, text in (("json", prof.to_json), ("csv", prof.to_csv)):
        target = getattr(args, flag)
        if target == "-":
            print(text())
            return 0
    print(prof.to_table(max_rows=args.max_rows))
    if args.json:
        write_text(args.json, prof.to_json() + "\n")
    if args.csv:
        write_text(args.csv, prof.to_csv())
    return 0


def _bench(args: argparse.Namespace) -> int:
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    rows = bench_models(args.models, batches=args.batch, dtype=args.dtype, channels_last=args.channels_last,
                        compile=args.compile, optimize=args.optimize, img_size=args.img_size, device=args.device,
                        warmup=args.warmup, repeats=args.repeats, rounds=args.rounds, peak=args.peak,
                        clock=args.clock, runtimes=args.runtime)
    print(rows_to_table(rows))
    if args.json:
        write_text(args.json, rows_to_json(rows) + "\n")
    if args.csv:
        write_text(args.csv, rows_to_csv(rows))
    if args.plot:
        plot_macs_vs_latency(rows, args.plot)
        print(f"plot written to {args.plot}")
    return 0
