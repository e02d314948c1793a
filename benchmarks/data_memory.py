"""Bounded memory: peak memory of the whole process tree during one epoch of training from a streamed folder.

    python benchmarks/make_jpeg_folder.py /tmp/jpeg10k --train 10000 --val 100 --classes 10
    python benchmarks/make_jpeg_folder.py /tmp/jpeg100k --train 100000 --val 100 --classes 10
    python benchmarks/data_memory.py /tmp/jpeg10k /tmp/jpeg100k --workers 2

For each folder, a fresh process trains a small model for one epoch at 224 px from the folder read
lazily (``data_cache: none``: ``LoaderBatches``, RandomResizedCrop, ``--workers`` decoding processes)
with cnnzoo's own epoch loop (``train_one_epoch``), while a thread samples every 0.2 s the memory of
the process and all its descendants (the DataLoader workers) from /proc: the sum of their RSS (shared
pages counted once per process, an upper bound) and of their PSS (shared pages divided among the
processes: the tree's actual footprint). The model is deliberately cheap (a strided 8×8 convolution,
then global pooling and a linear layer, ≈ 1 M multiply-adds per image) so that the epoch measures the
data path rather than the network, and ``--max-steps`` can cut it short for a quick check. Prints a
row per folder and whether the peaks agree within 10 % and stay below 2 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve()
GiB = 2**30


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _memory(pids: list[int]) -> tuple[int, int]:
    """Sum of RSS and of PSS (bytes) of ``pids``."""
    rss = pss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return rss, pss


class Sampler(threading.Thread):
    """Samples the memory of this process tree until stopped; keeps the peaks."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval, self.peak_rss, self.peak_pss, self.peak_procs = interval, 0, 0, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            pids = _tree(os.getpid())
            rss, pss = _memory(pids)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.peak_procs = max(self.peak_procs, len(pids))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _one(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(HERE.parents[1] / "src"))
    import torch
    from torch import nn

    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.loop import train_one_epoch
    from cnnzoo.train.optim import create_optimizer, create_scheduler
    from cnnzoo.train.sources import load_run_data
    from cnnzoo.train.state import RunState

    sampler = Sampler()
    sampler.start()
    t0 = time.time()
    cfg = TrainConfig(model="resnet18", data=args.one, img_size=224, batch_size=args.batch_size, epochs=1,
                      workers=args.workers, data_cache="none", progress=False, lr=0.05, schedule="constant",
                      train_subset=args.max_steps * args.batch_size or None)
    src = load_run_data(cfg).train
    model = nn.Sequential(nn.Conv2d(3, 32, 8, stride=8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(32, src.num_classes))
    opt = create_optimizer(model, "sgd", 0.05, 5e-4, 0.9)
    sched = create_scheduler(opt, "constant", src.steps_per_epoch, src.steps_per_epoch, 0.0)
    state = RunState(model, opt, sched, torch.amp.GradScaler("cpu", enabled=False))
    stats = train_one_epoch(state, model, src, cfg, 0, 224, torch.device("cpu"), show_progress=args.progress)
    sampler.stop()
    return dict(folder=args.one, images=stats.images, seconds=time.time() - t0, train_images=src.num_images,
                img_per_s=stats.images / stats.seconds, peak_rss=sampler.peak_rss, peak_pss=sampler.peak_pss,
                processes=sampler.peak_procs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="*", help="image folders (benchmarks/make_jpeg_folder.py)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-steps", type=int, default=0, help="stop each epoch after N steps (a quick check)")
    p.add_argument("--progress", action="store_true", help="show the epoch's progress bar")
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(_one(args)))
        return 0
    rows = []
    for folder in args.folders:
        cmd = [sys.executable, str(HERE), "--one", folder, "--workers", str(args.workers), "--batch-size",
               str(args.batch_size), "--max-steps", str(args.max_steps)] + (["--progress"] if args.progress else [])
        res = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        if res.returncode != 0:
            return res.returncode
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{folder}: {r['images']} images in {r['seconds']:.0f} s, peak RSS {r['peak_rss'] / GiB:.2f} GiB, "
              f"PSS {r['peak_pss'] / GiB:.2f} GiB ({r['processes']} processes)", flush=True)
    print("\n| folder | train images | epoch images | images/s | peak RSS (tree) GiB | peak PSS (tree) GiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['folder']} | {r['train_images']} | {r['images']} | {r['img_per_s']:.0f} | "
              f"{r['peak_rss'] / GiB:.2f} | {r['peak_pss'] / GiB:.2f} |")
    if len(rows) >= 2:
        for key in ("peak_rss", "peak_pss"):
            vals = [r[key] for r in rows]
            print(f"{key}: max/min {max(vals) / min(vals):.3f} (within 10 %: {max(vals) <= 1.1 * min(vals)}), "
                  f"below 2 GiB: {max(vals) < 2 * GiB}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
