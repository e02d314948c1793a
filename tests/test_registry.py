import pytest
import torch

import cnnzoo
from cnnzoo.registry import register_model


def test_list_models_wildcards_and_sorting():
    names = cnnzoo.list_models()
    assert "fashion_cnn" in names
    assert cnnzoo.list_models("fashion*") == ["fashion_cnn"]
    assert cnnzoo.list_models("no_such_*") == []
    assert names == sorted(set(names), key=names.index)  # no duplicates


def test_unknown_name_suggests_close_names():
    with pytest.raises(ValueError, match="fashion_cnn"):
        cnnzoo.create_model("fashion_cn")
    with pytest.raises(ValueError, match="Unknown model"):
        cnnzoo.model_info("zzzz")


def test_unknown_keyword_is_a_clear_error():
    with pytest.raises(TypeError, match="unknown keyword.*'widht_mult'.*accepts"):
        cnnzoo.create_model("fashion_cnn", widht_mult=2)


@pytest.mark.parametrize("kwargs", [dict(num_classes=-1), dict(in_chans=0), dict(drop_rate=1.5)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        cnnzoo.create_model("fashion_cnn", **kwargs)


def test_model_info():
    info = cnnzoo.model_info("fashion_cnn")
    assert info.input_size == (1, 28, 28)
    assert info.min_size == 8
    assert info.params == 1_413_834
    assert "Géron" in info.paper
    assert info.family == "fashion_cnn"


def test_double_registration_is_refused():
    def fashion_cnn():  # same name as a registered model
        return torch.nn.Identity()

    with pytest.raises(RuntimeError, match="registered twice"):
        register_model(paper="x")(fashion_cnn)


def test_meta_device_builds_without_memory():
    model = cnnzoo.create_model("fashion_cnn", device="meta")
    assert all(p.device.type == "meta" for p in model.parameters())


def test_features_only_out_indices():
    model = cnnzoo.create_model("fashion_cnn", features_only=True, out_indices=(1, -1))
    feats = model(torch.randn(1, 1, 28, 28))
    assert [f.shape[1] for f in feats] == [i["num_chs"] for i in model.feature_info] == [128, 256]
    with pytest.raises(ValueError, match="out of range"):
        cnnzoo.create_model("fashion_cnn", features_only=True, out_indices=(7,))
    with pytest.raises(ValueError, match="features_only"):
        cnnzoo.create_model("fashion_cnn", out_indices=(1,))


def test_meta_builds_skip_random_initialisation():
    # On meta the initialisers' values mean nothing, and the first random op there would import
    # torch._dynamo (seconds at the start of every `cnnzoo train`); they are skipped, then restored.
    import subprocess
    import sys

    init_fn = torch.nn.init.kaiming_normal_
    cnnzoo.create_model("resnet18", device="meta")
    assert torch.nn.init.kaiming_normal_ is init_fn
    code = ("import sys, cnnzoo; cnnzoo.model_info('resnet8').min_size; cnnzoo.create_model('efficientnet_b0', "
            "device='meta'); print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
