"""How steady is each latency statistic? Two copies of one engine, timed side by side, should measure alike.

In one process: two separately built engines of one runtime (``A``, ``B``) and one engine of the other runtime
(``C``), for one model and batch; ``--races`` independent races, each of ``--rounds`` interleaved rounds in a
balanced order (``round_order``), each engine timed for at least 3 calls and ``--min-time`` seconds per round.
Per race, the ratio A/B (ideally 1) and C/A by each statistic:

* ``median of rounds``  the median over rounds of each round's median call;
* ``pooled median``     the median of all calls;
* ``lower quartile``    the lower quartile of all calls (``race_latency``: what ``deploy(runtime="auto")``
                        ranks by);
* ``minimum``           the fastest call.

The spread of A/B over the races is the noise of the statistic: the smaller, the finer a difference between
runtimes it can resolve.

    PYTHONPATH=src .venv/bin/python benchmarks/timing_estimators.py --model efficientnet_v2_s --batch 1 \
        --runtime onnxruntime --races 6 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch

import cnnzoo
from cnnzoo.device import device_name
from cnnzoo.inference import deploy
from cnnzoo.inference.engine import race_latency
from cnnzoo.tables import format_table
from cnnzoo.timing import measure_latency, round_order

STATISTICS = {
    "median of rounds": lambda rounds: statistics.median(statistics.median(r) for r in rounds),
    "pooled median": lambda rounds: statistics.median(t for r in rounds for t in r),
    "lower quartile": lambda rounds: race_latency([t for r in rounds for t in r]),
    "minimum": lambda rounds: min(t for r in rounds for t in r),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="efficientnet_v2_s")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--img-size", type=int, default=224)
    p.add_argument("--runtime", choices=["onnxruntime", "openvino"], default="onnxruntime")
    p.add_argument("--races", type=int, default=6)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--min-time", type=float, default=0.5)
    args = p.parse_args(argv)
    model = cnnzoo.create_model(args.model).eval()
    other = "openvino" if args.runtime == "onnxruntime" else "onnxruntime"
    kw = dict(batch=args.batch, img_size=args.img_size)
    engines = {"A": deploy(model, args.runtime, **kw), "B": deploy(model, args.runtime, **kw),
               "C": deploy(model, other, **kw)}
    x = torch.randn(args.batch, model.in_chans, args.img_size, args.img_size)
    print(f"{device_name(torch.device('cpu'))}, {torch.get_num_threads()} threads; {args.model} batch {args.batch}: "
          f"A, B = {args.runtime}, C = {other}", flush=True)
    ratios: dict[str, list[tuple[float, float]]] = {name: [] for name in STATISTICS}
    for race in range(args.races):
        calls: dict[str, list[list[float]]] = {k: [] for k in engines}
        for r in range(args.rounds):
            for k in round_order(list(engines), r):
                timed = measure_latency(engines[k], x, warmup=1, repeats=3, min_time_s=args.min_time)
                calls[k].append(timed["times_ms"])
        for name, stat in STATISTICS.items():
            a, b, c = (stat(calls[k]) for k in "ABC")
            ratios[name].append((a / b, c / a))
        print(f"race {race}: " + ", ".join(f"{n} A/B {v[-1][0]:.3f}" for n, v in ratios.items()), flush=True)
    rows = []
    for name, v in ratios.items():
        ab, ca = [r[0] for r in v], [r[1] for r in v]
        rows.append([name, f"{min(ab):.3f}-{max(ab):.3f}", f"{statistics.pstdev(ab):.3f}",
                     f"{min(ca):.3f}-{max(ca):.3f}", f"{statistics.pstdev(ca):.3f}"])
    print(format_table(["statistic", "A/B range", "A/B sd", "C/A range", "C/A sd"], rows, align="lrrrr"))
    print(f"{args.races} races × {args.rounds} rounds, each engine ≥ 3 calls and ≥ {args.min_time} s per round")
    return 0


if __name__ == "__main__":
    sys.exit(main())
