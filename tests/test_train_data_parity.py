"""The data side of training tells the truth: a streamed run resumed from its checkpoint ends with the
uninterrupted run's weights, and a run's reported accuracy is what `cnnzoo eval` gives on its checkpoint,
whichever path (in memory or streamed) read the data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from cnnzoo.data.shards import write_shards
from cnnzoo.train import TrainConfig, train

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _photos(root: Path, n_train: int = 10, n_val: int = 4) -> Path:
    """A folder of two classes of small non-square JPEGs (random noise, a brighter class): sizes differ,
    so that squashing and cropping give different pixels."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        for c, base in (("dark", 70), ("light", 170)):
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(n):
                h, w = 24 + 3 * (i % 4), 36 - 2 * (i % 5)
                px = np.clip(rng.normal(base, 60, (h, w, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(px).save(d / f"{i}.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = _photos(tmp_path_factory.mktemp("data") / "img")
    write_shards(root, root.parent / "sh", shard_size=4, log=lambda _: None)
    return root


def _same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_file(a), load_file(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


# ------------------------------------------------------------------------------ exact resume on streams

_RESUME = dict(model="lenet5", img_size=28, batch_size=4, data_cache="none", flip=True, crop_padding=2, lr=0.02,
               schedule="constant", deterministic=True, device="cpu", progress=False, num_threads=1)


@pytest.mark.parametrize("kind", ["folder", "shards"])
def test_a_streamed_run_resumed_after_an_epoch_ends_with_the_uninterrupted_weights(photos, tmp_path, kind):
    """Batch augmentation (flip, crop padding) draws from the global RNG that the resume state restores:
    creating the DataLoader's iterator (in epoch 0 of one run, in epoch 1 of the resumed one) must not
    draw from it. One persistent worker, evaluation every epoch."""
    data = str(photos if kind == "folder" else photos.parent / "sh")
    kw = dict(_RESUME, data=data, workers=1, out_dir=str(tmp_path))
    train(TrainConfig(**kw, name="ref", epochs=3))
    train(TrainConfig(**kw, name="cut", epochs=1))
    train(TrainConfig(**kw, name="cut", epochs=3), resume=True)
    assert _same_weights(tmp_path / "ref/last.safetensors", tmp_path / "cut/last.safetensors")
    hist = [json.loads((tmp_path / r / "report.json").read_text())["history"] for r in ("ref", "cut")]
    assert [r["train_loss"] for r in hist[0]] == [r["train_loss"] for r in hist[1]]


_KILLED_IN_EPOCH_2 = """
import json, os, signal, sys
import cnnzoo.train.engine as engine
from cnnzoo.train import TrainConfig, train

real = engine.train_one_epoch

def dies_in_epoch_2(state, net, source, cfg, epoch, *args, **kw):
    if epoch == 1:  # two steps into the second epoch: SIGKILL, no clean-up of any kind
        batches = source.batches(epoch)
        next(batches), next(batches)
        os.kill(os.getpid(), signal.SIGKILL)
    return real(state, net, source, cfg, epoch, *args, **kw)

engine.train_one_epoch = dies_in_epoch_2
train(TrainConfig(**json.loads(sys.argv[1])))
"""


@pytest.mark.slow
def test_a_shard_run_killed_mid_epoch_resumes_to_the_uninterrupted_weights(photos, tmp_path):
    from cnnzoo.cli import main

    kw = dict(_RESUME, data=str(photos.parent / "sh"), workers=1, out_dir=str(tmp_path), epochs=3)
    train(TrainConfig(**kw, name="ref"))
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", _KILLED_IN_EPOCH_2, json.dumps({**kw, "name": "cut"})], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    assert torch.load(tmp_path / "cut/last.state.pt", weights_only=True)["epoch"] == 1
    assert main(["train", "--resume", str(tmp_path / "cut")]) == 0
    assert _same_weights(tmp_path / "ref/last.safetensors", tmp_path / "cut/last.safetensors")
