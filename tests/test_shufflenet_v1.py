"""ShuffleNet v1: no torchvision/timm reference. The counts are derived from Table 1 (the exact numbers
below are this implementation's; they equal those the imgclsmob project publishes for its ShuffleNets),
the MACs are checked against the paper's complexities (Table 1 at 1×, Table 2 at 0.5×)."""

import pytest
import torch

import cnnzoo
from cnnzoo.analysis.flops import count_macs
from cnnzoo.models.shufflenet_v1 import ShuffleV1Unit


@pytest.mark.parametrize("g, params, paper_mflops", [
    (1, 1_531_936, 143), (2, 1_733_848, 140), (3, 1_865_728, 137), (4, 1_968_344, 133), (8, 2_434_768, 137),
])
def test_shufflenet_v1_1x_counts_and_table_1_complexity(g, params, paper_mflops):
    model = cnnzoo.create_model(f"shufflenet_v1_g{g}", device="meta")
    assert cnnzoo.count_params(model) == params
    macs = count_macs(model, (3, 224, 224)) / 1e6
    assert abs(macs - paper_mflops) / paper_mflops < 0.011
    assert [f["reduction"] for f in model.feature_info] == [2, 4, 8, 16, 32]
    assert [len(getattr(model, f"stage{i}")) for i in (2, 3, 4)] == [4, 8, 4]


@pytest.mark.parametrize("g, scale, params, stage2", [
    (1, 0.25, 209_746, 36), (1, 0.5, 534_484, 72), (1, 0.75, 975_214, 108),
    (3, 0.25, 305_902, 60), (3, 0.5, 718_324, 120), (3, 0.75, 1_238_266, 180),
    (8, 0.5, 1_011_448, 192), (2, 2.0, 5_257_896, 400),
])
def test_width_scale(g, scale, params, stage2):
    model = cnnzoo.create_model(f"shufflenet_v1_g{g}", scale=scale, device="meta")
    assert cnnzoo.count_params(model) == params
    assert model.feature_info[2]["num_chs"] == stage2


def test_half_width_matches_table_2_complexity():
    model = cnnzoo.create_model("shufflenet_v1_g3", scale=0.5, device="meta")
    assert abs(count_macs(model, (3, 224, 224)) / 1e6 - 38) < 1  # Table 2: 0.5× → 38 MFLOPs


def test_first_pointwise_of_stage_2_is_not_grouped():
    model = cnnzoo.create_model("shufflenet_v1_g8", device="meta")
    first, second = model.stage2[0], model.stage2[1]
    assert first.conv1[0].groups == 1 and isinstance(first.shuffle, torch.nn.Identity)
    assert second.conv1[0].groups == 8 and second.shuffle.groups == 8
    assert first.conv3[0].groups == 8
    # bottleneck = 1/4 of the output; the stride-2 branch makes out - in channels (concat with the pool)
    assert first.conv1[0].out_channels == 96 and first.conv3[0].out_channels == 384 - 24
    assert len(first.conv2) == 2  # depthwise conv + BN, no ReLU (§3.2)


def test_units_add_or_concatenate():
    unit = ShuffleV1Unit(24, 240, groups=3, stride=2, group_first=False)
    assert unit(torch.randn(1, 24, 8, 8)).shape == (1, 240, 4, 4)
    unit = ShuffleV1Unit(240, 240, groups=3, stride=1).eval()
    x = torch.randn(1, 240, 4, 4).relu()
    with torch.no_grad():
        branch = unit.conv3(unit.conv2(unit.shuffle(unit.conv1(x))))
        assert torch.allclose(unit(x), (x + branch).relu())
    with pytest.raises(ValueError, match="multiple of groups"):
        ShuffleV1Unit(240, 250, groups=3, stride=2)


def test_drop_path_in_stride_one_units():
    model = cnnzoo.create_model("shufflenet_v1_g3", drop_path_rate=0.2, device="meta")
    rates = [u.drop_path.drop_prob if hasattr(u.drop_path, "drop_prob") else 0.0
             for s in (model.stage2, model.stage3, model.stage4) for u in s]
    assert rates[-1] == pytest.approx(0.2) and rates[0] == 0.0 and rates[4] == 0.0  # stride-2 units: none
    nonzero = [r for r in rates if r > 0]
    assert nonzero == sorted(nonzero) and len(nonzero) == 16 - 3  # linear rule over the 16 units


def test_bad_options():
    with pytest.raises(ValueError, match="scale"):
        cnnzoo.create_model("shufflenet_v1_g3", scale=0.0, device="meta")
    with pytest.raises(ValueError, match="scale"):
        cnnzoo.create_model("shufflenet_v1_g3", scale=-1.0, device="meta")
