import pytest
import torch

import cnnzoo
from cnnzoo.analysis.flops import count_macs
from cnnzoo.layers import channel_shuffle
from cnnzoo.models.shufflenet_v2 import ShuffleV2Unit


@pytest.mark.parametrize("name, params, paper_mflops", [
    ("shufflenet_v2_x0_5", 1_366_792, 41),  # torchvision; paper Table 5: 1.4/2.3/3.5/7.4 M weights
    ("shufflenet_v2_x1_0", 2_278_604, 146),
    ("shufflenet_v2_x1_5", 3_503_624, 299),
    ("shufflenet_v2_x2_0", 7_393_996, 591),
])
def test_shufflenet_v2_counts(name, params, paper_mflops):
    model = cnnzoo.create_model(name, device="meta")
    assert cnnzoo.count_params(model) == params
    macs = count_macs(model, (3, 224, 224)) / 1e6
    assert abs(macs - paper_mflops) / paper_mflops < 0.02  # within 2 % of the paper's FLOPs
    assert [f["reduction"] for f in model.feature_info] == [2, 4, 8, 16, 32]
    assert [len(getattr(model, f"stage{i}")) for i in (2, 3, 4)] == [4, 8, 4]


def test_channel_shuffle_interleaves_groups():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]
    with pytest.raises(ValueError, match="groups"):
        channel_shuffle(x, 4)


def test_stride_one_unit_passes_half_the_channels_through():
    unit = ShuffleV2Unit(8, 8, 1).eval()
    x = torch.randn(1, 8, 5, 5)
    with torch.no_grad():
        y = unit(x)
    # after the shuffle, even channels are the untouched left half
    assert torch.equal(y[:, 0::2], x[:, :4])
    assert len(unit.branch1) == 0 and len(unit.branch2) == 8


def test_stride_two_unit_doubles_and_halves():
    unit = ShuffleV2Unit(24, 116, 2)
    assert unit(torch.randn(1, 24, 8, 8)).shape == (1, 116, 4, 4)
    with pytest.raises(ValueError, match="stride-1"):
        ShuffleV2Unit(24, 116, 1)
