"""LeNet-5: the paper's layer sizes, Table I connections and parameter count (no reference exists)."""

import pytest
import torch

import cnnzoo
from cnnzoo.models.lenet import C3_CONNECTIONS


def test_parameter_count_by_hand():
    # C1: 6 × (5·5·1 + 1)                       =    156
    # S2: 6 coefficients + 6 biases              =     12
    # C3: Table I: 6·3 + 9·4 + 1·6 = 60 kernels × 25 + 16 biases = 1,516
    # S4: 16 + 16                                =     32
    # C5: 120 × (16·5·5 + 1)                     = 48,120
    # F6: 84 × (120 + 1)                         = 10,164
    # output: 10 × (84 + 1)                      =    850
    expected = 156 + 12 + 1516 + 32 + 48120 + 10164 + 850
    assert expected == 60_850
    assert cnnzoo.count_params(cnnzoo.create_model("lenet5", device="meta")) == expected
    # full C3 (6·16 kernels): 2,416 instead of 1,516
    full = cnnzoo.create_model("lenet5", connection_table=False, device="meta")
    assert cnnzoo.count_params(full) == expected - 1516 + 6 * 16 * 25 + 16


def test_table_one_connections():
    assert sum(len(c) for c in C3_CONNECTIONS) == 60
    model = cnnzoo.create_model("lenet5")
    dense = model.c3[0].dense_weight()
    connected = dense.abs().sum((2, 3)) > 0  # (16 C3 maps, 6 S2 maps)
    for o, ins in enumerate(C3_CONNECTIONS):
        assert set(torch.nonzero(connected[o]).flatten().tolist()) == set(ins)
    # a C3 map does not change when an S2 map it is not connected to changes
    x = torch.randn(1, 6, 10, 10)
    y = x.clone()
    y[:, 5] += 1.0  # map 5 is not an input of C3 map 0 (Table I)
    conv = model.c3[0]
    assert torch.equal(conv(x)[:, 0], conv(y)[:, 0])
    assert not torch.equal(conv(x)[:, 15], conv(y)[:, 15])


def test_gradients_reach_only_the_connected_kernels():
    conv = cnnzoo.create_model("lenet5").c3[0]
    conv(torch.randn(2, 6, 9, 9)).sum().backward()
    assert conv.weight.grad.shape == (60, 5, 5)
    assert torch.all(conv.weight.grad.abs().sum((1, 2)) > 0)


@pytest.mark.parametrize("size, c5_input", [(32, 5), (28, 4)])
def test_layer_shapes_as_in_the_paper(size, c5_input):
    model = cnnzoo.create_model("lenet5").eval()
    x = torch.randn(2, 1, size, size)
    c1 = model.c1(x)
    s2 = model.s2(c1)
    c3 = model.c3(s2)
    s4 = model.s4(c3)
    assert c1.shape[1:] == (6, size - 4, size - 4)
    assert s2.shape[1:] == (6, (size - 4) // 2, (size - 4) // 2)
    assert c3.shape[1:] == (16, (size - 4) // 2 - 4, (size - 4) // 2 - 4)
    assert s4.shape[-1] == c5_input
    assert model.forward_features(x).shape[1:] == (120, 1, 1)
    assert model(x).shape == (2, 10)
    if size == 32:  # the adaptive pool before C5 is the identity at the paper's input size
        assert torch.equal(model.pool(s4), s4)


def test_squashing_function():
    model = cnnzoo.create_model("lenet5")
    act = model.c1[1]
    a = torch.linspace(-5, 5, 11)
    assert torch.allclose(act(a), 1.7159 * torch.tanh(2 / 3 * a))
    assert torch.allclose(act(torch.tensor([1.0, -1.0])), torch.tensor([1.0, -1.0]), atol=2e-4)  # f(±1) = ±1


def test_subsampling_is_sum_times_coefficient_plus_bias():
    s2 = cnnzoo.create_model("lenet5").s2
    with torch.no_grad():
        s2.weight.copy_(torch.arange(1.0, 7.0))
        s2.bias.fill_(0.5)
    x = torch.randn(1, 6, 4, 4)
    block_sum = x.unfold(2, 2, 2).unfold(3, 2, 2).sum((-1, -2))
    want = 1.7159 * torch.tanh(2 / 3 * (block_sum * torch.arange(1.0, 7.0).view(1, 6, 1, 1) + 0.5))
    assert torch.allclose(s2(x), want, atol=1e-6)


def test_features_only_and_drop_rate():
    feats = cnnzoo.create_model("lenet5", features_only=True)(torch.randn(1, 1, 28, 28))
    assert [tuple(f.shape[1:]) for f in feats] == [(6, 12, 12), (16, 4, 4), (120, 1, 1)]
    model = cnnzoo.create_model("lenet5", drop_rate=0.25)
    assert isinstance(model.head.drop, torch.nn.Dropout) and model.head.drop.p == 0.25
