"""Benchmarking models side by side: latency and throughput across batch sizes and settings, and the
plot of multiply-adds against measured latency that shows where FLOPs mislead.

Each (model, batch) is measured ``rounds`` times, the rounds interleaved across models (A, B, A,
B, …) so that a noisy neighbour on a shared machine slows every model alike; the reported latency
is the median of the rounds' medians.

With ``runtimes`` (``torch``, ``onnxruntime``, ``openvino``) each model is measured on each runtime it
would ship on, through :func:`cnnzoo.deploy` (its outputs checked against eager PyTorch first), one
row per (model, batch, runtime); without, PyTorch eager (``runtime`` "eager") with the settings given.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from cnnzoo.analysis.flops import count_macs
from cnnzoo.analysis.latency import matmul_peak
from cnnzoo.device import parse_dtype, resolve_device
from cnnzoo.factory import create_model
from cnnzoo.inference import RUNTIMES, deploy, optimize_for_inference
from cnnzoo.registry import model_info
from cnnzoo.tables import format_table, plural
from cnnzoo.timing import measure_latency

__all__ = ["prepare_model", "bench_models", "runtime_latency", "parse_runtimes", "rows_to_table", "rows_to_csv",
           "plot_macs_vs_latency"]


def prepare_model(model: nn.Module, dtype: str | torch.dtype = "fp32", channels_last: bool = False,
                  compile: bool | str = False, optimize: bool = False,
                  example_inputs: torch.Tensor | None = None) -> nn.Module:
    """Apply benchmark settings: either plainly (cast, NHWC, ``torch.compile``) or through
    :func:`cnnzoo.optimize_for_inference` (``optimize=True``: also folds batch norms; ``compile="jit"``
    needs it and traces at the size of ``example_inputs``)."""
    dt = parse_dtype(dtype)
    model = model.eval()
    if compile == "jit" and not optimize:
        raise ValueError("compile='jit' runs through optimize_for_inference: add --optimize (optimize=True)")
    if optimize:
        return optimize_for_inference(model, dtype=dt, compile=compile, channels_last=channels_last, inplace=True,
                                      example_inputs=example_inputs)
    for p in model.parameters():
        p.requires_grad_(False)
    model = model.to(dt)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile:
        model = torch.compile(model)
    return model


def _make_input(shape: tuple[int, ...], dtype: torch.dtype, channels_last: bool, device: torch.device,
                optimize: bool) -> torch.Tensor:
    x = torch.randn(shape, device=device)
    if optimize:  # the InferenceModel converts the input itself
        return x
    x = x.to(dtype)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@torch.no_grad()
def bench_models(
    names: Sequence[str],
    batches: Sequence[int] = (1,),
    dtype: str = "fp32",
    channels_last: bool = False,
    compile: bool | str = False,
    optimize: bool = False,
    img_size: int | None = None,
    device: str = "cpu",
    warmup: int = 3,
    repeats: int = 10,
    rounds: int = 1,
    peak: bool = False,
    clock: str = "wall",
    runtimes: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Measure every model at every batch size; one row per (model, batch), or per (model, batch, runtime)
    with ``runtimes`` (each a :func:`cnnzoo.deploy` engine at ``dtype``; the PyTorch-only settings
    ``channels_last``/``compile``/``optimize`` do not apply then)."""

    dev = resolve_device(device)
    if runtimes is not None:
        runtimes = parse_runtimes(runtimes)
        if channels_last or compile or optimize or dev.type != "cpu":
            raise ValueError("--runtime measures deployed engines on the CPU: channels-last, compile and optimize "
                             "are PyTorch eager settings (the torch runtime already folds, converts and freezes)")
        if dtype not in ("fp32", "bf16"):
            raise ValueError(f"runtimes are measured in fp32 or bf16, got {dtype!r} (int8 needs calibration "
                             f"data: `cnnzoo deploy CHECKPOINT --int8 --data DIR` measures it)")
    dt = parse_dtype(dtype)
    if not names:
        raise ValueError("give at least one model name")
    if not batches or any(not isinstance(b, int) or b < 1 for b in batches):
        raise ValueError(f"batch sizes must be positive ints, got {list(batches)!r}")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds!r}")
    rows: dict[tuple[str, int, str], dict[str, Any]] = {}
    for name in names:
        info = model_info(name)
        meta = create_model(name, device="meta")
        size = info.input_size[1] if img_size is None else img_size
        if not isinstance(size, int) or size < meta.min_size:
            raise ValueError(f"{name} needs an image size of at least {meta.min_size}, got {size!r}")
        macs = count_macs(meta, (info.input_size[0], size, size))
        fns: dict[tuple[int, str], Any] = {}
        if runtimes is None:
            example = torch.randn(1, info.input_size[0], size, size, device=dev)
            eager = prepare_model(create_model(name, device=dev), dt, channels_last, compile, optimize, example)
            fns = {(b, "eager"): eager for b in batches}
        else:
            model = create_model(name)
            fns = {(b, rt): deploy(model, runtime=rt, dtype=dtype, batch=b, img_size=size)
                   for b in batches for rt in runtimes}
        for (b, rt), fn in fns.items():
            rows[(name, b, rt)] = {
                "model": name, "family": info.family, "batch": b, "img_size": size, "params": sum(
                    p.numel() for p in meta.parameters()), "gmacs": macs / 1e9, "dtype": str(dt).replace("torch.", ""),
                "runtime": rt, "channels_last": channels_last, "compile": compile, "optimize": optimize, "_lat": [],
                "_shape": (b, info.input_size[0], size, size), "_fn": fn,
            }
    for _ in range(rounds):
        for row in rows.values():
            x = _make_input(row["_shape"], dt, channels_last, dev, optimize or runtimes is not None)
            lat = measure_latency(row["_fn"], x, warmup=warmup, repeats=repeats, clock=clock)
            row["_lat"].append(lat)
    peaks = {}
    if peak:
        peaks = {"fp32": matmul_peak("fp32", device=str(dev), clock=clock)["gflops"]}
        if dt != torch.float32:
            peaks[str(dt).replace("torch.", "")] = matmul_peak(dt, device=str(dev), clock=clock)["gflops"]
    out = []
    for row in rows.values():
        lats = row.pop("_lat")
        row.pop("_shape")
        row.pop("_fn")
        median = statistics.median(r["median_ms"] for r in lats)
        row.update(
            latency_ms=median,
            latency_iqr_ms=statistics.median(r["iqr_ms"] for r in lats),
            throughput=row["batch"] / (median / 1e3),
            rounds=rounds, repeats=repeats, warmup=warmup,
            threads=lats[0]["threads"], device=lats[0]["device"], device_name=lats[0]["device_name"],
            torch=lats[0]["torch"], clock=clock,
        )
        row["gflops_achieved"] = 2 * row["gmacs"] * row["batch"] / (median / 1e3)
        if peaks:
            p = peaks.get(row["dtype"], peaks["fp32"])
            row["peak_gflops"] = p
            row["peak_fraction"] = row["gflops_achieved"] / p
        out.append(row)
    return out


