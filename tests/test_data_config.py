"""Per-model data configs: a few known values, the registry rule, overrides and the checkpoint-header
rule (every model against torchvision and timm themselves: tests/test_data_reference.py)."""

import pytest
import torch

import cnnzoo
from cnnzoo.data.config import DataConfig, resolve_data_config
from cnnzoo.data.transforms import EvalTransform, TrainTransform, transforms_for


@pytest.mark.parametrize("name, size, resize, interpolation, mean", [
    ("efficientnet_b3", 300, 320, "bicubic", (0.485, 0.456, 0.406)),  # torchvision IMAGENET1K_V1
    ("resnet50", 224, 232, "bilinear", (0.485, 0.456, 0.406)),  # torchvision IMAGENET1K_V2
    ("resnet18", 224, 256, "bilinear", (0.485, 0.456, 0.406)),
    ("inception_v3", 299, 342, "bilinear", (0.485, 0.456, 0.406)),
    ("inception_v4", 299, 341, "bicubic", (0.5, 0.5, 0.5)),  # timm tf_in1k: crop_pct 0.875
])
def test_known_configs(name, size, resize, interpolation, mean):
    cfg = cnnzoo.resolve_data_config(name)
    assert (cfg.test_input_size, cfg.interpolation, cfg.mean) == (size, interpolation, mean)
    t = transforms_for(cfg, train=False)
    assert isinstance(t, EvalTransform) and (t.size, t.resize_size, t.interpolation) == (size, resize, interpolation)


def test_timm_test_size_uses_its_crop_pct():
    cfg = resolve_data_config("mobilenet_v1")  # timm: 224 train (crop 0.875), 256 test (crop 0.95)
    assert (cfg.input_size, cfg.test_input_size, cfg.crop_pct, cfg.eval_crop_pct) == (224, 256, 0.875, 0.95)
    assert transforms_for(cfg, train=False).resize_size == 269  # floor(256 / 0.95)
    assert transforms_for(cfg, train=False, size=224).resize_size == 256
    train = transforms_for(cfg, train=True, scale=(0.25, 1.0))
    assert isinstance(train, TrainTransform) and (train.size, train.scale) == (224, (0.25, 1.0))


def test_small_and_unreferenced_models_follow_the_registry():
    lenet, r8, sq = resolve_data_config("lenet5"), resolve_data_config("resnet8"), resolve_data_config("sqnxt23_1x")
    assert (lenet.input_size, lenet.crop_pct, lenet.mean) == (32, 1.0, cnnzoo.data.FASHION_MNIST_MEAN)
    assert (r8.input_size, len(r8.mean), r8.crop_pct) == (32, 3, 1.0) and r8.mean != lenet.mean
    assert (sq.input_size, sq.crop_pct, sq.interpolation, len(sq.mean)) == (224, 0.875, "bilinear", 3)
    for name in cnnzoo.list_models():  # every registered model has a valid config
        cfg = resolve_data_config(name)
        assert isinstance(cfg, DataConfig) and len(cfg.mean) == cnnzoo.model_info(name).input_size[0], name


def test_a_module_its_channels_and_overrides():
    model = cnnzoo.create_model("resnet18", in_chans=1, device="meta")
    cfg = resolve_data_config(model)
    assert cfg.input_size == 224 and len(cfg.mean) == len(cfg.std) == 1
    assert resolve_data_config("resnet50", input_size=176).input_size == 176
    with pytest.raises(TypeError, match="unknown override"):
        resolve_data_config("resnet50", img_size=176)
    with pytest.raises(ValueError, match="Unknown model"):
        resolve_data_config("resnet_50")
    with pytest.raises(ValueError, match="not a cnnzoo model"):
        resolve_data_config(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="crop_pct"):
        DataConfig(224, 224, 1.5, "bilinear", (0.5,), (0.5,))


def test_checkpoint_header_wins(tmp_path):
    model = cnnzoo.create_model("lenet5")
    path = cnnzoo.save_checkpoint(model, tmp_path / "l.safetensors", img_size=40, mean=(0.1,), std=(0.2,))
    cfg = cnnzoo.resolve_data_config(cnnzoo.load_checkpoint(path))
    assert (cfg.input_size, cfg.test_input_size, cfg.mean, cfg.std) == (40, 40, (0.1,), (0.2,))
    # a torchvision-layout file (no header): the header load_checkpoint makes records the reference config
    big = cnnzoo.create_model("efficientnet_b2", num_classes=10)
    torch.save(big.state_dict(), tmp_path / "b2.pth")
    loaded = cnnzoo.load_checkpoint(tmp_path / "b2.pth", "efficientnet_b2")
    assert loaded.checkpoint_header.img_size == 288  # torchvision's crop, not the registry's 260
    assert cnnzoo.resolve_data_config(loaded) == resolve_data_config("efficientnet_b2")


def test_cli_info_shows_the_data_config(capsys):
    from cnnzoo.cli import main

    assert main(["info", "efficientnet_b3"]) == 0
    assert "eval 300 px crop of a 320 px bicubic resize" in capsys.readouterr().out


def test_a_scaled_model_uses_its_own_resolution():
    model = cnnzoo.scale_model("efficientnet_b0", phi=1)
    cfg = resolve_data_config(model)
    assert cfg.input_size == cfg.test_input_size == model.model_info.input_size[1] != 224
    assert cfg.interpolation == "bicubic"  # the rest from efficientnet_b0's config


def test_small_models_built_for_one_channel_use_fashion_mnist_statistics():
    cfg = resolve_data_config(cnnzoo.create_model("resnet8", in_chans=1, device="meta"))
    assert (cfg.mean, cfg.std) == (cnnzoo.data.FASHION_MNIST_MEAN, cnnzoo.data.FASHION_MNIST_STD)
    feats = cnnzoo.create_model("resnet18", in_chans=1, features_only=True, device="meta")
    assert len(resolve_data_config(feats).mean) == 1
