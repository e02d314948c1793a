"""``features_only=True`` for every family (its smallest model, so families added later are covered)."""

import math

import pytest
import torch

import cnnzoo

# The issue leaves these out (their papers have no multi-scale use); checked if they have stages anyway.
OPTIONAL = {"lenet", "fashion_cnn"}


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
    # reduction = how much the input must grow for the map to grow by one pixel: exact for padded and
    # unpadded (Inception) convolutions alike, when the input grows by a multiple of every stride
    bigger = model(torch.empty(2, c, h + 64, w + 32, device="meta"))
    for f, g, e in zip(feats, bigger, fi, strict=True):
        assert f.ndim == 4 and f.shape[0] == 2
        assert f.shape[1] == e["num_chs"], f"{e['module']}: {f.shape[1]} channels, feature_info says {e['num_chs']}"
        r = e["reduction"]
        if info.family in OPTIONAL:  # LeNet pools adaptively to its 5×5 C5 input: sizes do not follow
            continue
        assert (g.shape[2] - f.shape[2], g.shape[3] - f.shape[3]) == (64 // r, 32 // r), (
            f"{e['module']}: the map grows by {g.shape[2] - f.shape[2]}x{g.shape[3] - f.shape[3]} for 64x32 "
            f"more input, not by reduction {r}")
        assert f.shape[2] <= math.ceil(h / r) and f.shape[3] <= math.ceil(w / r)
        assert r & (r - 1) == 0, "reductions are powers of two"
    if info.family not in OPTIONAL:  # the stages cover the whole backbone: the last is its output stride
        clf = cnnzoo.create_model(name, device="meta").eval()
        a = clf.forward_features(torch.empty(2, c, h, w, device="meta"))
        b = clf.forward_features(torch.empty(2, c, h + 64, w, device="meta"))
        assert 64 // (b.shape[2] - a.shape[2]) == reductions[-1]


@pytest.mark.parametrize("name", SMALLEST)
def test_out_indices_select_stages(name):
    full = cnnzoo.create_model(name, device="meta").feature_info
    if len(full) < 2:
        pytest.skip("no stages")
    model = cnnzoo.create_model(name, features_only=True, out_indices=(-1, 0), device="meta").eval()
    assert [e["reduction"] for e in model.feature_info] == [full[0]["reduction"], full[-1]["reduction"]]
    info = cnnzoo.model_info(name)
    s = max(model.min_size, info.input_size[1] // 2)
    out = model(torch.empty(2, info.input_size[0], s, s, device="meta"))
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
