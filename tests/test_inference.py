"""optimize_for_inference: batch-norm folding keeps outputs, for generic modules and every family."""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.inference import InferenceModel, find_conv_bn_pairs, fold_batchnorm, optimize_for_inference
from cnnzoo.layers import ConvNormAct
from tests._util import main_output, one_model_per_family, small_size


def randomize_bn(model: nn.Module) -> nn.Module:
    """Give every batch norm non-trivial statistics, so that folding has something to fold."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                if m.weight is not None:
                    m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                    m.bias.copy_(torch.rand(n, generator=gen) - 0.5)
    return model.eval()


def assert_close_top1(got: torch.Tensor, ref: torch.Tensor, rtol: float) -> None:
    scale = ref.abs().max().clamp_min(1e-6)
    assert ((got - ref).abs().max() / scale) <= rtol
    assert torch.equal(got.argmax(-1), ref.argmax(-1))


class Block(nn.Module):
    """Explicit conv/bn attributes (ResNet style); conv3's output also feeds a skip, so bn3 must stay."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=True)
        self.bn2 = nn.BatchNorm2d(c)
        self.conv3 = nn.Conv2d(c, c, 1)
        self.bn3 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        z = self.conv3(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(z) + z + x)


def generic_net() -> nn.Module:
    return randomize_bn(nn.Sequential(
        ConvNormAct(3, 8, 3, stride=2), Block(8),
        ConvNormAct(8, 8, 3, stride=2, groups=8, padding="same"),  # TF-"SAME" (Conv2dSame) depthwise
        nn.BatchNorm2d(8),  # follows an activation, not a conv: stays
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5),
    ))


def test_finds_exactly_the_foldable_pairs():
    model = generic_net()
    pairs = find_conv_bn_pairs(model, torch.randn(2, 3, 33, 33))
    assert pairs == [("0.0", "0.1"), ("1.conv1", "1.bn1"), ("1.conv2", "1.bn2"), ("2.0", "2.1")]


def test_fold_keeps_outputs_and_replaces_norms():
    model = generic_net()
    x = torch.randn(4, 3, 33, 33)
    ref = model(x)
    folded = fold_batchnorm(model, x)
    assert len(folded) == 4
    assert isinstance(model[1].bn1, nn.Identity) and isinstance(model[1].bn3, nn.BatchNorm2d)
    assert model[1].conv1.bias is not None
    assert_close_top1(model(x), ref, 1e-5)


def test_optimize_copies_by_default_and_keeps_interface():
    model = randomize_bn(cnnzoo.create_model("fashion_cnn", batch_norm=True))
    x = torch.randn(8, 1, 28, 28)
    ref = model(x)
    fast = optimize_for_inference(model)
    assert isinstance(fast, InferenceModel) and len(fast.folded) == 5
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 5  # the original is untouched
    assert fast.num_classes == 10  # attributes of the wrapped model
    out = fast(x)
    assert out.dtype == torch.float32 and not out.requires_grad
    assert_close_top1(out, ref, 1e-5)
    assert fast.model.features[0][0].weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("dtype,rtol", [("bf16", 5e-2), ("fp16", 5e-3)])
def test_reduced_precision_agrees(dtype, rtol):
    model = randomize_bn(cnnzoo.create_model("fashion_cnn", batch_norm=True))
    x = torch.randn(8, 1, 28, 28)
    ref = model(x)
    out = optimize_for_inference(model, dtype=dtype)(x)
    assert out.dtype == torch.float32
    assert (out - ref).abs().max() / ref.abs().max() <= rtol


def test_bf16_warns_only_where_it_is_emulated(monkeypatch):
    import warnings

    import cnnzoo.device as latency

    model = cnnzoo.create_model("lenet5")
    monkeypatch.setattr(latency, "native_bf16", lambda device="cpu": False)
    with pytest.warns(RuntimeWarning, match="optimize_for_inference in bf16: this CPU has no native bf16"):
        optimize_for_inference(model, dtype="bf16")
    monkeypatch.setattr(latency, "native_bf16", lambda device="cpu": True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        optimize_for_inference(model, dtype="bf16")
        optimize_for_inference(model, dtype="fp16")  # fp16 on the CPU is not this warning's business
    monkeypatch.undo()
    assert isinstance(latency.native_bf16("cpu"), bool)


def test_optimize_errors():
    with pytest.raises(ValueError, match="meta"):
        optimize_for_inference(cnnzoo.create_model("fashion_cnn", device="meta"))
    with pytest.raises(ValueError, match="example_inputs"):
        optimize_for_inference(nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)))
    with pytest.raises(ValueError, match="fp32, bf16, fp16"):
        optimize_for_inference(cnnzoo.create_model("fashion_cnn"), dtype="int4")
    with pytest.raises(TypeError, match="nn.Module"):
        optimize_for_inference("fashion_cnn")


@pytest.mark.slow
@pytest.mark.parametrize("name", one_model_per_family())
def test_every_family_optimizes(name):
    model = randomize_bn(cnnzoo.create_model(name))
    s = small_size(name)
    x = torch.randn(2, model.in_chans, s, s)
    with torch.no_grad():
        ref = main_output(model(x))
    has_bn = any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    fast = optimize_for_inference(model, example_inputs=x, inplace=True)
    if has_bn:
        assert fast.folded, f"{name}: no batch norm was folded"
    assert_close_top1(main_output(fast(x)), ref, 1e-4)


@pytest.mark.skipif("not __import__('os').environ.get('CNNZOO_TEST_COMPILE')",
                    reason="torch.compile takes ~1 min on 2 CPU cores; set CNNZOO_TEST_COMPILE=1")
def test_compile_agrees():
    model = generic_net()
    x = torch.randn(2, 3, 33, 33)
    ref = model(x)
    assert_close_top1(optimize_for_inference(model, example_inputs=x, compile=True)(x), ref, 1e-4)


@pytest.mark.parametrize("name, kwargs", [("resnet18", {}), ("mobilenet_v3_small", {}),
                                          ("efficientnet_b0", {"tf_mode": True})])
def test_jit_path_agrees_and_refuses_other_sizes(name, kwargs):
    # TorchScript freeze + optimize_for_inference: oneDNN convolutions with pre-packed weights;
    # TF-mode EfficientNet's "same" padding depends on the input size, which tracing fixes
    model = randomize_bn(cnnzoo.create_model(name, num_classes=10, **kwargs))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
    fast = optimize_for_inference(model, example_inputs=x[:1], compile="jit")
    assert_close_top1(fast(x), ref, 1e-4)
    with pytest.raises(ValueError, match="traced .* for 64×64 inputs, got 72×72"):
        fast(torch.randn(1, 3, 72, 72))
    with pytest.raises(ValueError, match="compile must be"):
        optimize_for_inference(model, compile="tvm")
