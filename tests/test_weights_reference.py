"""End to end against the oracle env: a torchvision or timm checkpoint FILE (wrapped, ``module.``-prefixed,
``.pth`` or ``.safetensors``) given to ``create_model(name, pretrained=path)`` — layout detected, not
told — gives the reference's outputs (max abs diff ≤ 1e-4, fp32, eval). One case per family that has
a reference: its smallest such model, plus TensorFlow-ported EfficientNet weights ("same" padding).
The stage-table families (MobileNetV2/V3, MnasNet, EfficientNet, EfficientNetV2, EdgeTPU) are also
checked with their keys in any order: a safetensors file (keys sorted by dtype and name) and a ``.pth`` file
with the keys shuffled, for each torchvision and timm layout."""

import json
import os
import subprocess

import pytest
import torch

import cnnzoo
from tests._oracle import ORACLE, needs_oracle

_SAVE = r"""
import json, sys
import torch, timm, torchvision  # noqa: F401
from safetensors.torch import save_file
a = json.loads(sys.argv[1])
torch.manual_seed(0)
ref = eval(a["ref"]).eval()
with torch.no_grad():
    # Random weights and affine norms (so that a wrong mapping shows), then batch-norm statistics
    # measured on a random batch (momentum 1): activations stay O(1) through the whole network, where
    # random running statistics let them grow to 1e7 and turn fp32 rounding into large differences.
    for p in ref.parameters():
        if p.ndim > 1:
            torch.nn.init.kaiming_normal_(p)
    bns = [m for m in ref.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        if m.weight is not None:
            m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.2, 0.2)
        m.momentum = 1.0
    ref.train()
    cal = 299 if getattr(ref, "AuxLogits", None) is not None else a["size"]  # its aux head needs 299 px
    ref(torch.randn(8, 3, cal, cal))
    ref.eval()
sd = ref.state_dict()
for path in a["paths"]:
    if path.endswith(".safetensors"):
        save_file({k: v.contiguous() for k, v in sd.items()}, path)
    else:
        keys = list(sd)
        if a.get("shuffle"):
            import random
            random.Random(1).shuffle(keys)
        torch.save({"epoch": 1, "state_dict": {"module." + k: sd[k] for k in keys}}, path)
x = torch.randn(2, 3, a["size"], a["size"])
with torch.no_grad():
    torch.save({"x": x, "y": ref(x), "order": list(sd)}, a["io"])
"""


