"""Train the small Fashion-MNIST models whose weights ship inside the package.

    PYTHONPATH=src python scripts/train_shipped.py fashion_cnn --minutes 25

A minimal loop (AdamW, warm-up + cosine learning rate, label smoothing, random horizontal flips),
time-budgeted because the machines it ran on were shared CPUs. The result is stored in fp16 in
``src/cnnzoo/weights/pretrained/<model>.safetensors`` with its test accuracy, measured by loading
the stored file back exactly as ``create_model(name, pretrained=True)`` does.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from torch import nn

import cnnzoo
from cnnzoo.weights import FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD, save_weights
from cnnzoo.weights._fashion_mnist import accuracy, load_split, normalize

OUT = Path(__file__).resolve().parents[1] / "src" / "cnnzoo" / "weights" / "pretrained"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--minutes", type=float, default=20.0, help="training time budget")
    p.add_argument("--epochs", type=float, default=3.0, help="epochs, if the budget allows")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--size", type=int, default=None, help="train/test image side (default 28 or min_size)")
    p.add_argument("--kwargs", default="{}", help="model options as JSON")
    p.add_argument("--init", help="start from these weights (continue a run)")
    p.add_argument("--out", type=Path, default=OUT, help="output directory")
    p.add_argument("--smoke", action="store_true", help="2 steps and 500 test images, to check the script")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    kwargs = json.loads(args.kwargs)
    model = cnnzoo.create_model(args.model, num_classes=10, in_chans=1, pretrained=args.init or False, **kwargs)
    size = args.size or max(28, model.min_size)
    xtr, ytr = load_split("train")
    xte, yte = load_split("test")
    if args.smoke:
        xte, yte = xte[:500], yte[:500]
    steps_per_epoch = math.ceil(len(xtr) / args.batch_size)
    total = 2 if args.smoke else int(args.epochs * steps_per_epoch)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    budget = args.minutes * 60
    step, t0 = 0, time.time()
    model.train()
    frac = 0.0
    while frac < 1.0:
        perm = torch.randperm(len(xtr))
        for i in range(0, len(perm), args.batch_size):
            idx = perm[i: i + args.batch_size]
            x = normalize(xtr[idx], FASHION_MNIST_MEAN, FASHION_MNIST_STD)
            flip = torch.rand(len(x)) < 0.5
            x[flip] = x[flip].flip(-1)
            if size != 28:
                x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
            out = model(x)
            out = out[0] if isinstance(out, (tuple, list)) else out
            loss = nn.functional.cross_entropy(out, ytr[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            # Progress is the larger of steps and time spent, so that the schedule ends within budget:
            # 10% linear warm-up, then cosine decay to zero.
            frac = max(step / total, (time.time() - t0) / budget)
            scale = frac / 0.1 if frac < 0.1 else 0.5 + 0.5 * math.cos(math.pi * (frac - 0.1) / 0.9)
            for group in opt.param_groups:
                group["lr"] = args.lr * scale
            opt.step()
            step += 1
            if step % 20 == 0:
                print(f"step {step}/{total} loss {loss.item():.3f} {time.time() - t0:.0f}s", flush=True)
            if frac >= 1.0:
                break
    epochs = step / steps_per_epoch
    if args.init:  # a continued run: count the epochs of the run it continues
        from cnnzoo.weights import parse_metadata, read_metadata

        epochs += float(parse_metadata(read_metadata(args.init)).get("epoch", 0.0))
    path = args.out / f"{args.model}.safetensors"
    header = dict(model_kwargs=kwargs,
                  mean=FASHION_MNIST_MEAN, std=FASHION_MNIST_STD, classes=FASHION_MNIST_CLASSES, dtype=torch.float16,
                  dataset="fashion-mnist", img_size=size, epoch=round(epochs, 3),
                  source=f"scripts/train_shipped.py {args.model}: {epochs:.2f} epochs, AdamW lr {args.lr}, "
                         f"batch {args.batch_size}")
    save_weights(model, path, **header)
    # The accuracy of the stored (fp16) weights, loaded as users load them.
    back = cnnzoo.create_model(args.model, num_classes=10, in_chans=1, pretrained=str(path), **kwargs)
    acc = accuracy(back, xte, yte, FASHION_MNIST_MEAN, FASHION_MNIST_STD, size=size)
    save_weights(back, path, accuracy=round(100 * acc, 2), **header)
    print(json.dumps(dict(model=args.model, steps=step, epochs=round(epochs, 3), test_accuracy=acc,
                          minutes=round((time.time() - t0) / 60, 1), file=str(path),
                          bytes=path.stat().st_size)))


if __name__ == "__main__":
    main()
