import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.layers import (
    ClassifierHead,
    Conv2dSame,
    ConvNormAct,
    DropPath,
    SqueezeExcite,
    create_act,
    create_conv2d,
    drop_path_rates,
    make_divisible,
)


def test_make_divisible():
    assert make_divisible(32 * 0.75) == 24
    assert make_divisible(10) == 16  # never below the divisor... and within 10 %
    assert make_divisible(91, 8) == 88
    assert make_divisible(83, 8) == 80
    assert make_divisible(11, 8) == 16  # rounding down to 8 would lose more than 10 %
    assert make_divisible(3, 8, min_value=4) == 4


def test_conv_norm_act_layout_and_linear_bottleneck():
    block = ConvNormAct(8, 16, 3, stride=2)
    assert [type(m) for m in block] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert block[0].bias is None and block[0].padding == (1, 1)
    linear = ConvNormAct(8, 16, 1, act_layer=None)
    assert len(linear) == 2
    plain = ConvNormAct(8, 16, 3, norm_layer=None)
    assert plain[0].bias is not None
    assert block(torch.randn(1, 8, 9, 9)).shape == (1, 16, 5, 5)


def test_tf_same_padding_matches_tensorflow_output_size():
    conv = create_conv2d(3, 4, 3, stride=2, padding="same")
    assert isinstance(conv, Conv2dSame)
    for size in (224, 225, 7):
        assert conv(torch.randn(1, 3, size, size)).shape[-1] == -(-size // 2)
    # stride 1, odd kernel: static symmetric padding
    assert not isinstance(create_conv2d(3, 4, 3, padding="same"), Conv2dSame)
    with pytest.raises(ValueError, match="padding"):
        create_conv2d(3, 4, 3, padding="valid-ish")


def test_tf_same_pads_bottom_right():
    conv = create_conv2d(1, 1, 3, stride=2, padding="same", bias=False)
    nn.init.ones_(conv.weight)
    x = torch.ones(1, 1, 4, 4)
    # TF pads 0 on top/left and 1 on bottom/right for a 4-pixel input, 3×3 kernel, stride 2.
    assert conv(x)[0, 0].tolist() == [[9.0, 6.0], [6.0, 4.0]]


def test_squeeze_excite_gates_channels():
    se = SqueezeExcite(32, rd_ratio=0.25)
    assert se.fc1.out_channels == 8
    x = torch.randn(2, 32, 5, 5)
    y = se(x)
    assert y.shape == x.shape
    ratio = y / x
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), atol=1e-5)
    assert ((ratio > 0) & (ratio < 1)).all()


def test_drop_path_train_and_eval():
    dp = DropPath(0.5)
    x = torch.ones(1000, 3)
    dp.train()
    y = dp(x)
    kept = (y[:, 0] != 0).float().mean().item()
    assert 0.4 < kept < 0.6
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 2.0))
    dp.eval()
    assert torch.equal(dp(x), x)
    assert drop_path_rates(5, 0.2) == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2])


def test_activations_by_name():
    assert isinstance(create_act("hard_swish"), nn.Hardswish)
    assert isinstance(create_act("relu6"), nn.ReLU6)
    assert isinstance(create_act(None), nn.Identity)
    x = torch.linspace(-5, 5, 11)
    assert torch.allclose(create_act("hswish")(x.clone()), x * torch.clamp(x + 3, 0, 6) / 6)
    with pytest.raises(ValueError, match="unknown activation"):
        create_act("relu7")


def test_classifier_head_reset_and_pre_logits():
    head = ClassifierHead(64, 10, pool_size=2, hidden=(32,), hidden_drop=0.5)
    x = torch.randn(3, 64, 5, 5)
    assert head(x).shape == (3, 10)
    assert head(x, pre_logits=True).shape == (3, 32)
    head.reset(4)
    assert head(x).shape == (3, 4)
    head.reset(0)
    assert head(x).shape == (3, 32)


