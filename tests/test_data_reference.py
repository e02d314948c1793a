"""Data configs and transforms against torchvision and timm (oracle env only; skipped in CI).

One run of the oracle's Python reports (1) for every registered model that torchvision has, the
preprocessing of its ``DEFAULT`` weights, else timm's default pretrained config, and (2) torchvision's
``Resize`` + ``CenterCrop`` pixels and ``RandomResizedCrop`` boxes beside cnnzoo's on the same images.
"""

import json
import os
import subprocess

import pytest

import cnnzoo
from cnnzoo.data.config import DATA_CONFIGS, resolve_data_config
from cnnzoo.data.transforms import eval_resize_size
from tests._oracle import ORACLE, SRC, needs_oracle

#: cnnzoo name → timm's name where they differ (the timm model whose weights the layout converts)
TIMM_NAMES = {
    "mobilenet_v1": "mobilenetv1_100",
    "mnasnet_a1": "semnasnet_100",  # timm's current name of its deprecated ``mnasnet_a1``
    "efficientnet_edgetpu_s": "efficientnet_es",
    "efficientnet_edgetpu_m": "efficientnet_em",
    "efficientnet_edgetpu_l": "efficientnet_el",
    "efficientnet_b8": "tf_efficientnet_b8",
    "efficientnet_l2": "tf_efficientnet_l2",
    "efficientnet_v2_xl": "tf_efficientnetv2_xl",
}

_SCRIPT = r"""
import io, json, sys
import numpy as np, torch, torchvision
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import v2 as T2
from torchvision.models import get_model_weights, list_models
from timm.models import get_pretrained_cfg
args = json.loads(sys.argv[1])
sys.path.insert(0, args["src"])
from cnnzoo.data.transforms import EvalTransform, TrainTransform, random_resized_crop_params

# (1) the references' data configs
tv = set(list_models(module=torchvision.models))
configs = {}
for n in args["names"]:
    if n in tv:  # the weights torchvision marks DEFAULT
        t = get_model_weights(n).DEFAULT.transforms()
        configs[n] = dict(source="torchvision", size=t.crop_size[0], resize=t.resize_size[0],
                          interpolation=t.interpolation.value, mean=list(t.mean), std=list(t.std))
        continue
    c = get_pretrained_cfg(args["aliases"].get(n, n))  # timm's default pretrained tag
    if c is not None:
        configs[n] = dict(source="timm", size=c.input_size[1], test_size=(c.test_input_size or c.input_size)[1],
                          crop_pct=c.crop_pct, test_crop_pct=c.test_crop_pct, interpolation=c.interpolation,
                          mean=list(c.mean), std=list(c.std))

# (2) the transforms on the same JPEGs
rng = np.random.default_rng(0)
images = []
for w, h in [(500, 375), (333, 500), (640, 427), (300, 300), (1000, 60)]:
    arr = np.clip(rng.normal(128, 40, (h, w, 3)).cumsum(1) % 256, 0, 255).astype(np.uint8)
    buf = io.BytesIO(); Image.fromarray(arr).save(buf, "JPEG", quality=90); images.append(buf.getvalue())
out = {"configs": configs, "eval": [], "boxes": 0, "train": []}
modes = {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC}
for interp in modes:
    for size, pct in [(224, 0.875), (300, 300 / 320), (224, 224 / 232), (64, 0.95)]:
        ours = EvalTransform(size, pct, interp)
        ref = T.Compose([T.Resize(ours.resize_size, modes[interp]), T.CenterCrop(size), T.PILToTensor()])
        diff = max(int((ours(d).int() - ref(Image.open(io.BytesIO(d)).convert("RGB")).int()).abs().max())
                   for d in images)
        out["eval"].append([interp, size, ours.resize_size, diff])
for d in images:
    im = Image.open(io.BytesIO(d))
    for scale, ratio in [((0.08, 1.0), (3 / 4, 4 / 3)), ((0.9, 1.0), (2.0, 3.0))]:
        torch.manual_seed(7)
        a = [list(T.RandomResizedCrop.get_params(im, list(scale), list(ratio))) for _ in range(30)]
        torch.manual_seed(7)
        b = [list(random_resized_crop_params(*im.size, scale, ratio)) for _ in range(30)]
        assert a == b, (im.size, scale, a[:3], b[:3])
        out["boxes"] += len(a)
    for interp in modes:  # torchvision's v2 transforms on the uint8 tensor: the same uint8 kernel
        ref = T2.Compose([T2.RandomResizedCrop(96, interpolation=modes[interp], antialias=True),
                          T2.RandomHorizontalFlip()])
        torch.manual_seed(11); x = TrainTransform(96, interpolation=interp, draft=False, decoder="pillow")(d)
        torch.manual_seed(11); y = ref(T.PILToTensor()(im.convert("RGB")))
        out["train"].append(int((x.int() - y.int()).abs().max()))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def reference() -> dict:
    arg = json.dumps({"src": str(SRC), "names": cnnzoo.list_models(), "aliases": TIMM_NAMES})
    proc = subprocess.run([str(ORACLE), "-c", _SCRIPT, arg], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@needs_oracle
def test_every_reference_model_has_the_references_config(reference):
    ref = reference["configs"]
    assert len(ref) > 60, sorted(ref)
    # the table holds exactly the models a reference has; the others follow the registry rule
    assert sorted(set(DATA_CONFIGS) - set(ref)) == [] and sorted(set(ref) - set(DATA_CONFIGS)) == []
    wrong = {}
    for name, r in ref.items():
        cfg = resolve_data_config(name)
        got = dict(size=cfg.input_size, interpolation=cfg.interpolation, mean=list(cfg.mean), std=list(cfg.std))
        want = {k: r[k] for k in got}
        if r["source"] == "torchvision":  # Resize(resize) + CenterCrop(size)
            got.update(test=cfg.test_input_size, resize=eval_resize_size(cfg.test_input_size, cfg.eval_crop_pct))
            want.update(test=r["size"], resize=r["resize"])
        else:
            got.update(test=cfg.test_input_size, crop_pct=cfg.crop_pct, test_crop_pct=cfg.test_crop_pct)
            want.update(test=r["test_size"], crop_pct=r["crop_pct"], test_crop_pct=r["test_crop_pct"])
        if got != want:
            wrong[name] = (got, want)
    assert not wrong, "\n".join(f"{n}: got {g}, {ref[n]['source']} has {w}" for n, (g, w) in wrong.items())


@needs_oracle
def test_same_pixels_and_crop_boxes_as_torchvision(reference):
    # Resize + CenterCrop on the Pillow image: the same Pillow resampling, so the same pixels
    assert all(diff == 0 for *_, diff in reference["eval"]), reference["eval"]
    assert [r for _, _, r, _ in reference["eval"][:4]] == [256, 320, 232, 67]
    assert reference["boxes"] == 300  # every box equal, fallback cases included (the 1000 × 60 image, ratio 2–3)
    assert reference["train"] == [0] * 10  # full-size decode: crop + resize + flip identical to torchvision v2
