"""BN-Inception (inception_v2): the parameter count recomputed from the paper's table, grid reductions."""

import pytest
import torch

import cnnzoo
from cnnzoo.models.inception_v2 import BN_INCEPTION_TABLE


def _conv(k, cin, cout):
    return k * k * cin * cout + 2 * cout  # bias-free convolution + batch norm (scale, shift)


def _count_from_table(num_classes=1000, in_chans=3):
    total = _conv(7, in_chans, 64) + _conv(1, 64, 64) + _conv(3, 64, 192)
    cin = 192
    for _name, n1, r3, n3, rd, nd, _pool, pp, _stride in BN_INCEPTION_TABLE:
        total += (_conv(1, cin, n1) if n1 else 0) + _conv(1, cin, r3) + _conv(3, r3, n3)
        total += _conv(1, cin, rd) + _conv(3, rd, nd) + _conv(3, nd, nd) + (_conv(1, cin, pp) if pp else 0)
        cin = n1 + n3 + nd + (pp or cin)
    return total + cin * num_classes + num_classes


def test_parameter_count_is_the_table_sum():
    assert _count_from_table() == 11_285_224
    assert cnnzoo.count_params(cnnzoo.create_model("inception_v2", device="meta")) == 11_285_224
    model = cnnzoo.create_model("inception_v2", num_classes=10, in_chans=1, device="meta")
    assert cnnzoo.count_params(model) == _count_from_table(10, 1)


def test_module_widths_follow_figure_5():
    model = cnnzoo.create_model("inception_v2", device="meta")
    widths = [getattr(model, name).out_chs for name, *_ in BN_INCEPTION_TABLE]
    assert widths == [256, 320, 576, 576, 576, 608, 608, 1056, 1024, 1024]
    assert "branch1" not in dict(model.inception3c.named_children())  # the reductions have no 1×1 branch
    assert isinstance(model.inception5b.branch4[0], torch.nn.MaxPool2d)
    assert isinstance(model.inception5a.branch4[0], torch.nn.AvgPool2d)
    assert model.num_features == 1024


@pytest.mark.parametrize("size", [7, 8, 31, 33, 100, 224, 225])
def test_grid_reductions_stay_aligned_at_any_size(size):
    model = cnnzoo.create_model("inception_v2", device="meta").eval()
    assert model(torch.empty(1, 3, size, size, device="meta")).shape == (1, 1000)


def test_feature_maps_and_default_shape():
    model = cnnzoo.create_model("inception_v2", features_only=True, device="meta")
    feats = model(torch.empty(2, 3, 224, 224, device="meta"))
    assert [tuple(f.shape[1:]) for f in feats] == [
        (64, 112, 112), (192, 56, 56), (320, 28, 28), (608, 14, 14), (1024, 7, 7)]


def test_no_aux_outputs_and_minimum_size_error():
    model = cnnzoo.create_model("inception_v2", num_classes=4, in_chans=1, device="meta").train()
    out = model(torch.empty(2, 1, 32, 32, device="meta"))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 4)  # BN-Inception has no auxiliary heads
    with pytest.raises(ValueError, match="at least 7x7"):
        model(torch.empty(1, 1, 6, 32, device="meta"))
