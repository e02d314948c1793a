"""Side-by-side checks against the reference implementations (timm, torchvision) in the oracle env.

The oracle env is built by ``../shared/reference/make-reference-env.sh /tmp/reference-env``; it is a
development oracle, absent in CI, so tests using it are skipped there. The reference model is built
in a subprocess of the oracle's Python, its state dict converted with cnnzoo's layouts, and both models
compared on the same input in eval mode.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ORACLE = Path(os.environ.get("CNNZOO_ORACLE", "/tmp/reference-env/bin/python"))
SRC = Path(__file__).resolve().parents[1] / "src"
needs_oracle = pytest.mark.skipif(
    not ORACLE.exists(), reason="oracle env absent (build it with ../shared/reference/make-reference-env.sh)"
)

_SCRIPT = r"""
import json, sys
import torch
args = json.loads(sys.argv[1])
sys.path.insert(0, args["src"])
import cnnzoo
from cnnzoo.weights.layouts import convert_state_dict
import timm, torchvision  # noqa: F401  (used by the reference expression)
torch.manual_seed(0)
ref = eval(args["ref"]).eval()
with torch.no_grad():  # non-trivial norm statistics, so that a wrong mapping shows
    for m in ref.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.uniform_(-0.2, 0.2); m.running_var.uniform_(0.5, 1.5)
            if m.weight is not None:
                m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.2, 0.2)
model = cnnzoo.create_model(args["name"], **args["kwargs"]).eval()
sd = convert_state_dict(ref.state_dict(), args["name"], args["source"], model=model)
model.load_state_dict(sd, strict=True)
x = torch.randn(2, *args["input_size"])
with torch.no_grad():
    a, b = ref(x), model(x)
print(json.dumps({"max_abs_diff": (a - b).abs().max().item(), "ref_params": sum(p.numel() for p in ref.parameters())}))
"""


def compare_with_oracle(name: str, ref: str, source: str, input_size=(3, 224, 224), timeout: int = 600,
                        **kwargs) -> dict:
    """Max abs output difference between cnnzoo's ``name`` and the reference built by the expression
    ``ref`` (e.g. ``"torchvision.models.resnet50()"``) carrying the same weights."""
    arg = json.dumps(dict(name=name, ref=ref, source=source, input_size=list(input_size), kwargs=kwargs,
                          src=str(SRC)))
    proc = subprocess.run([str(ORACLE), "-c", _SCRIPT, arg], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "2"})
    if proc.returncode != 0:
        raise AssertionError(f"oracle run failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


FIXTURES = Path(__file__).resolve().parent / "fixtures" / "layouts"

_DUMP = r"""
import json, sys
import torch
import timm, torchvision  # noqa: F401
ref = eval(sys.argv[1])
print(json.dumps({k: list(v.shape) for k, v in ref.state_dict().items()}))
"""


def dump_reference_layout(ref: str, fixture: str) -> Path:
    """Write the reference model's state-dict keys and shapes to ``tests/fixtures/layouts/<fixture>.json``
    (a development step, run where the oracle env exists; the JSON is committed)."""
    proc = subprocess.run([str(ORACLE), "-c", _DUMP, ref], capture_output=True, text=True, check=True)
    path = FIXTURES / f"{fixture}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json.loads(proc.stdout), indent=0) + "\n")
    return path


def check_layout_fixture(name: str, source: str, fixture: str, **kwargs) -> None:
    """Convert a state dict with the fixture's keys and shapes and check that it is exactly the layout
    of cnnzoo's ``name`` (same keys, same shapes, every reference key used once): the key mapping
    without the oracle env. The keys are converted in the reference's order, sorted by name (as a
    safetensors file stores them) and shuffled; each reference tensor must land on the same cnnzoo
    key in all three."""
    import random

    import torch

    import cnnzoo
    from cnnzoo.weights.layouts import convert_state_dict

    shapes = json.loads((FIXTURES / f"{fixture}.json").read_text())
    fake = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    model = cnnzoo.create_model(name, device="meta", **kwargs)
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    ids = {id(v): k for k, v in fake.items()}
    shuffled = list(fake)
    random.Random(0).shuffle(shuffled)
    mappings = {}
    for order, keys in (("reference", list(fake)), ("sorted", sorted(fake)), ("shuffled", shuffled)):
        converted = convert_state_dict({k: fake[k] for k in keys}, name, source, model=model)
        got = {k: tuple(v.shape) for k, v in converted.items()}
        missing, unexpected = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        assert not missing and not unexpected, f"{order} order: missing {missing[:10]}, unexpected {unexpected[:10]}"
        wrong = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
        assert not wrong, f"{order} order: wrong shapes (got, want): {dict(list(wrong.items())[:10])}"
        assert len(converted) == len(fake), f"{order} order: {len(fake)} reference keys became {len(converted)}"
        # which reference key each cnnzoo key came from (its shape where a converter made a new tensor)
        mappings[order] = {k: ids.get(id(v), tuple(v.shape)) for k, v in converted.items()}
    for order in ("sorted", "shuffled"):
        diff = [k for k in want if mappings[order][k] != mappings["reference"][k]]
        assert not diff, f"{order} order maps differently: " + ", ".join(
            f"{k} <- {mappings[order][k]} (not {mappings['reference'][k]})" for k in diff[:5])
