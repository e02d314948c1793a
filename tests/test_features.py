"""``features_only=True`` for every family (its smallest model, so families added later are covered)."""

import math

import pytest
import torch

import cnnzoo

# The issue leaves these out (their papers have no multi-scale use); checked if they have stages anyway.
OPTIONAL = {"lenet", "fashion_cnn"}
# Stems of unpadded ("valid", the papers' "V") convolutions and pools lose a few pixels per stage:
# Inception v3 / v4 / Inception-ResNet-v2 give 147, 71, 35, 17, 8 px from 299 (as timm and torchvision).
VALID_PADDING_SLACK = {"inception_v3": 3, "inception_v4": 3}


def _smallest_per_family() -> list[str]:
    best: dict[str, tuple[int, str]] = {}
    for name in cnnzoo.list_models():
        info = cnnzoo.model_info(name)
        p = info.params
        if info.family not in best or p < best[info.family][0]:
            best[info.family] = (p, name)
    return [name for _, name in sorted(best.values(), key=lambda t: t[1])]


SMALLEST = _smallest_per_family()


def _has_stages(name: str) -> bool:
    return bool(cnnzoo.create_model(name, device="meta").feature_info)


@pytest.mark.parametrize("name", SMALLEST)
def test_features_only_shapes_and_feature_info(name):
    info = cnnzoo.model_info(name)
    if info.family in OPTIONAL and not _has_stages(name):
        pytest.skip(f"{info.family} has no feature stages (left out by the issue)")
    model = cnnzoo.create_model(name, features_only=True, device="meta").eval()
    c, h, w = info.input_size
    feats = model(torch.empty(2, c, h, w, device="meta"))
    fi = model.feature_info
    assert isinstance(feats, list) and len(feats) == len(fi) >= 2
    reductions = [e["reduction"] for e in fi]
    assert reductions == sorted(set(reductions)), f"strides must increase: {reductions}"
    for f, e in zip(feats, fi, strict=True):
        assert f.ndim == 4 and f.shape[0] == 2
        assert f.shape[1] == e["num_chs"], f"{e['module']}: {f.shape[1]} channels, feature_info says {e['num_chs']}"
        # reduction = input side / output side (up to the rounding of padded strided convolutions)
        slack = 1 + VALID_PADDING_SLACK.get(info.family, 0)
        for size, out in ((h, f.shape[2]), (w, f.shape[3])):
            assert math.floor(size / e["reduction"]) - slack <= out <= math.ceil(size / e["reduction"]), (
                f"{e['module']}: {out} px from {size} px is not reduction {e['reduction']}")
        assert e["reduction"] & (e["reduction"] - 1) == 0, "reductions are powers of two"
    if info.family not in OPTIONAL and h >= 200:  # ImageNet backbones end at stride 32
        assert reductions[-1] == 32, reductions


@pytest.mark.parametrize("name", SMALLEST)
def test_out_indices_select_stages(name):
    full = cnnzoo.create_model(name, device="meta").feature_info
    if len(full) < 2:
        pytest.skip("no stages")
    model = cnnzoo.create_model(name, features_only=True, out_indices=(-1, 0), device="meta")
    assert [e["reduction"] for e in model.feature_info] == [full[0]["reduction"], full[-1]["reduction"]]
    info = cnnzoo.model_info(name)
    s = max(model.min_size, info.input_size[1] // 2)
    out = model(torch.empty(1, info.input_size[0], s, s, device="meta"))
    assert [o.shape[1] for o in out] == [full[0]["num_chs"], full[-1]["num_chs"]]
    with pytest.raises(ValueError, match="out of range"):
        cnnzoo.create_model(name, features_only=True, out_indices=(len(full),), device="meta")


def test_features_real_forward_resnet18_and_weights_load(tmp_path):
    """A real (CPU) forward, and weights of the classifier loaded into the feature extractor."""
    clf = cnnzoo.create_model("resnet18")
    torch.save(clf.state_dict(), tmp_path / "r18.pth")
    feat = cnnzoo.create_model("resnet18", features_only=True, pretrained=str(tmp_path / "r18.pth")).eval()
    assert torch.equal(feat.model.layer4[1].conv2.weight, clf.layer4[1].conv2.weight)
    out = feat(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape[1:]) for o in out] == [(64, 32, 32), (64, 16, 16), (128, 8, 8), (256, 4, 4), (512, 2, 2)]
    assert [e["reduction"] for e in feat.feature_info] == [2, 4, 8, 16, 32]
