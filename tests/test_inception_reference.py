"""The Inception lineage against torchvision / timm (oracle env only): same weights, same outputs.

The reference's weights are re-drawn (Kaiming normal) before the comparison: torchvision's own
``init_weights`` makes GoogLeNet's output independent of its input, which would hide a wrong mapping.
"""

import pytest

from tests._oracle import compare_with_oracle, needs_oracle

TOL = 1e-4


def _reinit(expr: str) -> str:
    return f"(lambda m: ([torch.nn.init.kaiming_normal_(p) for p in m.parameters() if p.ndim > 1], m)[1])({expr})"


@needs_oracle
def test_googlenet_matches_torchvision():
    r = compare_with_oracle("googlenet", _reinit("torchvision.models.googlenet(aux_logits=True, init_weights=True)"),
                            "torchvision", (3, 224, 224))
    assert r["ref_params"] == 13_004_888
    assert r["max_abs_diff"] <= TOL


@needs_oracle
def test_googlenet_oracle_sees_a_different_network():
    # control: torchvision's transform_input changes the computation, so the same weights must disagree
    r = compare_with_oracle("googlenet", _reinit("torchvision.models.googlenet(aux_logits=True, init_weights=True, "
                                                 "transform_input=True)"), "torchvision", (3, 64, 64))
    assert r["max_abs_diff"] > 1e-2


@needs_oracle
@pytest.mark.slow
def test_inception_v3_matches_torchvision():
    r = compare_with_oracle("inception_v3", _reinit("torchvision.models.inception_v3(aux_logits=True, "
                                                    "init_weights=True)"), "torchvision", (3, 299, 299))
    assert r["ref_params"] == 27_161_264
    assert r["max_abs_diff"] <= TOL


@needs_oracle
@pytest.mark.slow
def test_inception_v3_matches_timm():
    r = compare_with_oracle("inception_v3", _reinit('timm.create_model("inception_v3")'), "timm", (3, 299, 299),
                            aux_logits=False)
    assert r["ref_params"] == 23_834_568
    assert r["max_abs_diff"] <= TOL


@needs_oracle
@pytest.mark.slow
@pytest.mark.parametrize("name, params", [("inception_v4", 42_679_816), ("inception_resnet_v2", 55_843_464)])
def test_inception_v4_family_matches_timm(name, params):
    r = compare_with_oracle(name, _reinit(f'timm.create_model("{name}")'), "timm", (3, 299, 299))
    assert r["ref_params"] == params
    assert r["max_abs_diff"] <= TOL