def test_patch_whitening_decorrelates_patches():
    from cnnzoo.train.whitening import first_conv, patch_whitening_

    torch.manual_seed(0)
    # Images whose 2×2 patches are strongly correlated: a smooth field plus a little noise.
    base = torch.randn(64, 1, 8, 8)
    x = F.interpolate(base, size=32, mode="bilinear", align_corners=False) + 0.05 * torch.randn(64, 1, 32, 32)
    conv = nn.Conv2d(1, 10, 2, 2, bias=True)
    patch_whitening_(conv, x, eps=1e-6)
    assert not conv.weight.requires_grad and conv.bias.requires_grad and conv.bias.abs().sum() == 0
    w = conv.weight.reshape(10, 4)
    assert torch.allclose(w[1::2], -w[0::2])  # +v, -v pairs
    assert torch.allclose(w[8:], w[:2])  # 10 channels > 2·4 directions: repeated
    y = F.conv2d(x, conv.weight, stride=2).permute(0, 2, 3, 1).reshape(-1, 10)[:, 0:8:2]
    y = y - y.mean(0)
    cov = y.T @ y / len(y)
    assert torch.allclose(cov, torch.eye(4), atol=1e-3)  # whitened: identity covariance
    raw = F.unfold(x, 2, stride=2).transpose(1, 2).reshape(-1, 4)
    assert torch.corrcoef(raw.T)[0, 1] > 0.9  # ... where the input patches were highly correlated

    # max_patches bounds the images used: 16×16 patches per image, 600 patches → the first 3 images
    few = patch_whitening_(nn.Conv2d(1, 8, 2, 2), x, max_patches=600).weight
    assert torch.equal(few, patch_whitening_(nn.Conv2d(1, 8, 2, 2), x[:3]).weight)
    assert not torch.allclose(few, patch_whitening_(nn.Conv2d(1, 8, 2, 2), x).weight, atol=1e-3)

    net = nn.Sequential(nn.Identity(), nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3)))
    assert first_conv(net) is net[1][0]
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        first_conv(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="ungrouped"):
        patch_whitening_(nn.Conv2d(4, 4, 3, groups=2), torch.randn(2, 4, 8, 8))
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 3, H, W\)"):
        patch_whitening_(nn.Conv2d(3, 4, 3), torch.randn(2, 1, 8, 8))


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=3, stride=2,
                                    ceil_mode=True), dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1,
                                    ceil_mode=True)])
def test_maxpool_equals_torch_in_both_layouts(kwargs):
    from cnnzoo.layers import MaxPool2d

    fast, plain = MaxPool2d(**kwargs), nn.MaxPool2d(**kwargs)
    x = torch.randn(2, 5, 17, 13)
    x[0, :, :3, :3] = 1.0  # ties inside a window: the same element must win
    for inp in (x, x.contiguous(memory_format=torch.channels_last)):
        a = inp.clone().requires_grad_()
        b = inp.clone().requires_grad_()
        out = fast(a)
        ref = plain(b)
        assert torch.equal(out, ref)
        assert out.is_contiguous() == ref.is_contiguous()  # the input's layout is kept
        assert out.is_contiguous(memory_format=torch.channels_last) == ref.is_contiguous(
            memory_format=torch.channels_last)
        g = torch.randn_like(ref)
        out.backward(g)
        ref.backward(g)
        assert torch.equal(a.grad, b.grad)
    assert repr(fast) == repr(plain)


def test_maxpool_traces_as_plain_torch():
    from cnnzoo.layers import MaxPool2d

    traced = torch.jit.trace(MaxPool2d(3, 2, 1), torch.randn(1, 4, 8, 8))
    assert "contiguous" not in str(traced.graph)  # no layout round trip in exported graphs
    x = torch.randn(1, 4, 8, 8)
    assert torch.equal(traced(x), nn.MaxPool2d(3, 2, 1)(x))


def test_add_residual_in_place_only_where_safe():
    from cnnzoo.layers import add_residual

    a, b = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    expected = a + b
    with torch.no_grad():
        out = add_residual(a, b)
    assert out is a and torch.equal(out, expected)  # inference: written into the branch
    a = torch.randn(2, 3, 4, 4, requires_grad=True)
    out = add_residual(a * 1.0, b)
    assert out.grad_fn is not None and out.data_ptr() != a.data_ptr()
    out.sum().backward()
    assert torch.equal(a.grad, torch.ones_like(a))
    low = torch.randn(2, 3, 4, 4, dtype=torch.bfloat16)
    with torch.no_grad():
        mixed = add_residual(low, b)  # the sum is float32: never squeezed into the bf16 branch
        assert mixed.dtype == torch.float32 and mixed is not low
        broadcast = add_residual(torch.randn(2, 3, 1, 1), b)
        assert broadcast.shape == (2, 3, 4, 4)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "shufflenet_v1_g3", "wrn10_2"])
def test_in_place_residuals_keep_outputs(name):
    import cnnzoo

    model = cnnzoo.create_model(name).eval()
    size = cnnzoo.model_info(name).min_size if name != "wrn10_2" else 32
    x = torch.randn(2, model.in_chans, max(size, 32), max(size, 32))
    with_grad = model(x)
    with torch.no_grad():
        assert torch.equal(model(x), with_grad.detach())


def test_add_residual_keeps_one_compiled_graph():
    import torch._dynamo as dynamo

    from cnnzoo.layers import add_residual

    def block(x):
        return torch.relu(add_residual(x * 2.0, x))

    with torch.no_grad():
        explained = dynamo.explain(block)(torch.randn(1, 2, 4, 4))
    assert explained.graph_break_count == 0 and explained.graph_count == 1
