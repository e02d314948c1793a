"""Weights that ship inside the package: they load offline and reproduce their recorded accuracy."""

import dataclasses

import pytest
import torch

import cnnzoo
from cnnzoo.checkpoint import read_header
from cnnzoo.data import load_data
from cnnzoo.train import evaluate
from cnnzoo.weights import pretrained_path, shipped_models
from tests._util import needs_fmnist

SHIPPED = shipped_models()


def shipped_defaults(name: str) -> dict:
    return dict(dataclasses.asdict(read_header(pretrained_path(name))), format="cnnzoo.checkpoint.v1")


def test_weights_ship_for_fashion_cnn_and_others():
    assert "fashion_cnn" in SHIPPED and len(SHIPPED) >= 2
    total = sum(pretrained_path(n).stat().st_size for n in SHIPPED)
    assert total < 8_000_000, f"shipped weights take {total:,} bytes"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_header_and_registry_agree(name):
    meta = shipped_defaults(name)
    assert meta["format"] == "cnnzoo.checkpoint.v1" and meta["model"] == name and meta["dataset"] == "fashion-mnist"
    assert meta["num_classes"] == 10 and meta["in_chans"] == 1 and len(meta["classes"]) == 10
    assert cnnzoo.model_info(name).pretrained_accuracy == pytest.approx(meta["accuracy"] / 100, abs=1e-4)
    # pretrained=True builds the model the weights were trained as (10 classes, 1 channel), fp32
    model = cnnzoo.create_model(name, pretrained=True)
    assert model.num_classes == 10 and model.in_chans == 1
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert model.pretrained_cfg["accuracy"] == meta["accuracy"]
    # ... with the options it was trained with (e.g. batch_norm, stem_stride), recorded in the header
    trained_with = {k: v for k, v in (meta.get("model_kwargs") or {}).items() if k != "drop_rate"}
    same = cnnzoo.create_model(name, num_classes=10, in_chans=1, **trained_with)
    assert sorted(same.state_dict()) == sorted(model.state_dict())


@pytest.mark.slow
@needs_fmnist
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_reproduce_their_test_accuracy(name):
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    meta = shipped_defaults(name)
    model = cnnzoo.create_model(name, pretrained=True)
    data = load_data(None, "test", in_chans=1, img_size=meta["img_size"])
    data.mean, data.std = tuple(meta["mean"]), tuple(meta["std"])
    assert len(data) == 10_000
    acc = evaluate(model, data, meta["img_size"]).top1 / 100
    assert acc == pytest.approx(cnnzoo.model_info(name).pretrained_accuracy, abs=0.0015)
    assert acc > 0.5  # far above chance (10%)


@needs_fmnist
def test_predict_cli_with_a_shipped_model_name(tmp_path, capsys):
    from PIL import Image

    from cnnzoo.cli import main

    images = load_data(None, "test").images
    for i in range(2):
        Image.fromarray(images[i, 0].numpy()).save(tmp_path / f"{i}.png")
    assert main(["predict", "lenet5", str(tmp_path / "0.png"), str(tmp_path / "1.png"), "-k", "2"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    classes = shipped_defaults("lenet5")["classes"]
    assert len(out) == 2 and all(any(c in line for c in classes) for line in out)
