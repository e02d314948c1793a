"""The inverted-residual lineage: MobileNetV2/V3, MnasNet, EfficientNet (B0–B8, L2, EdgeTPU), EfficientNetV2,
and compound scaling (``cnnzoo.scale_model``). The generic rules (shapes at the default and 32×32 sizes,
forward + backward, in_chans, min size) are checked for these models by test_models_common.py."""

import math

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.analysis.flops import count_macs
from cnnzoo.layers import Conv2dSame, DropPath, FusedMBConv, MBConv, SqueezeExcite
from cnnzoo.layers.inverted_residual import Stage, build_stages
from tests._oracle import check_layout_fixture

# Exact parameter counts at 1000 classes, 3 channels: torchvision's for its models, timm's for the rest.
PARAMS = {
    "mobilenet_v2": 3_504_872,
    "mobilenet_v3_large": 5_483_032,
    "mobilenet_v3_small": 2_542_856,
    "mnasnet0_5": 2_218_512,
    "mnasnet0_75": 3_170_208,
    "mnasnet1_0": 4_383_312,
    "mnasnet1_3": 6_282_256,
    "mnasnet_a1": 3_887_038,
    "efficientnet_b0": 5_288_548,
    "efficientnet_b1": 7_794_184,
    "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232,
    "efficientnet_b4": 19_341_616,
    "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704,
    "efficientnet_b7": 66_347_960,
    "efficientnet_b8": 87_413_142,
    "efficientnet_l2": 480_309_308,
    "efficientnet_edgetpu_s": 5_438_392,
    "efficientnet_edgetpu_m": 6_899_496,
    "efficientnet_edgetpu_l": 10_589_712,
    "efficientnet_v2_s": 21_458_488,
    "efficientnet_v2_m": 54_139_356,
    "efficientnet_v2_l": 118_515_272,
    "efficientnet_v2_xl": 208_119_808,
}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_exact_parameter_count(name):
    model = cnnzoo.create_model(name, device="meta")
    assert cnnzoo.count_params(model) == PARAMS[name]
    assert cnnzoo.model_info(name).min_size == 32


@pytest.mark.parametrize("name, width, params", [
    ("mobilenet_v2", 0.5, 1_968_680), ("mobilenet_v2", 0.75, 2_636_424), ("mobilenet_v2", 1.4, 6_108_776),
    ("mobilenet_v3_large", 0.75, 3_377_576), ("mobilenet_v3_small", 0.75, 1_653_920),
])
def test_width_multiplier_counts(name, width, params):  # torchvision's counts at these widths
    assert cnnzoo.count_params(cnnzoo.create_model(name, width_mult=width, device="meta")) == params


def _blocks(model):
    return [m for m in model.modules() if isinstance(m, (MBConv, FusedMBConv))]


def test_mobilenet_v3_large_se_and_hswish_placement():
    model = cnnzoo.create_model("mobilenet_v3_large", device="meta")
    blocks = _blocks(model)
    assert len(blocks) == 15
    # Table 1: SE in the 5×5 blocks of the 40-wide stage and from the 112-wide stage on
    assert [i for i, b in enumerate(blocks) if isinstance(b.se, SqueezeExcite)] == [3, 4, 5, 10, 11, 12, 13, 14]
    # h-swish in the later half only (from the first 80-wide block)
    hs = [i for i, b in enumerate(blocks) if isinstance(b.conv_dw[2], nn.Hardswish)]
    assert hs == list(range(6, 15))
    assert all(isinstance(b.conv_dw[2], nn.ReLU) for b in blocks[:6])
    # SE: ReLU inside, hard-sigmoid gate, bottleneck 1/4 of the expanded width rounded to 8
    se = blocks[3].se
    assert isinstance(se.gate, nn.Hardsigmoid) and isinstance(se.act, nn.ReLU)
    assert (se.fc1.in_channels, se.fc1.out_channels) == (72, 24)
    # redesigned last stage: stem and head conv in h-swish, a 1280 hidden layer without BN
    assert isinstance(model.features[0][2], nn.Hardswish)
    assert model.features[-1][0].out_channels == 960 and isinstance(model.features[-1][2], nn.Hardswish)
    assert model.head.hidden[0].out_features == 1280 and isinstance(model.head.hidden[1], nn.Hardswish)
    assert blocks[0].conv_pw.__class__ is nn.Identity  # exp size 16 = input: no expansion conv


