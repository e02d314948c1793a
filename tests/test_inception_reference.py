"""The Inception lineage against torchvision / timm (oracle env only): same weights, same outputs."""


from tests._oracle import compare_with_oracle, needs_oracle

TOL = 1e-4

@needs_oracle
def test_googlenet_matches_torchvision():
    r = compare_with_oracle("googlenet", "torchvision.models.googlenet(aux_logits=True, init_weights=True)",
                            "torchvision", (3, 224, 224))
    assert r["ref_params"] == 13_004_888
    assert r["max_abs_diff"] <= TOL
