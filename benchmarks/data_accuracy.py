"""Same accuracy from every source: the resnet8_fast recipe on Fashion-MNIST in memory, as a PNG folder, as shards.

    python benchmarks/data_accuracy.py --work /tmp/fmnist-sources

writes Fashion-MNIST once as a PNG folder (``WORK/png/train/<class>/*.png``, ``WORK/png/val/…``) and once
as WebDataset shards (``cnnzoo shards fashion-mnist WORK/shards``), then trains the ``resnet8_fast``
recipe three times with the same seed: from memory (the default path, as ``make demo``), from the PNG
folder streamed (``--data-cache none``) and from the shards. The streamed runs crop the whole image
(``--rrc-min-scale 1 --rrc-max-ratio 1``) at 28 px in one channel, so that all three see the same pixels;
they differ only in the order of the samples (the shard shuffle buffer) and in the normalisation
statistics (the model's data config for the folder, the index's for the shards). Prints the test top-1
of each and the largest difference to the in-memory run (goal: within 0.3 %). ``--epochs`` and
``--train-subset`` shorten it for a check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
SRC = HERE.parents[1] / "src"


def _png_folder(out: Path) -> None:
    sys.path.insert(0, str(SRC))
    from PIL import Image

    from cnnzoo.data import FASHION_MNIST_CLASSES, find_fashion_mnist, load_fashion_mnist

    root = find_fashion_mnist()
    tmp = out.with_name(out.name + ".partial")
    for split, sub in (("train", "train"), ("test", "val")):
        images, labels = load_fashion_mnist(root, split)
        for c in FASHION_MNIST_CLASSES:
            (tmp / sub / c).mkdir(parents=True, exist_ok=True)
        for i, (img, y) in enumerate(zip(images, labels.tolist(), strict=True)):
            Image.fromarray(img[0].numpy(), "L").save(tmp / sub / FASHION_MNIST_CLASSES[y] / f"{i:05d}.png")
    tmp.rename(out)


def _train(name: str, data: list[str], args: argparse.Namespace, subset: bool = True) -> float:
    cmd = [sys.executable, "-m", "cnnzoo", "train", "--config", "resnet8_fast", "--name", name, "--out-dir",
           str(Path(args.work) / "runs"), "--no-progress", *data]
    if args.epochs:
        cmd += ["--epochs", str(args.epochs)]
    if args.train_subset and subset:
        cmd += ["--train-subset", str(args.train_subset)]
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)
    return json.loads((Path(args.work) / "runs" / name / "report.json").read_text())["test_top1"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="/tmp/fmnist-sources", help="directory for the folder, shards and runs")
    p.add_argument("--epochs", type=int, help="override the recipe's 4 epochs (a quick check)")
    p.add_argument("--train-subset", type=int, help="N training images (shards: the first ⌈N / 5000⌉ shards)")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "png").is_dir():
        _png_folder(work / "png")
    if not (work / "shards" / "index.json").is_file():
        env = dict(os.environ, PYTHONPATH=str(SRC))
        subprocess.run([sys.executable, "-m", "cnnzoo", "shards", "fashion-mnist", str(work / "shards"),
                        "--shard-size", "5000"], check=True, env=env)
    tag = "-".join(filter(None, [f"e{args.epochs}" if args.epochs else "", f"n{args.train_subset}"
                                 if args.train_subset else "", time.strftime("%Y%m%d-%H%M%S")]))
    streamed = ["--data-cache", "none", "--rrc-min-scale", "1", "--rrc-max-ratio", "1", "--workers", str(args.workers),
                "--in-chans", "1", "--img-size", "28"]  # as Fashion-MNIST in memory (a folder defaults to the model's)
    results = {"in memory": _train(f"acc-memory-{tag}", [], args),
               "PNG folder": _train(f"acc-folder-{tag}", ["--data", str(work / "png"), *streamed], args)}
    shards = str(work / "shards")
    if args.train_subset:  # the first shards of 5,000 samples
        shards += f"/train-{{000000..{(args.train_subset - 1) // 5000:06d}}}.tar"
    results["shards"] = _train(f"acc-shards-{tag}", ["--data", shards, *streamed], args, subset=False)
    print("\n| source | test top-1 % |\n|---|---:|")
    for k, v in results.items():
        print(f"| {k} | {v:.2f} |")
    diff = max(abs(v - results["in memory"]) for v in results.values())
    print(f"\nlargest difference to the in-memory run: {diff:.2f} % (goal: at most 0.3 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
