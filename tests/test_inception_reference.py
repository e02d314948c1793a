"""The Inception lineage against torchvision / timm (oracle env only): same weights, same outputs."""

import pytest

from tests._oracle import compare_with_oracle, needs_oracle

TOL = 1e-4


@needs_oracle
def test_googlenet_matches_torchvision():
    r = compare_with_oracle("googlenet", "torchvision.models.googlenet(aux_logits=True, init_weights=True)",
                            "torchvision", (3, 224, 224))
    assert r["ref_params"] == 13_004_888
    assert r["max_abs_diff"] <= TOL


@needs_oracle
@pytest.mark.slow
def test_inception_v3_matches_torchvision():
    r = compare_with_oracle("inception_v3", "torchvision.models.inception_v3(aux_logits=True, init_weights=True)",
                            "torchvision", (3, 299, 299))
    assert r["ref_params"] == 27_161_264
    assert r["max_abs_diff"] <= TOL


@needs_oracle
@pytest.mark.slow
def test_inception_v3_matches_timm():
    r = compare_with_oracle("inception_v3", 'timm.create_model("inception_v3")', "timm", (3, 299, 299),
                            aux_logits=False)
    assert r["ref_params"] == 23_834_568
    assert r["max_abs_diff"] <= TOL
