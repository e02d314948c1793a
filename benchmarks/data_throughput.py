"""Loader throughput: decode + RandomResizedCrop(224) + horizontal flip, images/s, cnnzoo against timm.

    python benchmarks/make_jpeg_folder.py /tmp/jpeg2k --train 2000 --val 100 --classes 10
    python benchmarks/data_throughput.py /tmp/jpeg2k --workers 2 --rounds 3

Each measurement runs in a fresh process: cnnzoo's streamed folder source (``LoaderBatches`` over the
lazy image folder, ``TrainTransform(224)``: uint8 batches) in this environment, and timm's
``create_loader(is_training=True, color_jitter=0)`` on the same ``DIR/train`` files in the oracle env's
Python (``--timm-python``, default /tmp/reference-env/bin/python; timm is never imported by cnnzoo),
once with timm's prefetcher (uint8 from the workers, normalised by the prefetcher on the CPU) and once
without (float tensors normalised in the workers). The three run interleaved, ``--rounds`` times; a
round reads ``--images`` images after ``--warmup`` batches (worker start-up) with ``--workers`` workers
and batch ``--batch-size``. Prints one row per loader (median images/s over the rounds) and the ratio
of cnnzoo to timm's faster configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def _time_batches(loader, images: int, warmup: int) -> float:
    it = iter(loader)
    for _ in range(warmup):
        next(it)
    seen, t0 = 0, time.perf_counter()
    while seen < images:
        x = next(it)[0]
        seen += len(x)
    return seen / (time.perf_counter() - t0)


def _cnnzoo(args: argparse.Namespace) -> float:
    sys.path.insert(0, str(HERE.parents[1] / "src"))
    import functools

    from cnnzoo.data.folder import scan_image_folder
    from cnnzoo.data.transforms import TrainTransform
    from cnnzoo.train.streaming import LoaderBatches, folder_dataset

    fs = scan_image_folder(args.dir, "train")
    make = functools.partial(TrainTransform, hflip=0.5)
    src = LoaderBatches(folder_dataset(fs.files, fs.labels, make), classes=fs.classes, mean=(0.5,) * 3, std=(0.5,) * 3,
                        source="bench", batch_size=args.batch_size, img_size=224, shuffle=True,
                        workers=args.workers, num_images=len(fs))

    def forever():
        epoch = 0
        while True:
            yield from src.batches(epoch)
            epoch += 1
    return _time_batches(forever(), args.images, args.warmup)


def _timm(args: argparse.Namespace, prefetcher: bool) -> float:
    import torch
    from timm.data import create_dataset, create_loader

    ds = create_dataset("", root=str(Path(args.dir) / "train"), is_training=True)
    loader = create_loader(ds, input_size=(3, 224, 224), batch_size=args.batch_size, is_training=True,
                           color_jitter=0.0, hflip=0.5, num_workers=args.workers, use_prefetcher=prefetcher,
                           device=torch.device("cpu"), persistent_workers=True)

    def forever():
        while True:
            yield from loader
    return _time_batches(forever(), args.images, args.warmup)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", help="an image folder with train/<class>/*.jpg (benchmarks/make_jpeg_folder.py)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--images", type=int, default=2000, help="images timed per measurement")
    p.add_argument("--warmup", type=int, default=2, help="batches read before timing")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--timm-python", default="/tmp/reference-env/bin/python")
    p.add_argument("--one", choices=("cnnzoo", "timm", "timm-prefetcher"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        rate = _cnnzoo(args) if args.one == "cnnzoo" else _timm(args, args.one == "timm-prefetcher")
        print(json.dumps({"images_per_s": rate}))
        return 0
    common = [str(HERE), args.dir, "--workers", str(args.workers), "--batch-size", str(args.batch_size),
              "--images", str(args.images), "--warmup", str(args.warmup)]
    pythons = {"cnnzoo": sys.executable, "timm-prefetcher": args.timm_python, "timm": args.timm_python}
    env = dict(os.environ, OMP_NUM_THREADS="1")
    rates: dict[str, list[float]] = {k: [] for k in pythons}
    for r in range(args.rounds):
        for name, python in pythons.items():
            res = subprocess.run([python, *common, "--one", name], capture_output=True, text=True, env=env)
            if res.returncode != 0:
                print(res.stderr[-3000:], file=sys.stderr)
                return 1
            rates[name].append(json.loads(res.stdout.strip().splitlines()[-1])["images_per_s"])
            print(f"round {r + 1}: {name:16s} {rates[name][-1]:7.1f} images/s", flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    best = max(med["timm"], med["timm-prefetcher"])
    print(f"\n| loader ({args.workers} workers, batch {args.batch_size}, RandomResizedCrop 224 + flip) | images/s |")
    print("|---|---:|")
    for k, v in med.items():
        print(f"| {k} | {v:.0f} |")
    print(f"\ncnnzoo / timm's faster configuration: {med['cnnzoo'] / best:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