def test_mobilenet_v3_small_table():
    blocks = _blocks(cnnzoo.create_model("mobilenet_v3_small", device="meta"))
    assert [b.out_chs for b in blocks] == [16, 24, 24, 40, 40, 40, 48, 48, 96, 96, 96]
    assert [b.mid_chs for b in blocks] == [16, 72, 88, 96, 240, 240, 120, 144, 288, 576, 576]
    assert [i for i, b in enumerate(blocks) if isinstance(b.se, SqueezeExcite)] == [0, 3, 4, 5, 6, 7, 8, 9, 10]


def test_mobilenet_v2_linear_bottleneck_and_relu6():
    blocks = _blocks(cnnzoo.create_model("mobilenet_v2", device="meta"))
    assert len(blocks) == 17
    for b in blocks:
        assert len(b.conv_pwl) == 2  # conv + BN, no activation (linear bottleneck, §3.2)
        assert isinstance(b.conv_dw[2], nn.ReLU6)
    assert [b.mid_chs // b.in_chs for b in blocks[1:]] == [6] * 16  # t = 6
    assert sum(b.has_skip for b in blocks) == 10


def test_efficientnet_b0_table_and_se():
    model = cnnzoo.create_model("efficientnet_b0", device="meta")
    stages = model.features[1:8]
    assert [len(s) for s in stages] == [1, 2, 2, 3, 3, 4, 1]
    assert [s[0].out_chs for s in stages] == [16, 24, 40, 80, 112, 192, 320]
    assert [s[0].conv_dw[0].kernel_size[0] for s in stages] == [3, 3, 5, 3, 5, 5, 3]
    for b in _blocks(model):  # SE bottleneck = 1/4 of the block input, SiLU inside, sigmoid gate
        assert b.se.fc1.out_channels == max(1, b.in_chs // 4)
        assert isinstance(b.se.act, nn.SiLU) and isinstance(b.se.gate, nn.Sigmoid)
    assert model.features[-1][0].out_channels == 1280


@pytest.mark.parametrize("name", [f"efficientnet_b{i}" for i in range(9)] + ["efficientnet_l2"])
def test_efficientnet_variants_follow_their_coefficients(name):
    info = cnnzoo.model_info(name)
    w, d, r = info.scaling["width_mult"], info.scaling["depth_mult"], info.scaling["resolution"]
    assert info.input_size == (3, r, r)
    model = cnnzoo.create_model(name, device="meta")
    base = [1, 2, 2, 3, 3, 4, 1]
    assert [len(s) for s in model.features[1:8]] == [math.ceil(n * d) for n in base]  # reference: round up
    assert model.features[0][0].out_channels == cnnzoo.layers.make_divisible(32 * w)


def test_edgetpu_has_no_se_relu_and_fused_early_stages():
    model = cnnzoo.create_model("efficientnet_edgetpu_s", device="meta")
    assert not any(isinstance(m, SqueezeExcite) for m in model.modules())
    assert not any(isinstance(m, (nn.SiLU, nn.Hardswish)) for m in model.modules())
    kinds = [type(s[0]) for s in model.features[1:7]]
    assert kinds == [FusedMBConv] * 3 + [MBConv] * 3
    assert model.features[1][0].mid_chs == 96  # 4 × the 24 output channels


def test_efficientnet_v2_s_table():
    model = cnnzoo.create_model("efficientnet_v2_s", device="meta")
    stages = model.features[1:7]
    assert [len(s) for s in stages] == [2, 4, 4, 6, 9, 15]
    assert [type(s[0]) for s in stages] == [FusedMBConv] * 3 + [MBConv] * 3
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)]
    assert {m.kernel_size for m in convs} == {(3, 3)}  # only 3×3 kernels
    first = stages[0][0]
    assert isinstance(first.conv_pwl, nn.Identity) and first.has_skip  # expansion 1: one 3×3 conv + shortcut
    assert not any(isinstance(m, SqueezeExcite) for s in stages[:3] for m in s.modules())  # no SE in fused
    info = cnnzoo.model_info("efficientnet_v2_m")
    assert info.scaling["max_size"] == 480 and info.input_size == (3, 480, 480)