def parse_runtimes(runtimes: str | Sequence[str]) -> list[str]:
    """``"torch,onnxruntime"`` or a list → the runtimes, checked against :data:`cnnzoo.inference.RUNTIMES`."""
    items = [r.strip() for r in runtimes.split(",")] if isinstance(runtimes, str) else [str(r) for r in runtimes]
    items = [r for r in items if r]
    bad = [r for r in items if r not in RUNTIMES]
    if not items or bad:
        raise ValueError(f"runtimes must be some of {', '.join(RUNTIMES)} (comma-separated), got {runtimes!r}")
    return list(dict.fromkeys(items))


def runtime_latency(model: nn.Module, runtimes: Sequence[str], shape: tuple[int, ...], dtype: str = "fp32",
                    warmup: int = 3, repeats: int = 10) -> dict[str, dict[str, Any]]:
    """Latency of ``model`` deployed on each runtime (``cnnzoo.deploy``) at input ``shape`` (N, C, H, W)."""
    x = torch.randn(*shape)
    out = {}
    for rt in parse_runtimes(runtimes):
        engine = deploy(model, runtime=rt, dtype=dtype, batch=shape[0], img_size=shape[-1])
        out[rt] = dict(measure_latency(engine, x, warmup=warmup, repeats=repeats), runtime=rt, dtype=engine.dtype)
    return out


