"""The BiFPN neck (EfficientDet) on three backbones from different families."""

import pytest
import torch

import cnnzoo
from cnnzoo.necks import BiFPN, FastNormalizedFusion


def _backbones() -> list[str]:
    """resnet18 and the smallest models of two other families with at least three stages."""
    out = ["resnet18"]
    seen = {"resnet", "lenet", "fashion_cnn"}
    for name in sorted(cnnzoo.list_models(), key=lambda n: cnnzoo.model_info(n).params):
        info = cnnzoo.model_info(name)
        if info.family in seen or info.input_size[1] < 64:
            continue
        if len(cnnzoo.create_model(name, device="meta").feature_info) >= 3:
            out.append(name)
            seen.add(info.family)
        if len(out) == 3:
            break
    if len(out) < 3:  # until other families are merged: the Fashion-MNIST CNN's three stages
        out.append("fashion_cnn")
    return out


@pytest.mark.parametrize("name", _backbones())
def test_bifpn_on_backbone(name):
    torch.manual_seed(0)
    info = cnnzoo.model_info(name)
    backbone = cnnzoo.create_model(name, features_only=True, out_indices=(-3, -2, -1)).eval()
    neck = BiFPN.from_backbone(backbone, out_channels=32, num_layers=2, extra_levels=2).eval()
    s = max(64, backbone.min_size)
    x = torch.randn(2, info.input_size[0], s, s)
    feats = backbone(x)
    outs = neck(feats)
    assert len(outs) == 5
    assert all(o.shape[:2] == (2, 32) for o in outs)
    for f, o in zip(feats, outs, strict=False):
        assert o.shape[-2:] == f.shape[-2:]
    for a, b in zip(outs[2:], outs[3:], strict=False):  # extra levels halve (rounding up)
        assert b.shape[-1] == (a.shape[-1] + 1) // 2
    # trains end to end: gradients reach the backbone and every fusion weight
    backbone.train()
    neck.train()
    sum(o.mean() for o in neck(backbone(x))).backward()
    assert all(p.grad is not None for p in neck.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone.parameters())


def test_bifpn_structure_and_any_number_of_levels():
    for levels in (2, 3, 5):
        neck = BiFPN([16 * 2**i for i in range(levels)], out_channels=16, num_layers=1)
        layer = neck.layers[0]
        assert len(layer.top_down) == levels - 1 and len(layer.bottom_up) == levels - 1
        # middle levels fuse 3 inputs (input, top-down, bottom-up), the coarsest 2
        assert [n.fuse.weight.numel() for n in layer.bottom_up] == [3] * (levels - 2) + [2]
        # equal widths need no lateral 1×1 convolution
        assert isinstance(neck.lateral[0], torch.nn.Identity)
        outs = neck([torch.randn(1, 16 * 2**i, 33 // 2**i + 1, 33 // 2**i + 1) for i in range(levels)])
        assert len(outs) == levels


def test_fast_normalized_fusion_is_a_weighted_mean_with_nonnegative_weights():
    fuse = FastNormalizedFusion(3, eps=0.0)
    with torch.no_grad():
        fuse.weight.copy_(torch.tensor([1.0, 3.0, -5.0]))
    a, b, c = torch.ones(1, 1, 2, 2), torch.full((1, 1, 2, 2), 5.0), torch.full((1, 1, 2, 2), 100.0)
    assert torch.allclose(fuse([a, b, c]), torch.full((1, 1, 2, 2), 4.0))  # (1·1 + 3·5 + 0·100) / 4


def test_bifpn_bad_inputs():
    with pytest.raises(ValueError, match="at least 2 levels"):
        BiFPN([64])
    with pytest.raises(ValueError, match="fine to coarse"):
        BiFPN([64, 128], in_reductions=[16, 8])
    neck = BiFPN([8, 16, 32], out_channels=8, num_layers=1)
    with pytest.raises(ValueError, match="3 inputs, got 2"):
        neck([torch.randn(1, 8, 8, 8), torch.randn(1, 16, 4, 4)])
    with pytest.raises(ValueError, match=r"input 1 should have shape \(N, 16, H, W\)"):
        neck([torch.randn(1, 8, 8, 8), torch.randn(1, 12, 4, 4), torch.randn(1, 32, 2, 2)])
