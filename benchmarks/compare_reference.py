"""cnnzoo against the reference implementations (torchvision / timm), side by side in one process.

Run it with the oracle env's Python (it has timm and torchvision; cnnzoo is imported from this
checkout's ``src``)::

    /tmp/reference-env/bin/python benchmarks/compare_reference.py --batch 1,16 --rounds 3 --compile \
        --json benchmarks/results/compare_reference.json

Run with any other Python it re-executes itself under ``$CNNZOO_ORACLE`` (default
``/tmp/reference-env/bin/python``), and exits 0 with a message when that env is absent (CI).

For every model and batch size it measures, interleaved round by round (ref, zoo, opt, … ref,
zoo, opt, …) so that load from other processes falls on every variant alike:

* ``ref``      the reference's eager fp32 model (NCHW);
* ``zoo``      cnnzoo's eager fp32 model (NCHW), carrying the reference's weights when cnnzoo has a
               layout converter for the family (outputs then compared), else its own random init;
* ``opt``      ``cnnzoo.optimize_for_inference(model)``: batch norms folded, channels-last, fp32;
* ``opt+c``    the same with ``compile=True`` (Inductor, weight freezing), with ``--compile``;
* ``opt+jit``  the same with ``compile="jit"`` (TorchScript freeze + optimize_for_inference), with ``--jit``;
* ``opt-bf16`` ``optimize_for_inference(model, dtype="bf16")``, with ``--bf16`` (its top-1 is compared
               with the model's own fp32 on the same batch);
* ``opt-bf16+c`` bf16 and Inductor, with both ``--bf16`` and ``--compile``.

Throughput is images per second at the median latency (the median over rounds of each round's
median). The fraction of peak is the achieved FLOP rate (2·MACs per image × throughput) over the
machine's measured fp32 (or bf16) matrix-multiply rate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORACLE = Path(os.environ.get("CNNZOO_ORACLE", "/tmp/reference-env/bin/python"))
DEFAULT_MODELS = ["resnet50", "densenet121", "mobilenet_v3_large", "shufflenet_v2_x1_0", "efficientnet_b0",
                  "efficientnet_v2_s"]


def _reexec_under_oracle() -> None:
    try:
        import timm  # noqa: F401
        import torchvision  # noqa: F401
        return
    except ImportError:
        pass
    if not ORACLE.exists():
        print(f"compare_reference: skipped, the oracle env {ORACLE} (timm + torchvision) is absent")
        sys.exit(0)
    sys.exit(subprocess.call([str(ORACLE), *sys.argv]))


def build_reference(name: str, source: str):
    import timm
    import torchvision

    if source == "torchvision":
        return getattr(torchvision.models, name)()
    return timm.create_model(name)


def randomize_bn(model) -> None:
    import torch

    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                # statistics and affine terms like a trained network's, so that activations do not
                # vanish through the depth and the agreement check below compares real logits
                n = m.num_features
                m.running_mean.copy_((torch.rand(n, generator=gen) - 0.5) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                if m.weight is not None:
                    m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                    m.bias.copy_(torch.rand(n, generator=gen) - 0.5)


def main() -> int:
    _reexec_under_oracle()
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    import cnnzoo
    import cnnzoo.device
    from cnnzoo.analysis import count_macs, matmul_peak, measure_latency

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="*", default=DEFAULT_MODELS)
    p.add_argument("--batch", default="1,16", help="comma-separated batch sizes")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--clock", default="wall", choices=["wall", "process"],
                   help="wall-clock, or process CPU time (steadier on a shared CPU; use with --threads 1)")
    p.add_argument("--compile", action="store_true", help="also measure optimize_for_inference(compile=True)")
    p.add_argument("--jit", action="store_true", help="also measure optimize_for_inference(compile='jit')")
    p.add_argument("--bf16", action="store_true", help="also measure optimize_for_inference(dtype='bf16')")
    p.add_argument("--json", help="write all results here")
    p.add_argument("--plot", help="write the GMACs-vs-latency scatter of cnnzoo's eager models here (PNG)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batch.split(",")]

    registered = set(cnnzoo.list_models())
    missing = [m for m in args.models if m not in registered]
    models = [m for m in args.models if m in registered]
    if missing:
        print(f"not registered in cnnzoo (skipped): {', '.join(missing)}")
    peaks = {"fp32": matmul_peak("fp32", n=1024, repeats=10, clock=args.clock)["gflops"]}
    peaks["bf16"] = matmul_peak("bf16", n=512, repeats=3, clock=args.clock)["gflops"]
    print(f"matmul peak: fp32 {peaks['fp32']:.1f} GFLOP/s, bf16 {peaks['bf16']:.1f} GFLOP/s "
          f"({args.threads} threads, {args.clock} clock)", flush=True)

    results = []
    for name in models:
        info = cnnzoo.model_info(name)
        source = info.reference or "torchvision"
        torch.manual_seed(0)
        ref = build_reference(name, source).eval()
        randomize_bn(ref)
        zoo = cnnzoo.create_model(name).eval()
        same_weights = False
        try:
            from cnnzoo.weights.layouts import convert_state_dict

            zoo.load_state_dict(convert_state_dict(ref.state_dict(), name, source), strict=True)
            same_weights = True
        except Exception as err:  # noqa: BLE001 - no converter yet: compare speed with random weights
            print(f"{name}: weights not shared ({type(err).__name__}: {str(err)[:100]}); random init", flush=True)
            randomize_bn(zoo)
        macs = count_macs(cnnzoo.create_model(name, device="meta"), info.input_size)
        t0 = time.perf_counter()
        variants = {"ref": ref, "zoo": zoo, "opt": cnnzoo.optimize_for_inference(zoo)}
        if args.compile:
            variants["opt+c"] = cnnzoo.optimize_for_inference(zoo, compile=True)
        if args.jit:
            variants["opt+jit"] = cnnzoo.optimize_for_inference(zoo, compile="jit")
        if args.bf16:
            variants["opt-bf16"] = cnnzoo.optimize_for_inference(zoo, dtype="bf16")
        if args.bf16 and args.compile:
            variants["opt-bf16+c"] = cnnzoo.optimize_for_inference(zoo, dtype="bf16", compile=True)
        # Agreement on one fixed batch: every variant against the cnnzoo model's own eager fp32.
        gen = torch.Generator().manual_seed(0)
        x16 = torch.randn(16, *info.input_size, generator=gen)
        with torch.no_grad():
            base = zoo(x16)
            agree = {}
            for key, model in variants.items():
                if key == "ref" and not same_weights:
                    continue
                out = model(x16)
                agree[key] = {"max_abs_diff": float((out.float() - base).abs().max()),
                              "logit_scale": float(base.abs().max()),
                              "top1_equal": bool(torch.equal(out.argmax(-1), base.argmax(-1)))}
        setup_s = time.perf_counter() - t0
        lat: dict[tuple[str, int], list[float]] = {(k, b): [] for k in variants for b in batches}
        for _ in range(args.rounds):
            for b in batches:
                x = torch.randn(b, *info.input_size)
                for key, model in variants.items():
                    r = measure_latency(model, x, warmup=args.warmup, repeats=args.repeats, clock=args.clock)
                    lat[(key, b)].append(r["median_ms"])
        for b in batches:
            row = {"model": name, "reference": source, "batch": b, "gmacs": macs / 1e9, "same_weights": same_weights,
                   "setup_s": setup_s, "agreement": agree, "latency_ms": {}, "throughput": {}, "peak_fraction": {}}
            for key in variants:
                med = statistics.median(lat[(key, b)])
                thr = b / (med / 1e3)
                row["latency_ms"][key] = med
                row["throughput"][key] = thr
                peak = peaks["bf16"] if "bf16" in key else peaks["fp32"]
                row["peak_fraction"][key] = 2 * macs * thr / (peak * 1e9)
            row["zoo_over_ref"] = row["throughput"]["zoo"] / row["throughput"]["ref"]
            row["best_opt_over_ref"] = max(v for k, v in row["throughput"].items() if k.startswith("opt")
                                           and ("bf16" not in k or agree.get(k, {}).get("top1_equal"))) \
                / row["throughput"]["ref"]
            results.append(row)
            print(json.dumps({k: row[k] for k in ("model", "batch", "throughput", "zoo_over_ref", "best_opt_over_ref")},
                             default=lambda v: round(v, 3)), flush=True)

    keys = (["ref", "zoo", "opt"] + (["opt+c"] if args.compile else []) + (["opt+jit"] if args.jit else [])
            + (["opt-bf16"] if args.bf16 else []) + (["opt-bf16+c"] if args.bf16 and args.compile else []))
    print()
    print("| model | batch | GMACs | " + " | ".join(f"{k} img/s" for k in keys)
          + " | zoo/ref | best opt/ref | fp32 peak frac. (ref / zoo / best fp32 opt)"
          + (" | bf16 peak frac. (best bf16 opt)" if args.bf16 else "") + " |")
    print("|" + "---|" * (5 + len(keys) + bool(args.bf16)) + "---|")
    for r in results:
        thr = r["throughput"]
        best = max((k for k in keys if k.startswith("opt") and "bf16" not in k), key=lambda k: thr[k])
        best16 = max((k for k in keys if "bf16" in k), key=lambda k: thr[k], default=None)
        frac = r["peak_fraction"]
        print(f"| {r['model']} | {r['batch']} | {r['gmacs']:.2f} | " + " | ".join(f"{thr[k]:.1f}" for k in keys)
              + f" | {r['zoo_over_ref']:.2f}× | {r['best_opt_over_ref']:.2f}× | "
              f"{frac['ref']:.1%} / {frac['zoo']:.1%} / {frac[best]:.1%} |"
              + (f" {frac[best16]:.1%} |" if best16 else ""))
    meta = {"python": platform.python_version(), "torch": torch.__version__, "threads": args.threads,
            "clock": args.clock,
            "cpu": cnnzoo.device.device_name(torch.device("cpu")), "peaks_gflops": peaks,
            "rounds": args.rounds, "repeats": args.repeats, "warmup": args.warmup, "missing": missing,
            "load_avg": os.getloadavg()}
    print(json.dumps(meta))
    if args.plot and results:
        from cnnzoo.analysis.bench import plot_macs_vs_latency

        rows = [{"model": r["model"], "gmacs": r["gmacs"], "batch": r["batch"], "latency_ms": r["latency_ms"]["zoo"],
                 "dtype": "float32", "device": f"cpu, {args.clock} clock", "threads": args.threads} for r in results]
        plot_macs_vs_latency(rows, args.plot)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(args.json + ".tmp")
        tmp.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
