"""Issue 16 benchmark: the compound-scaling grid search (EfficientNet §3.3) and its coefficients against
the paper's (α, β, γ) = (1.2, 1.1, 1.15) at equal FLOPs, φ = 1 and φ = 2.

    python benchmarks/search_scaling.py --base efficientnet_b0 --step 0.1 --tolerance 0.1

Steps: (1) ``cnnzoo search scaling`` over the grid (every (α, β, γ) ≥ 1 with |α·β²·γ² − 2| ≤ tolerance),
each candidate the base at φ = 1 trained on the proxy task; (2) the base scaled with the found and with
the paper's coefficients, at φ = 1 and φ = 2, each trained with the same proxy budget (at the proxy
resolution × γ^φ); reports the proxy accuracy and GMACs of each. Writes ``<out>/result.json`` and
prints the Markdown rows for BENCHMARKS.md. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import cnnzoo  # noqa: E402
from cnnzoo.search import (  # noqa: E402
    PAPER_COEFFICIENTS,
    Deployment,
    ProxyTask,
    ScalingSearch,
    flops_ratio,
    load_proxy_data,
    search_scaling,
    seeded_build,
)
from cnnzoo.search.candidate import measure_cost, train_candidate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default="efficientnet_b0")
    p.add_argument("--arch", default=None, help="stage-table YAML when the base is mbconv")
    p.add_argument("--step", type=float, default=0.1)
    p.add_argument("--tolerance", type=float, default=0.1)
    p.add_argument("--trials", type=int, default=None, help="at most this many grid points (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runtime", default="torch")
    p.add_argument("--img-size", type=int, default=224)
    p.add_argument("--train-images", type=int, default=3000)
    p.add_argument("--test-images", type=int, default=1000)
    p.add_argument("--proxy-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--budget", type=int, default=None, help="max training steps per candidate")
    p.add_argument("--out", default=None, help="default benchmarks/results/search_scaling-<base>")
    args = p.parse_args(argv)

    out = Path(args.out or ROOT / "benchmarks" / "results" / f"search_scaling-{args.base}")
    deploy = Deployment(args.runtime, args.img_size, 1, 10)
    task = ProxyTask(img_size=args.proxy_size, train_images=args.train_images, test_images=args.test_images,
                     epochs=args.epochs, max_steps=args.budget)
    kwargs = {"arch": args.arch} if args.arch else {}
    t0 = time.time()
    r = search_scaling(ScalingSearch(base=args.base, base_kwargs=kwargs, step=args.step, tolerance=args.tolerance,
                                     trials=args.trials, deploy=deploy, seed=args.seed, out=str(out)), task)
    found = (r["alpha"], r["beta"], r["gamma"])
    data = load_proxy_data(task)
    rows = []
    for label, coeffs in (("found", found), ("paper", PAPER_COEFFICIENTS)):
        for phi in (1, 2):
            model = seeded_build(task, lambda c=coeffs, p=phi: cnnzoo.scale_model(
                args.base, p, *c, num_classes=data.num_classes, in_chans=data.in_chans, **kwargs))
            size = max(round(task.img_size * coeffs[2] ** phi), model.min_size)
            m = measure_cost(model, deploy, round(args.img_size * coeffs[2] ** phi))
            train_candidate(model, m, data, task, img_size=size)
            rows.append(dict(coefficients=label, alpha=coeffs[0], beta=coeffs[1], gamma=coeffs[2], phi=phi,
                             flops_ratio=flops_ratio(*coeffs) ** phi, gmacs=m.gmacs, latency_ms=m.latency_ms,
                             accuracy=m.accuracy, proxy_size=size))
            print(f"{label} φ={phi}: {m.accuracy:.2f} % at {m.gmacs:.3f} GMACs", flush=True)
    result = dict(base=args.base, found=found, paper=PAPER_COEFFICIENTS, grid=r["grid"], trained=r["candidates"],
                  proxy=task.describe(), wall_s=time.time() - t0, rows=rows, search=r)
    (out / "result.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"\nfound (α, β, γ) = {found} from {r['candidates']} of {r['grid']} grid points; proxy: {task.describe()}")
    print(f"\n| base | coefficients | α, β, γ | φ | α·β²·γ² ^φ | GMACs ({args.img_size}²·γ^φ) | proxy acc % |")
    print("|---|---|---|---:|---:|---:|---:|")
    for x in rows:
        print(f"| {args.base} | {x['coefficients']} | {x['alpha']:g}, {x['beta']:g}, {x['gamma']:g} | {x['phi']} | "
              f"{x['flops_ratio']:.2f} | {x['gmacs']:.3f} | {x['accuracy']:.2f} |")
    print(f"\nwall time {result['wall_s'] / 60:.1f} min; {out / 'result.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
