"""Per-model data configs: a few known values, the checkpoint-header rule, and (oracle env) every model
that torchvision or timm has against their own preprocessing."""

import json
import os
import subprocess

import pytest
import torch

import cnnzoo
from cnnzoo.data.config import DATA_CONFIGS, DataConfig, resolve_data_config
from cnnzoo.data.transforms import EvalTransform, TrainTransform, eval_resize_size, transforms_for
from tests._oracle import ORACLE, needs_oracle

#: cnnzoo name → timm's name where they differ (the timm model whose weights the layout converts)
TIMM_NAMES = {
    "mobilenet_v1": "mobilenetv1_100",
    "mnasnet_a1": "semnasnet_100",  # timm's current name of its deprecated ``mnasnet_a1``
    "efficientnet_edgetpu_s": "efficientnet_es",
    "efficientnet_edgetpu_m": "efficientnet_em",
    "efficientnet_edgetpu_l": "efficientnet_el",
    "efficientnet_b8": "tf_efficientnet_b8",
    "efficientnet_l2": "tf_efficientnet_l2",
    "efficientnet_v2_xl": "tf_efficientnetv2_xl",
}

_REFERENCE = r"""
import json, sys
import torchvision
from torchvision.models import get_model_weights, list_models
from timm.models import get_pretrained_cfg
names, aliases = json.loads(sys.argv[1]), json.loads(sys.argv[2])
tv = set(list_models(module=torchvision.models))
out = {}
for n in names:
    if n in tv:  # the weights torchvision marks DEFAULT
        t = get_model_weights(n).DEFAULT.transforms()
        out[n] = dict(source="torchvision", size=t.crop_size[0], resize=t.resize_size[0],
                      interpolation=t.interpolation.value, mean=list(t.mean), std=list(t.std))
        continue
    c = get_pretrained_cfg(aliases.get(n, n))  # timm's default pretrained tag
    if c is not None:
        out[n] = dict(source="timm", size=c.input_size[1], test_size=(c.test_input_size or c.input_size)[1],
                      crop_pct=c.crop_pct, test_crop_pct=c.test_crop_pct, interpolation=c.interpolation,
                      mean=list(c.mean), std=list(c.std))
print(json.dumps(out))
"""


@needs_oracle
def test_every_reference_model_matches_torchvision_or_timm():
    names = cnnzoo.list_models()
    proc = subprocess.run([str(ORACLE), "-c", _REFERENCE, json.dumps(names), json.dumps(TIMM_NAMES)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(ref) > 60, sorted(ref)
    # the table holds exactly the models a reference has; the others follow the registry rule
    assert sorted(set(DATA_CONFIGS) - set(ref)) == [] and sorted(set(ref) - set(DATA_CONFIGS)) == []
    wrong = {}
    for name, r in ref.items():
        cfg = resolve_data_config(name)
        got = dict(size=cfg.input_size, interpolation=cfg.interpolation, mean=list(cfg.mean), std=list(cfg.std))
        want = {k: r[k] for k in got}
        if r["source"] == "torchvision":  # Resize(resize) + CenterCrop(size)
            got.update(test=cfg.test_input_size, resize=eval_resize_size(cfg.test_input_size, cfg.eval_crop_pct))
            want.update(test=r["size"], resize=r["resize"])
        else:
            got.update(test=cfg.test_input_size, crop_pct=cfg.crop_pct, test_crop_pct=cfg.test_crop_pct)
            want.update(test=r["test_size"], crop_pct=r["crop_pct"], test_crop_pct=r["test_crop_pct"])
        if got != want:
            wrong[name] = (got, want)
    assert not wrong, "\n".join(f"{n}: got {g}, {ref[n]['source']} has {w}" for n, (g, w) in wrong.items())


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
