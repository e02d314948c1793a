"""AlexNet against torchvision's with the same weights (skipped without the oracle env)."""

from tests._oracle import compare_with_oracle, needs_oracle


@needs_oracle
def test_alexnet_matches_torchvision():
    result = compare_with_oracle("alexnet", "torchvision.models.alexnet()", "torchvision", (3, 224, 224))
    assert result["ref_params"] == 61_100_840
    assert result["max_abs_diff"] <= 1e-4
