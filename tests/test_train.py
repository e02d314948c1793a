"""The training engine: real short trainings, resume after SIGKILL, bad inputs, torchrun, CLI."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from cnnzoo.checkpoint import read_header
from cnnzoo.cli import main
from cnnzoo.data import find_fashion_mnist, load_data, load_image, read_idx
from cnnzoo.train import TrainConfig, list_recipes, load_recipe, train
from cnnzoo.train import losses as losses_mod
from cnnzoo.train.augment import BatchAugment, soft_targets
from cnnzoo.train.batches import to_float
from cnnzoo.train.loop import NonFiniteLossError, stage_settings
from cnnzoo.train.losses import compute_loss
from cnnzoo.train.losses import split_outputs as _split_outputs
from cnnzoo.train.optim import RMSpropTF, lr_multiplier
from cnnzoo.train.tensorboard import EventWriter, crc32c, read_events
from tests._util import HAVE_FMNIST, needs_fmnist

SRC = str(Path(__file__).resolve().parents[1] / "src")

# A small, quick setting: the seed CNN (with batch norm) on Fashion-MNIST shrunk to 12×12.
TINY = dict(model="fashion_cnn", model_kwargs={"batch_norm": True}, img_size=12, optimizer="sgd", lr=0.05,
            drop_rate=0.0, schedule="onecycle", progress=False, num_threads=1)


def read_metadata(path):
    """The header of a cnnzoo checkpoint as a dict."""
    return dataclasses.asdict(read_header(path))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "cnnzoo", *args]


# ------------------------------------------------------------------------------ data and bad inputs

def _write_idx(path: Path, arr: np.ndarray, gz: bool = True, cut: int = 0) -> None:
    raw = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()
    raw = raw[: len(raw) - cut] if cut else raw
    path.write_bytes(gzip.compress(raw) if gz else raw)


def test_idx_roundtrip_and_damage(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "ok.gz", arr)
    assert np.array_equal(read_idx(tmp_path / "ok.gz"), arr)
    _write_idx(tmp_path / "short.gz", arr, cut=5)
    with pytest.raises(ValueError, match=r"short\.gz: truncated"):
        read_idx(tmp_path / "short.gz")
    good = (tmp_path / "ok.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"cut\.gz: corrupt or truncated gzip"):
        read_idx(tmp_path / "cut.gz")
    (tmp_path / "junk.gz").write_bytes(b"this is not gzip at all")
    with pytest.raises(ValueError, match=r"junk\.gz: corrupt or truncated gzip"):
        read_idx(tmp_path / "junk.gz")
    (tmp_path / "magic").write_bytes(b"\x12\x34\x08\x01" + b"\0" * 8)
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "magic")
    with pytest.raises(FileNotFoundError, match="nowhere.gz"):
        read_idx(tmp_path / "nowhere.gz")


def test_missing_and_damaged_dataset_messages(tmp_path, monkeypatch, capsys):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        find_fashion_mnist(tmp_path / "empty")
    # a Fashion-MNIST directory whose training images are truncated: one error naming the file
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((4, 28, 28), np.uint8), cut=100)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(2, np.uint8))
    code = main(["train", "--data", str(tmp_path), "--epochs", "1", "--out-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "train-images-idx3-ubyte.gz: truncated" in err and err.count("\n") == 1
    code = main(["train", "--data", str(tmp_path / "no_such_dir"), "--out-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "no_such_dir: no such data directory" in err
    monkeypatch.setenv("CNNZOO_DATA", str(tmp_path / "elsewhere"))
    if not Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").is_file():
        with pytest.raises(FileNotFoundError, match="elsewhere"):
            find_fashion_mnist()


def _image_folder(root: Path, n_per_class: int = 24, rgb: bool = True) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", n_per_class), ("val", n_per_class // 2)):
        for c, name in enumerate(["dark", "light"]):
            d = root / split / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                base = 60 if c == 0 else 190
                px = np.clip(rng.normal(base, 30, (20, 20, 3) if rgb else (20, 20)), 0, 255).astype(np.uint8)
                Image.fromarray(px).save(d / f"{i}.png")


def test_image_folder_train_and_undecodable_image(tmp_path, capsys):
    _image_folder(tmp_path / "imgs")
    data = load_data(tmp_path / "imgs", "train", in_chans=3, img_size=16)
    assert data.images.shape == (48, 3, 16, 16) and data.classes == ["dark", "light"]
    gray = load_data(tmp_path / "imgs", "test", in_chans=1, img_size=16)  # test -> val/
    assert gray.images.shape == (24, 1, 16, 16)
    # with progressive learning: 8×8 images and no mixup in the first stage, 16×16 and mixup 0.2 in the second
    cfg = TrainConfig(**{**TINY, "img_size": 16}, data=str(tmp_path / "imgs"), in_chans=3, epochs=2,
                      batch_size=16, out_dir=str(tmp_path / "runs"), name="folder", prog_stages=2,
                      prog_img_size_start=8, mixup=0.2, erasing=0.2, flip=True)
    report = train(cfg)
    assert [r["img_size"] for r in report["history"]] == [8, 16]
    assert report["test_top1"] >= 85  # two trivially separable classes
    bad = tmp_path / "imgs" / "train" / "dark" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ValueError, match=r"broken\.png: cannot decode image"):
        load_data(tmp_path / "imgs", "train", in_chans=3, img_size=16)
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        load_image(tmp_path / "missing.png", 3, 16)
    lenient = load_data(tmp_path / "imgs", "train", in_chans=3, img_size=16, strict=False)
    assert len(lenient) == 48 and lenient.skipped == [str(bad)] and lenient.subset(10).skipped == [str(bad)]
    code = main(["train", "--data", str(tmp_path / "imgs"), "--model", "fashion_cnn", "--in-chans", "3",
                 "--strict-data", "true", "--out-dir", str(tmp_path / "runs"), "--name", "x"])
    assert code == 2 and "broken.png: cannot decode image" in capsys.readouterr().err
    # without strict_data the in-memory path leaves it out, says so and counts it in the report
    cfg = TrainConfig(**{**TINY, "img_size": 16}, data=str(tmp_path / "imgs"), in_chans=3, epochs=1,
                      batch_size=16, out_dir=str(tmp_path / "runs"), name="lenient")
    with pytest.warns(UserWarning, match=r"skipped an image that cannot be decoded: .*broken\.png"):
        report = train(cfg)
    assert report["skipped_images"]["count"] == 1 and report["skipped_images"]["files"] == [str(bad)]


# ------------------------------------------------------------------------------ real training

@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    if not HAVE_FMNIST:
        pytest.skip("Fashion-MNIST not installed")
    out = tmp_path_factory.mktemp("runs")
    torch.manual_seed(0)
    cfg = TrainConfig(**TINY, epochs=2, batch_size=16, train_subset=1600, test_subset=1000, ema=True,
                      crop_padding=1, label_smoothing=0.1, out_dir=str(out), name="short")
    return train(cfg), out / "short"


@needs_fmnist
def test_short_training_learns(trained_run):
    report, run_dir = trained_run
    hist = report["history"]
    assert len(hist) == 2  # 200 steps in all
    assert hist[-1]["train_loss"] < 0.75 * hist[0]["train_loss"]
    assert report["test_top1"] > 60 and report["ema_test_top1"] > 60  # chance is 10 %
    for f in ("config.yaml", "metrics.csv", "curves.png", "confusion.png", "report.md", "report.json",
              "last.safetensors", "best.safetensors", "last.state.pt"):
        assert (run_dir / f).is_file(), f
    meta = read_metadata(run_dir / "last.safetensors")
    assert meta["model"] == "fashion_cnn" and meta["img_size"] == 12 and meta["classes"][9] == "Ankle boot"
    # drop_rate 0 removes fashion_cnn's Dropout modules (other state-dict keys): it is kept for rebuilding
    assert meta["model_kwargs"] == {"batch_norm": True, "drop_rate": 0.0} and meta["epoch"] == 2
    events = read_events(next((run_dir / "tensorboard").glob("events.out.tfevents.*")))
    assert [s for s, _ in events] == [1, 2]
    assert events[-1][1]["test_top1"] == pytest.approx(hist[-1]["test_top1"], rel=1e-5)
    assert (run_dir / "metrics.csv").read_text().count("\n") == 3


@needs_fmnist
def test_eval_and_predict_cli(trained_run, tmp_path, capsys):
    report, run_dir = trained_run
    assert main(["eval", str(run_dir / "last.safetensors"), "--subset", "1000", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"top-1 {report['test_top1']:.2f}%" in out and "Ankle boot" in out
    assert len(list(tmp_path.glob("last-eval-test-*.png"))) == 1 and len(list(tmp_path.glob("last-eval-*.json"))) == 1
    assert main(["eval", str(run_dir), "--subset", "200", "--tta-flip", "--out", str(tmp_path)]) == 0
    assert "with flip TTA" in capsys.readouterr().out
    from PIL import Image

    x = load_data(None, "test").images[:2]
    for i in range(2):
        Image.fromarray(x[i, 0].numpy()).save(tmp_path / f"{i}.png")
    assert main(["predict", str(run_dir / "last.safetensors"), str(tmp_path / "0.png"), str(tmp_path / "1.png"),
                 "-k", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(line.count("%") == 2 for line in lines)
    (tmp_path / "bad.png").write_bytes(b"garbage")
    assert main(["predict", str(run_dir / "last.safetensors"), str(tmp_path / "bad.png")]) == 2
    assert "bad.png: cannot decode image" in capsys.readouterr().err


@needs_fmnist
def test_non_finite_loss_stops_and_keeps_checkpoint(tmp_path, monkeypatch):
    real = losses_mod.soft_cross_entropy
    calls = {"n": 0}

    def flaky(logits, targets):
        calls["n"] += 1
        loss = real(logits, targets)
        return loss * float("nan") if calls["n"] == 14 else loss  # epoch 2, step 4 (10 steps per epoch)

    monkeypatch.setattr(losses_mod, "soft_cross_entropy", flaky)
    cfg = TrainConfig(**TINY, epochs=3, batch_size=20, train_subset=200, test_subset=100, out_dir=str(tmp_path),
                      name="nan")
    with pytest.raises(NonFiniteLossError, match=r"at epoch 2, step 4 \(global step 14\).*last\.state\.pt \(epoch 1\)"):
        train(cfg)
    assert read_metadata(tmp_path / "nan" / "last.safetensors")["epoch"] == 1
    assert torch.load(tmp_path / "nan" / "last.state.pt", weights_only=True)["epoch"] == 1


@needs_fmnist
def test_clip_grad_bounds_the_global_gradient_norm(tmp_path, monkeypatch):
    real = torch.nn.utils.clip_grad_norm_
    seen: list[tuple[float, float, float]] = []  # (max_norm, norm before, norm after)

    def spy(params, max_norm, *args, **kwargs):
        params = list(params)
        before = real(params, max_norm, *args, **kwargs)
        after = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None]))
        seen.append((max_norm, float(before), float(after)))
        return before

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    cfg = TrainConfig(**TINY, clip_grad=0.05, epochs=1, batch_size=50, train_subset=200, test_subset=100,
                      out_dir=str(tmp_path), name="clip")
    train(cfg)
    assert len(seen) == 4  # every step
    assert all(m == 0.05 and after <= 0.05 * (1 + 1e-4) for m, _, after in seen)
    assert max(before for _, before, _ in seen) > 0.05  # the bound was active
    seen.clear()
    train(TrainConfig(**TINY, epochs=1, batch_size=50, train_subset=200, test_subset=100,
                      out_dir=str(tmp_path), name="noclip"))
    assert seen == []  # 0 (the default) does not clip
    with pytest.raises(ValueError, match="clip_grad: expected a number >= 0, got -1"):
        TrainConfig(clip_grad=-1).validate()


@needs_fmnist
def test_whitened_stem_is_set_from_the_data_and_stays_frozen(tmp_path):
    from cnnzoo.train.whitening import patch_whitening_

    cfg = TrainConfig(**{**TINY, "model": "resnet8", "model_kwargs": {"stem_stride": 2}, "img_size": 16},
                      whiten_stem=True, epochs=1, batch_size=50, train_subset=300, test_subset=100,
                      out_dir=str(tmp_path), name="white")
    train(cfg)
    trained = load_file(tmp_path / "white" / "last.safetensors")["conv1.weight"]
    data = load_data(None, "train", 1, 16).subset(300)
    x = to_float(data.images, 16)
    x = (x - data.mean[0]) / data.std[0]
    expected = patch_whitening_(torch.nn.Conv2d(1, 16, 2, 2, bias=False), x).weight
    assert torch.allclose(trained, expected, atol=1e-6)


@needs_fmnist
def test_eval_every_skips_test_evaluations_but_never_the_last(tmp_path):
    cfg = TrainConfig(**TINY, epochs=3, batch_size=50, train_subset=200, test_subset=100, eval_every=2,
                      out_dir=str(tmp_path), name="ev")
    report = train(cfg)
    rows = report["history"]
    assert [r["test_top1"] == r["test_top1"] for r in rows] == [False, True, True]  # nan != nan: not evaluated
    assert report["test_top1"] == rows[-1]["test_top1"] and report["best_epoch"] in (2, 3)
    assert "nan" in (tmp_path / "ev" / "metrics.csv").read_text().splitlines()[1]
    assert read_metadata(tmp_path / "ev" / "last.safetensors")["accuracy"] == round(rows[-1]["test_top1"], 4)
    with pytest.raises(ValueError, match="eval_every: expected an integer >= 0, got -1"):
        TrainConfig(eval_every=-1).validate()


RESUME_ARGS = ["train", "--set", "model_kwargs={batch_norm: true}", "--img-size", "12", "--epochs", "4",
               "--batch-size", "25", "--train-subset", "500", "--test-subset", "100", "--lr", "0.05",
               "--drop-rate", "0.3", "--crop-padding", "1", "--flip", "true", "--mixup", "0.3", "--ema", "true",
               "--deterministic", "true", "--num-threads", "1", "--no-progress", "--device", "cpu"]


@needs_fmnist
@pytest.mark.slow
def test_resume_after_sigkill_gives_identical_weights(tmp_path):
    out = str(tmp_path)
    # the uninterrupted reference and the run to be killed side by side (one thread each, on two cores)
    ref_err = open(tmp_path / "ref.err", "w")  # noqa: SIM115 - closed once the run has ended
    ref = subprocess.Popen(_cli([*RESUME_ARGS, "--out-dir", out, "--name", "ref"]), env=_env(),
                           stdout=subprocess.DEVNULL, stderr=ref_err)
    proc = subprocess.Popen(_cli([*RESUME_ARGS, "--out-dir", out, "--name", "cut"]), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt, state = tmp_path / "cut" / "last.safetensors", tmp_path / "cut" / "last.state.pt"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and not state.is_file():
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    ref_code = ref.wait(timeout=600)
    ref_err.close()
    assert ref_code == 0, (tmp_path / "ref.err").read_text()
    killed_at = torch.load(state, weights_only=True)["epoch"]
    assert 1 <= killed_at < 4
    res = subprocess.run(_cli(["train", "--resume", str(tmp_path / "cut")]), env=_env(), capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert f"resuming after epoch {killed_at}" in res.stdout
    assert read_metadata(ckpt)["epoch"] == 4
    a, b = load_file(tmp_path / "ref" / "last.safetensors"), load_file(ckpt)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ea, eb = load_file(tmp_path / "ref" / "last_ema.safetensors"), load_file(tmp_path / "cut" / "last_ema.safetensors")
    assert all(torch.equal(ea[k], eb[k]) for k in ea)
    hist_a = json.loads((tmp_path / "ref" / "report.json").read_text())["history"]
    hist_b = json.loads((tmp_path / "cut" / "report.json").read_text())["history"]
    assert [r["test_top1"] for r in hist_a] == [r["test_top1"] for r in hist_b]


@needs_fmnist
@pytest.mark.slow
def test_torchrun_two_gloo_processes_hold_identical_weights(tmp_path):
    args = ["--nproc_per_node=2", "--master_port=29517", "-m", "cnnzoo", "train", "--set",
            "model_kwargs={batch_norm: true}", "--img-size", "12", "--epochs", "2", "--batch-size", "25",
            "--train-subset", "400", "--test-subset", "200", "--crop-padding", "1",
            "--num-threads", "1", "--no-progress", "--device", "cpu", "--out-dir", str(tmp_path), "--name", "ddp"]
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", *args], env=_env(), capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads((tmp_path / "ddp" / "report.json").read_text())
    assert report["world_size"] == 2 and report["ranks_identical"] is True
    assert "batch 25×2" in res.stdout and res.stdout.count("test accuracy:") == 1  # only rank 0 prints
    # 400 images / 2 ranks / 25 per batch = 8 steps per epoch, and the test set is scored once in all
    assert report["history"][0]["img_per_s"] > 0 and len(report["history"]) == 2
    assert sum(sum(r) for r in report["confusion"]) == 200


# ------------------------------------------------------------------------------ pieces

def test_rmsprop_tf_matches_its_formula():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = RMSpropTF([p], lr=0.1, alpha=0.9, eps=1e-3, momentum=0.9)
    g = torch.tensor([0.5, 1.0])
    ms, buf, w = torch.ones(2), torch.zeros(2), p.detach().clone()
    for _ in range(3):
        p.grad = g.clone()
        opt.step()
        ms = 0.9 * ms + 0.1 * g * g
        buf = 0.9 * buf + 0.1 * g / torch.sqrt(ms + 1e-3)
        w = w - buf
    assert torch.allclose(p.detach(), w)


def test_schedules():
    # ResNet step: ÷10 every 30 epochs (100 steps per epoch), after a 5-epoch warm-up from 1 %
    assert lr_multiplier("step", 0, 9000, 500, 100) == pytest.approx(0.01)
    assert lr_multiplier("step", 2999, 9000, 500, 100) == 1.0
    assert lr_multiplier("step", 3000, 9000, 500, 100) == pytest.approx(0.1)
    assert lr_multiplier("step", 6100, 9000, 500, 100) == pytest.approx(0.01)
    assert lr_multiplier("cosine", 1000, 1000, 0, 10) == pytest.approx(0.0)
    assert lr_multiplier("cosine", 500, 1000, 0, 10) == pytest.approx(0.5)
    exp = lr_multiplier("exponential", 240, 1000, 0, 10, decay_rate=0.97, decay_epochs=2.4)
    assert exp == pytest.approx(0.97 ** 10)
    ups = [lr_multiplier("onecycle", s, 100, 25, 10) for s in range(100)]
    assert max(ups) == ups[25] == 1.0 and ups[0] < 0.05 and ups[-1] < 0.01
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_multiplier("zigzag", 0, 10, 0, 1)


def test_progressive_learning_grows_stage_by_stage():
    cfg = TrainConfig(epochs=8, prog_stages=4, prog_img_size_start=16, drop_rate=0.4, prog_drop_rate_start=0.1,
                      ra_m=15, prog_ra_m_start=5, mixup=0.4, prog_mixup_start=0.0)
    st = [stage_settings(cfg, e, 28) for e in range(8)]
    assert [s["stage"] for s in st] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert st[0]["img_size"] == 16 and st[-1]["img_size"] == 28
    for key in ("img_size", "drop_rate", "ra_m", "mixup"):
        vals = [s[key] for s in st]
        assert vals == sorted(vals) and vals[0] < vals[-1], key
    assert st[-1]["drop_rate"] == pytest.approx(0.4) and st[-1]["mixup"] == pytest.approx(0.4)


def test_augment_and_soft_targets():
    torch.manual_seed(0)
    x = torch.rand(16, 1, 12, 12)
    y = torch.arange(16) % 10
    for policy in ("randaugment", "autoaugment", "trivialaugment"):
        out, mix = BatchAugment(crop_padding=2, flip=True, policy=policy, erasing=0.5)(x, y)
        assert out.shape == x.shape and mix is None and out.min() >= 0 and out.max() <= 1
    out, mix = BatchAugment(mixup=0.5, cutmix=1.0)(x, y)
    t = soft_targets(y, 10, 0.1, mix)
    assert torch.allclose(t.sum(1), torch.ones(16)) and (t.max(1).values < 1).all()
    assert torch.allclose(soft_targets(y, 10, 0.0, None).argmax(1), y)


def test_tensorboard_events_roundtrip(tmp_path):
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    w = EventWriter(tmp_path)
    w.add_scalars({"loss": 0.5, "acc": 90.25}, 1)
    w.add_scalars({"loss": 0.25}, 2)
    w.close()
    assert read_events(w.path) == [(1, {"loss": 0.5, "acc": 90.25}), (2, {"loss": 0.25})]
    raw = bytearray(w.path.read_bytes())
    raw[-3] ^= 0xFF
    w.path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="CRC"):
        read_events(w.path)


def test_recipes_are_valid():
    names = list_recipes()
    assert {"fashion_cnn", "wrn_fast", "resnet8_fast", "lenet5"} <= set(names)
    import importlib
    import pkgutil

    import cnnzoo
    import cnnzoo.models
    from cnnzoo.registry import model_info

    # one recipe per ImageNet family module, named after it (issue 5); the small-image families
    # have the recipes checked above
    small_image = {"fashion_cnn", "lenet", "resnet_cifar", "wide_resnet_cifar"}
    families = {m.name for m in pkgutil.iter_modules(cnnzoo.models.__path__)
                if not m.name.startswith("_")} - small_image
    assert len(families) >= 21
    assert families <= set(names), f"families without a recipe: {sorted(families - set(names))}"

    for name in names:
        cfg = TrainConfig().update(load_recipe(name), name)
        cfg.validate()
        cnnzoo.create_model(cfg.model, **cfg.model_kwargs, device="meta")
        if name in families:  # trains a model of the family module it is named after, at a size it accepts
            assert hasattr(importlib.import_module(f"cnnzoo.models.{name}"), cfg.model), (name, cfg.model)
            assert cfg.img_size is not None and cfg.img_size >= model_info(cfg.model).min_size, name
        assert re.match(r"\d+\.\d+ % test top-1", str(cfg.notes.get("result", ""))), \
            f"recipe {name} must state the accuracy it reached"
    with pytest.raises(ValueError, match="unknown setting 'lr_max'"):
        TrainConfig().update({"lr_max": 1})


def test_train_cli_errors(tmp_path, capsys):
    assert main(["train", "--model", "resnet_nope", "--out-dir", str(tmp_path)]) == 2
    assert "Unknown model 'resnet_nope'" in capsys.readouterr().err
    assert main(["train", "--config", "no_such_recipe"]) == 2
    assert "no such config file or recipe" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "none")]) == 2
    assert "config.yaml: no such file" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "x.safetensors")]) == 2
    assert "x.safetensors: no such checkpoint" in capsys.readouterr().err


def test_auxiliary_outputs_weigh_0_3():
    torch.manual_seed(0)
    main_logits, aux1, aux2 = torch.randn(3, 4, 10).unbind(0)
    t = soft_targets(torch.tensor([1, 2, 3, 4]), 10, 0.0, None)
    logits, aux = _split_outputs((main_logits, aux1, aux2))
    ce = torch.nn.functional.cross_entropy
    y = torch.tensor([1, 2, 3, 4])
    expected = ce(main_logits, y) + 0.3 * ce(aux1, y) + 0.3 * ce(aux2, y)
    assert torch.allclose(compute_loss(logits, aux, t), expected)
    assert torch.allclose(compute_loss(*_split_outputs(main_logits), t), ce(main_logits, y))


def test_sync_bn_on_cpu_is_a_clear_error(tmp_path):
    cfg = TrainConfig(**TINY, sync_bn=True, device="cpu", epochs=1, train_subset=50, test_subset=50,
                      out_dir=str(tmp_path))
    with pytest.raises(ValueError, match="sync-bn needs CUDA"):
        train(cfg)


@needs_fmnist
def test_bf16_on_a_cpu_without_native_bf16_warns(tmp_path, monkeypatch, capsys):
    import cnnzoo.device as latency

    # LeNet-5: the warning is the engine's, whatever the model; bf16 convolutions of fashion_cnn are slow
    tiny = dict(TINY, model="lenet5", model_kwargs={}, img_size=16, epochs=1, batch_size=50, train_subset=100,
                test_subset=50, amp="bf16", out_dir=str(tmp_path))
    monkeypatch.setattr(latency, "native_bf16", lambda device="cpu": False)
    report = train(TrainConfig(**tiny, name="bf16"))
    err = capsys.readouterr().err
    assert "training in bf16: this CPU has no native bf16 arithmetic" in err and "--amp fp32" in err
    assert 0 <= report["test_top1"] <= 100  # a warning, not a refusal
    monkeypatch.setattr(latency, "native_bf16", lambda device="cpu": True)
    train(TrainConfig(**tiny, name="bf16-native"))
    assert "no native bf16" not in capsys.readouterr().err