_COLS = ["model", "runtime", "batch", "img_size", "dtype", "channels_last", "compile", "optimize", "params", "gmacs",
         "latency_ms", "latency_iqr_ms", "throughput", "gflops_achieved", "peak_fraction", "threads", "clock", "device"]


def rows_to_table(rows: list[dict[str, Any]]) -> str:
    """An aligned text table of benchmark rows."""
    header = ["model", "runtime", "batch", "size", "dtype", "NHWC", "compile", "opt", "GMACs", "ms", "IQR ms",
              "img/s", "GFLOP/s", "of peak"]
    body = []
    for r in rows:
        body.append([
            r["model"], r.get("runtime", "eager"), str(r["batch"]), str(r["img_size"]), r["dtype"],
            "y" if r["channels_last"] else "n",
            {True: "y", False: "n"}.get(r["compile"], str(r["compile"])), "y" if r["optimize"] else "n",
            f"{r['gmacs']:.3f}",
            f"{r['latency_ms']:.2f}", f"{r['latency_iqr_ms']:.2f}", f"{r['throughput']:.1f}",
            f"{r['gflops_achieved']:.1f}", f"{r['peak_fraction']:.1%}" if "peak_fraction" in r else "-",
        ])
    lines = [format_table(header, body, align="ll" + "r" * (len(header) - 2))]
    if rows:
        r = rows[0]
        lines.append(f"{r['device']} ({r['device_name']}), {plural(r['threads'], 'thread')}, torch {r['torch']}; "
                     f"{r['clock']} clock; median of {plural(r['rounds'], 'interleaved round')} × "
                     f"{plural(r['repeats'], 'run')} "
                     f"after {r['warmup']} warm-up")
    return "\n".join(lines)


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_COLS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def rows_to_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=2)


def plot_macs_vs_latency(rows: list[dict[str, Any]], path: str, batch: int | None = None) -> None:
    """Scatter GMACs (per image) against measured latency per image at one batch size (the smallest
    by default), with the line a constant FLOP rate would predict (the median achieved rate):
    models above the line are slower than their multiply-adds suggest."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("no benchmark rows to plot")
    batch = min(r["batch"] for r in rows) if batch is None else batch
    sel = [r for r in rows if r["batch"] == batch]
    xs = [r["gmacs"] for r in sel]
    ys = [r["latency_ms"] / r["batch"] for r in sel]
    rate = statistics.median(y / x for x, y in zip(xs, ys, strict=True) if x > 0) if any(xs) else 0.0
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    series = list(dict.fromkeys(r.get("runtime", "eager") for r in sel))
    for rt in series:  # one series per runtime, so each runtime's own FLOP-to-latency spread shows
        pts = [(x, y) for r, x, y in zip(sel, xs, ys, strict=True) if r.get("runtime", "eager") == rt]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], zorder=3, label=rt if len(series) > 1 else None)
    for r, x, y in zip(sel, xs, ys, strict=True):
        if r.get("runtime", "eager") == series[0]:
            ax.annotate(r["model"], (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
    if rate and xs:
        # log-log axes: a constant FLOP rate is a line of slope 1 through the median model
        lo, hi = min(xs) / 1.5, max(xs) * 1.5
        ax.plot([lo, hi], [lo * rate, hi * rate], "--", color="gray",
                label=f"constant rate, median {2e3 / rate:.1f} GFLOP/s: above = slower than its FLOPs say")
    if rate and xs or len(series) > 1:
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    r0 = sel[0]
    ax.set_xlabel("GMACs per image (multiply-adds)")
    ax.set_ylabel("latency per image (ms)")
    ax.set_title(f"FLOPs vs measured latency, batch {batch}, {r0['dtype']}, {r0['device']} "
                 f"({plural(r0['threads'], 'thread')})", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
