"""Issue 16 benchmark: does an architecture search of at most N minutes find an architecture that
dominates one of the zoo's searched models — higher proxy accuracy *and* lower measured latency — under
the same proxy training and on the same runtime?

    python benchmarks/search_arch.py --minutes 15 --seed 0
    python benchmarks/search_arch.py --minutes 15 --seed 1

Steps: (1) the latency of the compare models (mnasnet_a1, efficientnet_b0, mobilenet_v3_large) at the
deployment resolution sets the target T (default: the fastest of them); (2) ``cnnzoo search arch``
(MnasNet space and reward) for at most ``--minutes``, then the compare models are trained with the same
proxy budget; (3) the best architecture and the compare models are timed again, interleaved over rounds
(so load falls on all alike), and dominance is judged on those latencies. Writes
``<out>/result.json`` and prints the Markdown rows for BENCHMARKS.md. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import cnnzoo  # noqa: E402
from cnnzoo.search import ArchSearch, Deployment, ProxyTask, model_latency, search_arch  # noqa: E402

COMPARE = ("mnasnet_a1", "efficientnet_b0", "mobilenet_v3_large")


def _latencies(models: dict, deploy: Deployment, rounds: int) -> dict[str, float]:
    """Median over interleaved rounds of each model's median latency."""
    times: dict[str, list[float]] = {n: [] for n in models}
    for _ in range(rounds):
        for n, m in models.items():
            times[n].append(model_latency(m, deploy.runtime, deploy.img_size, deploy.batch, repeats=deploy.repeats))
    return {n: statistics.median(v) for n, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=15.0, help="search time limit (default 15)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--space", default="mnasnet", choices=["mnasnet", "efficientnet_v2"])
    p.add_argument("--target-latency", type=float, default=None, help="T in ms (default: fastest compare model)")
    p.add_argument("--runtime", default="torch")
    p.add_argument("--img-size", type=int, default=224)
    p.add_argument("--width", type=float, default=1.0, help="space width multiplier (tiny checks: 0.125)")
    p.add_argument("--train-images", type=int, default=3000)
    p.add_argument("--test-images", type=int, default=1000)
    p.add_argument("--proxy-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--budget", type=int, default=None, help="max training steps per candidate")
    p.add_argument("--compare", default=",".join(COMPARE))
    p.add_argument("--rounds", type=int, default=3, help="interleaved latency rounds at the end")
    p.add_argument("--out", default=None, help="default benchmarks/results/search_arch-<space>-seed<N>")
    args = p.parse_args(argv)

    compare = tuple(n for n in args.compare.split(",") if n)
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"search_arch-{args.space}-seed{args.seed}")
    deploy = Deployment(args.runtime, args.img_size, 1, 10)
    task = ProxyTask(img_size=args.proxy_size, train_images=args.train_images, test_images=args.test_images,
                     epochs=args.epochs, max_steps=args.budget)
    target = args.target_latency
    if target is None:
        zoo = {n: cnnzoo.create_model(n, num_classes=10, in_chans=1) for n in compare}
        target = min(_latencies(zoo, deploy, 1).values())
        print(f"target latency: {target:.2f} ms (the fastest of {', '.join(compare)})", flush=True)
    t0 = time.time()
    cfg = ArchSearch(space=args.space, target_latency_ms=target, deploy=deploy, trials=None,
                     timeout_min=args.minutes, seed=args.seed, width=args.width, out=str(out), compare=compare,
                     study_name=f"bench-{args.space}-seed{args.seed}")
    r = search_arch(cfg, task)
    wall = time.time() - t0

    # the final latencies: the best architecture and the compare models, interleaved
    models = {"found": cnnzoo.create_model("mbconv", arch=r["arch"], num_classes=10, in_chans=1)}
    models.update({n: cnnzoo.create_model(n, num_classes=10, in_chans=1) for n in compare})
    lat = _latencies(models, deploy, args.rounds)
    acc = {"found": r["accuracy"], **{c["label"]: c["accuracy"] for c in r["compared"]}}
    dominated = [n for n in compare if acc["found"] > acc[n] and lat["found"] < lat[n]]
    result = dict(seed=args.seed, space=args.space, minutes=args.minutes, wall_s=wall, trials=r["finished"],
                  target_ms=target, proxy=task.describe(), runtime=args.runtime, img_size=args.img_size,
                  accuracy=acc, latency_ms=lat, params={n: cnnzoo.count_params(m) for n, m in models.items()},
                  dominates=dominated, arch_path=r["arch_path"], report=r["report"])
    (out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    where = f"{args.runtime}, {args.img_size}², b1"
    print(f"\n| seed | space | minutes | trials | model | proxy acc % | latency ms ({where}) |")
    print("|---:|---|---:|---:|---|---:|---:|")
    for n in models:
        print(f"| {args.seed} | {args.space} | {args.minutes:g} | {r['finished']} | {n} | {acc[n]:.2f} "
              f"| {lat[n]:.2f} |")
    print(f"\nfound architecture dominates: {', '.join(dominated) if dominated else 'none'} "
          f"(search wall time {wall / 60:.1f} min; {out / 'result.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