def _save_reference(tmp_path, ref: str, paths: list, size: int, shuffle: bool = False) -> dict:
    """Build ``ref`` in the oracle env with random weights, save its state dict to ``paths`` and return
    an input batch ``x``, the reference's outputs ``y`` and its key ``order``."""
    io = tmp_path / "io.pt"
    arg = json.dumps(dict(ref=ref, paths=[str(p) for p in paths], io=str(io), size=size, shuffle=shuffle))
    proc = subprocess.run([str(ORACLE), "-c", _SAVE, arg], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(io, weights_only=True)


# cnnzoo names whose reference model has another name
REF_NAMES = {"efficientnet_edgetpu_s": "efficientnet_es", "mobilenet_v1": "mobilenetv1_100"}
# cnnzoo options that make the reference's variant (timm's MobileNet v1 uses ReLU6)
MODEL_KWARGS = {"mobilenet_v1": {"act_layer": "relu6"}}


def _cases():
    best: dict[str, tuple[int, str, str]] = {}
    for name in cnnzoo.list_models():
        info = cnnzoo.model_info(name)
        if info.reference not in ("torchvision", "timm"):
            continue
        if info.family not in best or info.params < best[info.family][0]:
            best[info.family] = (info.params, name, info.reference)
    cases = []
    for i, (_, name, source) in enumerate(sorted(best.values(), key=lambda t: t[1])):
        ref_name = REF_NAMES.get(name, name)
        ref = f"torchvision.models.{ref_name}()" if source == "torchvision" else f"timm.create_model('{ref_name}')"
        ext = ".safetensors" if i % 2 else ".pth"
        cases.append(pytest.param(name, ref, ext, MODEL_KWARGS.get(name, {}), id=f"{name}-{source}{ext}"))
    if "efficientnet_b0" in cnnzoo.list_models():
        cases.append(pytest.param("efficientnet_b0", "timm.create_model('tf_efficientnet_b0')", ".pth",
                                  {"tf_mode": True}, id="tf_efficientnet_b0-timm.pth"))
    return cases


@needs_oracle
@pytest.mark.slow
@pytest.mark.parametrize("name,ref,ext,kwargs", _cases())
def test_reference_checkpoint_file_loads_with_equal_outputs(tmp_path, name, ref, ext, kwargs):
    size = max(96, cnnzoo.model_info(name).min_size)
    path = tmp_path / f"ref{ext}"
    data = _save_reference(tmp_path, ref, [path], size)
    model = cnnzoo.create_model(name, pretrained=str(path), **kwargs).eval()
    with torch.no_grad():
        diff = (model(data["x"]) - data["y"]).abs().max().item()
    scale = data["y"].abs().max().item()
    print(f"{name} {ref}: max abs diff {diff:.2e} (outputs up to {scale:.1f})")
    assert diff <= 1e-4


# (cnnzoo name, reference name, layout, cnnzoo options): every stage-table family, torchvision's and timm's layouts
STAGE_TABLE_CASES = [
    ("mobilenet_v2", "mobilenet_v2", "torchvision", {}),
    ("mobilenet_v2", "mobilenetv2_100", "timm", {}),
    ("mobilenet_v3_small", "mobilenet_v3_small", "torchvision", {}),
    ("mobilenet_v3_large", "mobilenet_v3_large", "torchvision", {}),
    ("mobilenet_v3_small", "mobilenetv3_small_100", "timm", {"bn_eps": 1e-5}),  # timm's batch norms: eps 1e-5
    ("mobilenet_v3_large", "mobilenetv3_large_100", "timm", {"bn_eps": 1e-5}),
    ("mnasnet0_5", "mnasnet0_5", "torchvision", {}),
    ("mnasnet1_0", "mnasnet1_0", "torchvision", {}),
    ("mnasnet1_0", "mnasnet_100", "timm", {}),
    ("mnasnet_a1", "mnasnet_a1", "timm", {}),
    ("efficientnet_b0", "efficientnet_b0", "torchvision", {}),
    ("efficientnet_b0", "efficientnet_b0", "timm", {}),
    ("efficientnet_b0", "tf_efficientnet_b0", "timm", {"tf_mode": True}),
    ("efficientnet_v2_s", "efficientnet_v2_s", "torchvision", {}),
    ("efficientnet_v2_s", "tf_efficientnetv2_s", "timm", {"tf_mode": True}),
    ("efficientnet_edgetpu_s", "efficientnet_es", "timm", {}),
    ("efficientnet_edgetpu_s", "tf_efficientnet_es", "timm", {"tf_mode": True}),
]


@needs_oracle
@pytest.mark.slow
@pytest.mark.parametrize("name,ref_name,layout,kwargs", STAGE_TABLE_CASES,
                         ids=[f"{c[0]}-{c[2]}-{c[1]}" for c in STAGE_TABLE_CASES])
def test_stage_table_checkpoint_loads_whatever_its_key_order(tmp_path, name, ref_name, layout, kwargs):
    from cnnzoo.checkpoint import read_state_dict as read_checkpoint
    from cnnzoo.weights.loading import detect_layout

    ref = f"torchvision.models.{ref_name}()" if layout == "torchvision" else f"timm.create_model('{ref_name}')"
    sorted_file, shuffled_file = tmp_path / "ref.safetensors", tmp_path / "ref.pth"
    data = _save_reference(tmp_path, ref, [sorted_file, shuffled_file], max(96, cnnzoo.model_info(name).min_size),
                           shuffle=True)
    order = list(data["order"])
    for path in (sorted_file, shuffled_file):
        sd = read_checkpoint(path)[0]
        # neither file keeps the reference's order (safetensors stores tensors by dtype, then name)
        assert sorted(sd) == sorted(order) and list(sd) != order
        model = cnnzoo.create_model(name, pretrained=str(path), **kwargs).eval()
        assert detect_layout(sd, model, name)[0] == layout
        with torch.no_grad():
            diff = (model(data["x"]) - data["y"]).abs().max().item()
        print(f"{name} <- {layout} {ref_name} {path.suffix}: max abs diff {diff:.2e}")
        assert diff <= 1e-4
