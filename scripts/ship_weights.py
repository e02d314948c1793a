"""Ship the weights of a finished `cnnzoo train` run inside the package.

    python scripts/ship_weights.py runs/bench-fashion-cnn [--weights best|last]

Reads the run's checkpoint (its header names the model, its options, classes and normalisation),
stores the weights in fp16 as ``src/cnnzoo/weights/pretrained/<model>.safetensors`` with the recipe
and epoch in the header, loads the stored file back exactly as ``create_model(name, pretrained=True)``
does, and records the test accuracy of those fp16 weights on the 10,000 Fashion-MNIST test images
(single crop, no test-time augmentation) in the header. Copy that number into the model's
``pretrained_accuracy`` in the registry; tests/test_pretrained.py checks that they agree.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import yaml

import cnnzoo
from cnnzoo.data import load_data
from cnnzoo.train import evaluate
from cnnzoo.weights import parse_metadata, read_metadata, save_weights

OUT = Path(__file__).resolve().parents[1] / "src" / "cnnzoo" / "weights" / "pretrained"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a runs/<name> directory of a finished training")
    p.add_argument("--weights", choices=("best", "last"), default="best")
    p.add_argument("--out", type=Path, default=OUT, help="output directory")
    args = p.parse_args()

    src = args.run / f"{args.weights}.safetensors"
    meta = parse_metadata(read_metadata(src))
    cfg = yaml.safe_load((args.run / "config.yaml").read_text())
    name, kwargs = meta["model"], dict(meta.get("model_kwargs") or {})
    drop_rate = kwargs.pop("drop_rate", None)
    build = dict(num_classes=meta["num_classes"], in_chans=meta["in_chans"], drop_rate=drop_rate, **kwargs)
    model = cnnzoo.create_model(name, pretrained=str(src), **build)
    header = dict(model_kwargs=meta.get("model_kwargs") or {}, mean=tuple(meta["mean"]), std=tuple(meta["std"]),
                  classes=meta["classes"], dtype=torch.float16, dataset="fashion-mnist", img_size=meta["img_size"],
                  epoch=cfg["epochs"], source=f"cnnzoo train --config {cfg.get('config') or args.run.name} "
                                              f"({cfg['epochs']} epochs, {args.weights} weights)")
    path = args.out / f"{name}.safetensors"
    tmp = path.with_suffix(".tmp.safetensors")
    save_weights(model, tmp, **header)
    back = cnnzoo.create_model(name, pretrained=str(tmp), **build)  # the stored fp16 weights, as users load them
    data = load_data(None, "test", in_chans=int(meta["in_chans"]), img_size=int(meta["img_size"]))
    data.mean, data.std = header["mean"], header["std"]
    acc = evaluate(back, data, int(meta["img_size"])).top1 / 100
    save_weights(back, path, accuracy=round(100 * acc, 2), **header)
    tmp.unlink()
    print(json.dumps(dict(model=name, test_accuracy=round(100 * acc, 2), file=str(path), bytes=path.stat().st_size)))


if __name__ == "__main__":
    main()