# --- stochastic depth ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_small", "mnasnet_a1", "efficientnet_b0",
                                  "efficientnet_edgetpu_s", "efficientnet_v2_s"])
def test_drop_path_in_every_residual_block(name):
    model = cnnzoo.create_model(name, drop_path_rate=0.2, device="meta")
    blocks = _blocks(model)
    residual = [b for b in blocks if b.has_skip]
    assert residual
    assert all(isinstance(b.drop_path, DropPath) for b in residual)
    assert not any(isinstance(b.drop_path, DropPath) for b in blocks if not b.has_skip)
    # linear in depth over all blocks: 0 only for the very first block, 0.2 at the last
    rates = [b.drop_path.drop_prob for b in residual]
    assert rates == sorted(rates) and max(rates) <= 0.2
    assert all(r > 0 for b, r in zip(residual, rates, strict=True) if b is not blocks[0])
    plain = cnnzoo.create_model(name, device="meta")
    assert all(m.drop_prob == 0 for m in plain.modules() if isinstance(m, DropPath))


def test_drop_path_is_active_in_training():
    model = cnnzoo.create_model("mobilenet_v3_small", drop_path_rate=0.5, num_classes=3).train()
    x = torch.randn(4, 3, 32, 32)
    torch.manual_seed(1)
    a = model(x)
    torch.manual_seed(2)
    b = model(x)
    assert not torch.allclose(a, b)


# --- padding -------------------------------------------------------------------------------------------

