"""Time-to-accuracy of the training recipes, from a cold start (the issue-5 benchmark).

    python benchmarks/train_recipes.py wrn_fast fashion_cnn lenet5 [--json benchmarks/results/train.json]

For each recipe it runs ``python -m cnnzoo train --config RECIPE`` in a fresh process (imports, data
decoding, model construction and every evaluation included in the wall time), then reads the run's
``metrics.csv`` and ``report.json`` and prints one Markdown row: final test top-1, total wall time,
and the wall time at which each accuracy threshold was first reached on the 10,000 test images
(evaluated after every epoch; the time is the process's, up to the end of that epoch's evaluation).
Run it on a quiet machine: other processes on the same cores slow OpenMP's threads several-fold.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

THRESHOLDS = (92.5, 93.0, 94.0, 95.0)


def run_recipe(recipe: str, out_dir: Path, extra: list[str]) -> dict:
    name = f"bench-{recipe}-{time.strftime('%Y%m%d-%H%M%S')}"
    cmd = [sys.executable, "-m", "cnnzoo", "train", "--config", recipe, "--name", name, "--out-dir", str(out_dir),
           "--no-progress", *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    run = out_dir / name
    report = json.loads((run / "report.json").read_text())
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    startup = wall - float(rows[-1]["wall_s"])  # what precedes the first epoch: imports, data, model
    reached = {}
    for t in THRESHOLDS:
        hit = next((r for r in rows if float(r["test_top1"] or "nan") >= t), None)  # nan: not evaluated
        reached[str(t)] = None if hit is None else round(startup + float(hit["wall_s"]), 1)
    return dict(recipe=recipe, model=report["model"], epochs=report["epochs"], test_top1=report["test_top1"],
                tta_flip=report["tta_flip"], wall_s=round(wall, 1), startup_s=round(startup, 1),
                reached_s=reached, img_per_s=round(sum(float(r["img_per_s"]) for r in rows) / len(rows)),
                run_dir=str(run), command=f"cnnzoo train --config {recipe}", machine=platform.processor() or
                platform.machine(), cpus=os.cpu_count(), load_before=os.getloadavg()[0])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recipes", nargs="+")
    p.add_argument("--out-dir", type=Path, default=Path("runs"))
    p.add_argument("--json", type=Path, help="append the results to this JSON list")
    args, extra = p.parse_known_args()
    results = [run_recipe(r, args.out_dir, extra) for r in args.recipes]
    print("| recipe | model | epochs | test top-1 | wall time | " +
          " | ".join(f"≥ {t} % at" for t in THRESHOLDS) + " | train img/s |")
    print("|---|---|---|---|---|" + "---|" * len(THRESHOLDS) + "---|")
    for r in results:
        reached = [r["reached_s"][str(t)] for t in THRESHOLDS]
        at = " | ".join("—" if s is None else f"{s:.0f} s" for s in reached)
        print(f"| `{r['recipe']}` | {r['model']} | {r['epochs']} | {r['test_top1']:.2f} %"
              f"{' (flip TTA)' if r['tta_flip'] else ''} | {r['wall_s']:.0f} s | {at} | {r['img_per_s']} |")
    if args.json:
        old = json.loads(args.json.read_text()) if args.json.exists() else []
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(old + results, indent=1))


if __name__ == "__main__":
    main()
