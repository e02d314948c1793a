"""DenseNet-BC: torchvision's parameter counts, Table 1's blocks, checkpointing equivalence."""

import pytest
import torch

import cnnzoo
from cnnzoo.models.densenet import DenseLayer, DenseNet
from tests._oracle import check_layout_fixture

COUNTS = {"densenet121": 7_978_856, "densenet161": 28_681_000, "densenet169": 14_149_480, "densenet201": 20_013_928}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_parameter_count(name):
    assert cnnzoo.count_params(cnnzoo.create_model(name, device="meta")) == COUNTS[name]


@pytest.mark.parametrize("name, k, blocks, final", [
    ("densenet121", 32, (6, 12, 24, 16), 1024), ("densenet161", 48, (6, 12, 36, 24), 2208),
    ("densenet169", 32, (6, 12, 32, 32), 1664), ("densenet201", 32, (6, 12, 48, 32), 1920)])
def test_table_1_blocks_bottleneck_and_compression(name, k, blocks, final):
    model = cnnzoo.create_model(name, device="meta")
    feats = model.features
    assert [len(getattr(feats, f"denseblock{i}")) for i in range(1, 5)] == list(blocks)
    layer = feats.denseblock1.denselayer1
    assert layer.conv1.kernel_size == (1, 1) and layer.conv1.out_channels == 4 * k  # bottleneck 4k
    assert layer.conv2.kernel_size == (3, 3) and layer.conv2.out_channels == k
    for i in range(1, 4):  # transitions halve the channels (compression 0.5)
        t = getattr(feats, f"transition{i}")
        assert t.conv.out_channels == t.conv.in_channels // 2
    assert model.num_features == final


def test_dense_connectivity_concatenates():
    block = cnnzoo.create_model("densenet121").features.denseblock1.eval()
    x = torch.randn(1, 64, 8, 8)
    out = block(x)
    assert out.shape == (1, 64 + 6 * 32, 8, 8)
    assert torch.equal(out[:, :64], x)  # the block's input is passed on unchanged


def test_no_drop_path():
    with pytest.raises(TypeError, match="does not support drop_path_rate"):
        cnnzoo.create_model("densenet121", drop_path_rate=0.1)


def _small(**kwargs):
    # a small DenseNet-BC (k=8, two blocks): the same code path as the Table 1 models, at test speed
    return DenseNet(growth_rate=8, block_config=(3, 3), num_init_features=16, num_classes=5, **kwargs)


def test_memory_efficient_gives_the_same_outputs_and_gradients():
    ref = _small()
    eff = _small(memory_efficient=True)
    eff.load_state_dict(ref.state_dict())
    assert all(m.memory_efficient for m in eff.modules() if isinstance(m, DenseLayer))
    x = torch.randn(4, 3, 32, 32)
    outs, grads = [], []
    for model in (ref, eff):
        model.train()
        out = model(x)
        out.square().mean().backward()
        outs.append(out.detach())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    assert torch.allclose(outs[0], outs[1], atol=1e-6, rtol=0)
    for n in grads[0]:
        assert torch.allclose(grads[0][n], grads[1][n], atol=1e-6, rtol=1e-5), n
    # the option reaches the registered constructors
    big = cnnzoo.create_model("densenet121", memory_efficient=True, device="meta")
    assert all(m.memory_efficient for m in big.modules() if isinstance(m, DenseLayer))


def test_memory_efficient_recomputes_the_bottleneck_in_backward():
    model = _small(memory_efficient=True)
    layer = model.features.denseblock1.denselayer1
    calls = []
    original = layer.bottleneck

    def counted(*inputs):
        calls.append(1)
        return original(*inputs)

    layer.bottleneck = counted
    out = model(torch.randn(2, 3, 32, 32))
    assert len(calls) == 1
    out.sum().backward()
    assert len(calls) == 2  # recomputed for the gradient
    calls.clear()
    model.set_memory_efficient(False)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert len(calls) == 1
    calls.clear()
    model.set_memory_efficient(True)
    with torch.no_grad():  # nothing to recompute without gradients
        model(torch.randn(2, 3, 32, 32))
    assert len(calls) == 1


def test_block_drop_and_features_only():
    model = cnnzoo.create_model("densenet121", block_drop=0.2).train()
    x = torch.randn(1, 64, 4, 4)
    layer = model.features.denseblock1.denselayer1
    assert not torch.equal(layer([x]), layer([x]))  # dropout inside the dense layer
    layer.eval()
    assert torch.equal(layer([x]), layer([x]))
    fx = cnnzoo.create_model("densenet121", features_only=True, device="meta")
    feats = fx(torch.empty(1, 3, 224, 224, device="meta"))
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 112, 112), (256, 56, 56), (512, 28, 28), (1024, 14, 14),
                                                   (1024, 7, 7)]


def test_torchvision_layout_fixture():
    check_layout_fixture("densenet121", "torchvision", "densenet121_torchvision")


def test_old_torchvision_key_names():
    from cnnzoo.weights.layouts import convert_state_dict

    sd = {"features.denseblock1.denselayer1.norm.1.weight": torch.zeros(1),
          "features.denseblock1.denselayer1.conv.2.weight": torch.zeros(1), "classifier.bias": torch.zeros(1)}
    assert sorted(convert_state_dict(sd, "densenet121", "torchvision")) == [
        "features.denseblock1.denselayer1.conv2.weight", "features.denseblock1.denselayer1.norm1.weight",
        "head.fc.bias"]