def test_tf_same_padding_option():
    sym = cnnzoo.create_model("efficientnet_b0", num_classes=10).eval()
    tf = cnnzoo.create_model("efficientnet_b0", num_classes=10, tf_mode=True).eval()
    strided = [m for m in tf.modules() if isinstance(m, Conv2dSame)]
    assert strided and all(m.stride == (2, 2) for m in strided)  # stride-1 convs stay static
    assert not any(isinstance(m, Conv2dSame) for m in sym.modules())
    assert all(m.eps == 1e-3 for m in tf.modules() if isinstance(m, nn.BatchNorm2d))
    assert all(m.eps == 1e-5 for m in sym.modules() if isinstance(m, nn.BatchNorm2d))
    same = cnnzoo.create_model("efficientnet_b0", num_classes=10, padding="same").eval()
    same.load_state_dict(sym.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        # TF "SAME" pads (0, 1) where PyTorch pads (1, 1) at even sizes: the same weights give other maps
        a, b = sym.features[0][0](x), same.features[0][0](x)
        assert a.shape == b.shape and (a - b).abs().max() > 1e-2
    # output sizes are TensorFlow's ceil(size / stride) at every stage, for odd and even inputs
    for size in (64, 97):
        feats = cnnzoo.create_model("efficientnet_b0", features_only=True, tf_mode=True)(torch.randn(1, 3, size, size))
        expect = [math.ceil(size / r) for r in (2, 4, 8, 16, 32)]
        assert [f.shape[-1] for f in feats] == expect


def test_feature_info_reductions():
    for name in ("mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "efficientnet_v2_s"):
        model = cnnzoo.create_model(name, device="meta")
        assert [f["reduction"] for f in model.feature_info] == [2, 4, 8, 16, 32]
        feats = cnnzoo.create_model(name, features_only=True, device="meta")(torch.empty(1, 3, 64, 64, device="meta"))
        assert [f.shape[1] for f in feats] == [f["num_chs"] for f in model.feature_info]
        assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2]


# --- the shared builder ------------------------------------------------------------------------------

def test_build_stages_rounding():
    table = [Stage("mbconv", 1, 16, 3, 1, 1), Stage("mbconv", 3, 40, 5, 2, 6, 0.25)]
    stages, out = build_stages(table, 32, width_mult=1.1, depth_mult=1.2)
    assert [len(s) for s in stages] == [2, 4]  # ceil(1.2), ceil(3.6)
    assert out == 48  # 40 × 1.1 = 44 → 48 (multiples of 8, never 10 % down)
    stages, _ = build_stages(table, 32, width_mult=1.1, depth_mult=1.2, depth_rounding="round")
    assert [len(s) for s in stages] == [1, 4]
    with pytest.raises(ValueError, match="unknown block type"):
        build_stages([Stage("conv", 1, 8, 3, 1)], 8)
    with pytest.raises(ValueError, match="ceil"):
        build_stages(table, 32, depth_rounding="floor")


# --- compound scaling ----------------------------------------------------------------------------------

def _macs(model):
    return count_macs(model, model.model_info.input_size)


@pytest.mark.parametrize("base", ["efficientnet_b0", "mobilenet_v2", "mnasnet1_0", "efficientnet_v2_s"])
@pytest.mark.parametrize("phi", [1, 2, 3])
def test_scale_model_flops_grow_as_2_to_the_phi(base, phi):
    info = cnnzoo.model_info(base)
    res = int(info.scaling["resolution"])
    base_macs = count_macs(cnnzoo.create_model(base, device="meta"), (3, res, res))
    model = cnnzoo.scale_model(base, phi, device="meta")
    assert model.resolution == round(res * 1.15 ** phi)
    assert model.model_info.input_size == (3, model.resolution, model.resolution)
    ratio = _macs(model) / (base_macs * 2 ** phi)
    assert 0.85 <= ratio <= 1.15, f"{base} φ={phi}: FLOPs {ratio:.3f} × 2^φ"
    assert model.model_info.scaling["phi"] == phi
    assert model(torch.empty(1, *model.model_info.input_size, device="meta")).shape == (1, 1000)


def test_scale_model_coefficients_and_options():
    m = cnnzoo.scale_model("efficientnet_b0", width=2.0, depth=3.1, resolution=600 / 224, depth_rounding="ceil",
                           device="meta")
    assert cnnzoo.count_params(m) == PARAMS["efficientnet_b7"]  # B7's coefficients on B0's table
    assert m.resolution == 600 and math.isnan(m.model_info.scaling["phi"])
    m = cnnzoo.scale_model("efficientnet_b1", 1, alpha=1.0, beta=1.0, gamma=1.0, depth_rounding="ceil", device="meta")
    assert cnnzoo.count_params(m) == PARAMS["efficientnet_b1"] and m.resolution == 240
    # the base's own coefficients compose: B1 is width 1.0, depth 1.1
    m = cnnzoo.scale_model("efficientnet_b1", 1, device="meta", num_classes=10)
    assert m.model_info.scaling["depth_mult"] == pytest.approx(1.1 * 1.2)
    assert m.get_classifier().out_features == 10
    # EfficientNetV2 caps the training resolution at 480
    assert cnnzoo.scale_model("efficientnet_v2_m", 2, device="meta").resolution == 480


def test_scale_model_errors():
    with pytest.raises(ValueError, match="scalable bases"):
        cnnzoo.scale_model("fashion_cnn", 1)
    with pytest.raises(ValueError, match="give phi"):
        cnnzoo.scale_model("efficientnet_b0")
    with pytest.raises(ValueError, match="alpha"):
        cnnzoo.scale_model("efficientnet_b0", 1, alpha=0.5)
    with pytest.raises(TypeError, match="width_mult"):
        cnnzoo.scale_model("efficientnet_b0", 1, width_mult=2.0)


# --- reference layouts (fixtures dumped from torchvision/timm; no oracle needed) ---------------------------

@pytest.mark.parametrize("name, source, fixture, kwargs", [
    ("mobilenet_v2", "torchvision", "mobilenet_v2_torchvision", {}),
    ("mobilenet_v2", "timm", "mobilenet_v2_timm", {}),
    ("mobilenet_v3_small", "torchvision", "mobilenet_v3_small_torchvision", {}),
    ("mobilenet_v3_large", "torchvision", "mobilenet_v3_large_torchvision", {}),
    ("mobilenet_v3_small", "timm", "mobilenet_v3_small_timm", {"bn_eps": 1e-5}),
    ("mobilenet_v3_large", "timm", "mobilenet_v3_large_timm", {"bn_eps": 1e-5}),
    ("mnasnet0_5", "torchvision", "mnasnet0_5_torchvision", {}),
    ("mnasnet1_0", "torchvision", "mnasnet1_0_torchvision", {}),
    ("mnasnet1_0", "timm", "mnasnet1_0_timm", {}),
    ("mnasnet_a1", "timm", "mnasnet_a1_timm", {}),
    ("efficientnet_b0", "torchvision", "efficientnet_b0_torchvision", {}),
    ("efficientnet_b0", "timm", "efficientnet_b0_timm", {"tf_mode": True}),
    ("efficientnet_b1", "torchvision", "efficientnet_b1_torchvision", {}),
    ("efficientnet_edgetpu_s", "timm", "efficientnet_edgetpu_s_timm", {"tf_mode": True}),
    ("efficientnet_edgetpu_m", "timm", "efficientnet_edgetpu_m_timm", {}),
    ("efficientnet_v2_s", "torchvision", "efficientnet_v2_s_torchvision", {}),
    ("efficientnet_v2_s", "timm", "efficientnet_v2_s_timm", {"tf_mode": True}),
])
def test_reference_layout_fixture(name, source, fixture, kwargs):
    check_layout_fixture(name, source, fixture, **kwargs)


def test_layout_mismatch_is_a_clear_error():
    from cnnzoo.weights.layouts import convert_state_dict

    sd = cnnzoo.create_model("mobilenet_v3_small", device="meta").state_dict()
    with pytest.raises(ValueError, match="same architecture"):
        convert_state_dict(sd, "mobilenet_v2", "torchvision")


def _fixture_state_dict(fixture: str) -> dict[str, torch.Tensor]:
    import json

    from tests._oracle import FIXTURES

    shapes = json.loads((FIXTURES / f"{fixture}.json").read_text())
    return {k: torch.empty(s, device="meta") for k, s in shapes.items()}


def test_layout_follows_the_model_structure():
    """Which blocks exist comes from the model being loaded (its options), not from the key order: B1's
    torchvision keys fit B0 built with B1's depth, not B0's defaults (whose stages have fewer blocks)."""
    from cnnzoo.weights.layouts import convert_state_dict

    sd = _fixture_state_dict("efficientnet_b1_torchvision")
    model = cnnzoo.create_model("efficientnet_b0", depth_mult=1.1, device="meta")
    converted = convert_state_dict(sd, "efficientnet_b0", "torchvision", model=model)
    assert converted.keys() == model.state_dict().keys()
    with pytest.raises(ValueError, match=r"no counterpart for \d+ key\(s\): features\.1\.1\.block"):
        convert_state_dict(sd, "efficientnet_b0", "torchvision")


def test_flat_block_numbers_follow_the_stage_table():
    """torchvision's MobileNetV2 numbers its 17 blocks across stages; they land in the stages of Table 2
    (1, 2, 3, 4, 3, 3, 1 blocks), the expansion-free first block's ``conv.1`` being its projection."""
    from cnnzoo.weights.layouts import convert_state_dict

    sd = _fixture_state_dict("mobilenet_v2_torchvision")
    tagged = {k: torch.full((1,), float(i)) for i, k in enumerate(sd)}
    out = convert_state_dict(tagged, "mobilenet_v2", "torchvision")
    index = {k: i for i, k in enumerate(sd)}
    source = {int(v.item()): k for k, v in out.items()}
    assert source[index["features.1.conv.1.weight"]] == "features.1.0.conv_pwl.0.weight"
    assert source[index["features.2.conv.0.0.weight"]] == "features.2.0.conv_pw.0.weight"
    assert source[index["features.4.conv.3.running_var"]] == "features.3.0.conv_pwl.1.running_var"
    assert source[index["features.17.conv.1.0.weight"]] == "features.7.0.conv_dw.0.weight"
    assert source[index["features.18.1.bias"]] == "features.8.1.bias"
    assert source[index["classifier.1.weight"]] == "head.fc.weight"


@pytest.mark.parametrize("name, source, fixture", [
    ("mobilenet_v3_small", "torchvision", "mobilenet_v3_small_torchvision"),
    ("mnasnet_a1", "timm", "mnasnet_a1_timm"),
])
def test_reference_safetensors_file_loads(tmp_path, name, source, fixture):
    """A reference checkpoint saved as safetensors (which does not keep the reference's key order) is
    detected and loaded, each tensor where the conversion in the reference's order puts it."""
    from safetensors.torch import save_file

    from cnnzoo.checkpoint import load_weights
    from cnnzoo.weights.layouts import convert_state_dict

    sd = {k: torch.zeros((), dtype=torch.long) if k.endswith("num_batches_tracked") else torch.randn(v.shape)
          for k, v in _fixture_state_dict(fixture).items()}
    save_file(sd, tmp_path / "ref.safetensors")
    model = cnnzoo.create_model(name)
    assert load_weights(model, tmp_path / "ref.safetensors").layout == source
    expected = convert_state_dict(sd, name, source)
    for k, v in model.state_dict().items():
        assert torch.equal(v, expected[k]), k


def test_timm_mobilenet_v3_file_loads_and_warns_about_batch_norm_eps(tmp_path):
    """timm's MobileNetV3 keys (stages of equal width, the head convolution as its last "stage", a 1×1
    ``conv_head`` on the pooled features) are detected from a safetensors file; built with cnnzoo's default
    eps 1e-3 instead of timm's 1e-5, the model warns that its outputs will differ."""
    import warnings

    from safetensors.torch import save_file

    sd = {k: torch.zeros((), dtype=torch.long) if k.endswith("num_batches_tracked") else torch.randn(v.shape)
          for k, v in _fixture_state_dict("mobilenet_v3_small_timm").items()}
    save_file(sd, tmp_path / "ref.safetensors")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = cnnzoo.create_model("mobilenet_v3_small", bn_eps=1e-5, pretrained=str(tmp_path / "ref.safetensors"))
    state = model.state_dict()
    assert torch.equal(state["head.hidden.0.weight"], sd["conv_head.weight"].flatten(1))
    assert torch.equal(state["head.fc.weight"], sd["classifier.weight"])
    assert torch.equal(state["features.0.0.weight"], sd["conv_stem.weight"])
    # timm's stage 3 (the 40-wide blocks) starts at flat block 3: cnnzoo's row 4
    assert torch.equal(state["features.4.0.se.fc1.weight"], sd["blocks.2.0.se.conv_reduce.weight"])
    assert torch.equal(state["features.12.1.running_var"], sd["blocks.5.0.bn1.running_var"])  # the head conv
    with pytest.warns(UserWarning, match=r"eps 1e-05.*bn_eps=1e-05"):
        cnnzoo.create_model("mobilenet_v3_small", pretrained=str(tmp_path / "ref.safetensors"))
