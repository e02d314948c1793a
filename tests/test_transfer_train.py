"""The trainer's fine-tuning settings: --freeze, --freeze-bn, --layer-decay, --head-lr-mult."""

from __future__ import annotations

import pytest
import torch
import yaml
from safetensors.torch import load_file

import cnnzoo
from cnnzoo.cli import main
from cnnzoo.train import TrainConfig
from tests._util import needs_fmnist


@needs_fmnist
def test_train_linear_probe_changes_only_the_head(tmp_path, capsys):
    args = ["train", "--model", "fashion_cnn", "--set", "model_kwargs={batch_norm: true}", "--img-size", "12",
            "--epochs", "1", "--batch-size", "50", "--train-subset", "200", "--test-subset", "100",
            "--num-threads", "1", "--freeze", "backbone", "--freeze-bn", "true", "--layer-decay", "0.5",
            "--head-lr-mult", "2", "--out-dir", str(tmp_path), "--name", "probe"]
    assert main(args) == 0, capsys.readouterr().err
    trained = load_file(tmp_path / "probe" / "last.safetensors")
    torch.manual_seed(0)  # the run's seed: the same initial weights
    start = cnnzoo.create_model("fashion_cnn", num_classes=10, in_chans=1, drop_path_rate=0.0,
                                batch_norm=True).state_dict()
    assert set(trained) == set(start)
    changed = {k for k in start if not torch.equal(trained[k].float(), start[k].float())}
    assert changed and all(k.startswith("head.") for k in changed), changed  # BN statistics included
    cfg = yaml.safe_load((tmp_path / "probe" / "config.yaml").read_text())
    assert (cfg["freeze"], cfg["freeze_bn"], cfg["layer_decay"], cfg["head_lr_mult"]) == ("backbone", True, 0.5, 2.0)


def test_train_freeze_beyond_the_stages_fails_before_the_data_and_the_run_directory(tmp_path, capsys):
    # checked first: the data directory does not even exist
    args = ["train", "--model", "fashion_cnn", "--data", str(tmp_path / "nowhere"), "--img-size", "12",
            "--epochs", "1", "--freeze", "7", "--out-dir", str(tmp_path), "--name", "bad"]
    assert main(args) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("cnnzoo train: error: cannot freeze 7 stages of FashionCNN: it has a stem and 2 stages; "
                       "expected 0 (the stem only) … 2, or 'backbone'"), err
    assert not (tmp_path / "bad").exists()


def test_freeze_and_layer_decay_settings_are_checked():
    for bad in ("all", "-1", "1.5", True):
        with pytest.raises(ValueError, match=r"freeze: expected a number of stages >= 0, backbone or none, got"):
            TrainConfig(freeze=bad)
    assert TrainConfig(freeze=2).freeze == "2" and TrainConfig(freeze="Backbone").freeze == "backbone"
    with pytest.raises(ValueError, match="layer_decay"):
        TrainConfig(layer_decay=1.5)
    with pytest.raises(ValueError, match="head_lr_mult"):
        TrainConfig(head_lr_mult=0)
