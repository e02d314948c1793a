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
from dataclasses import replace
from pathlib import Path

import torch
import yaml

import cnnzoo
from cnnzoo.checkpoint import save_state_dict
from cnnzoo.data import load_data
from cnnzoo.train import evaluate

OUT = Path(__file__).resolve().parents[1] / "src" / "cnnzoo" / "weights" / "pretrained"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a runs/<name> directory of a finished training")
    p.add_argument("--weights", choices=("best", "last"), default="best")
    p.add_argument("--out", type=Path, default=OUT, help="output directory")
    args = p.parse_args()

    src = args.run / f"{args.weights}.safetensors"
    model = cnnzoo.load_checkpoint(src)  # rebuilt from its header, exactly as trained
    cfg = yaml.safe_load((args.run / "config.yaml").read_text())
    header = replace(model.checkpoint_header, dataset="fashion-mnist", epoch=cfg["epochs"], accuracy=None,
                     source=f"cnnzoo train --config {cfg.get('recipe') or args.run.name} "
                            f"({cfg['epochs']} epochs, {args.weights} weights)")
    name = header.model
    path = args.out / f"{name}.safetensors"
    tmp = path.with_suffix(".tmp.safetensors")
    save_state_dict(tmp, model.state_dict(), header, dtype=torch.float16)
    back = cnnzoo.load_checkpoint(tmp)  # the stored fp16 weights, as users load them
    data = load_data(None, "test", in_chans=header.in_chans, img_size=header.img_size)
    data.mean, data.std = tuple(header.mean), tuple(header.std)
    acc = evaluate(back, data, header.img_size).top1 / 100
    save_state_dict(path, model.state_dict(), replace(header, accuracy=round(100 * acc, 2)), dtype=torch.float16)
    tmp.unlink()
    print(json.dumps(dict(model=name, test_accuracy=round(100 * acc, 2), file=str(path), bytes=path.stat().st_size)))


if __name__ == "__main__":
    main()
