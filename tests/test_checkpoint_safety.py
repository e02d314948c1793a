"""Issue 22 (security): a checkpoint header is data. Its values are checked before any memory is sized
from them, it never makes cnnzoo open a file it names, and the model it describes is checked against
the file's own tensors before it is allocated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

import cnnzoo
import cnnzoo.checkpoint
import cnnzoo.factory
import cnnzoo.models.mbconv
from cnnzoo.builder import build_model
from cnnzoo.checkpoint import CheckpointHeader, read_header, save_checkpoint

ARCH = {"stem_chs": 8, "head_chs": 16, "stages": [
    {"block": "fused", "repeats": 1, "out_chs": 8, "kernel": 3, "stride": 2, "expansion": 2},
    {"block": "mbconv", "repeats": 1, "out_chs": 16, "kernel": 3, "stride": 2, "expansion": 2},
]}


def _with_metadata(src: Path, dst: Path, **changes: object) -> Path:
    """A copy of checkpoint ``src`` whose header fields are replaced by ``changes`` (JSON-encoded; a
    value of None removes the field), written with safetensors directly: what an attacker can write."""
    from safetensors import safe_open

    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value if isinstance(value, str) and key in ("model", "format") else json.dumps(value)
    save_file(load_file(str(src)), str(dst), metadata=meta)
    return dst


def _refuse_real_builds(monkeypatch) -> None:
    """From now on, fail the test if a model is allocated for real (building on ``meta`` allocates nothing)."""
    def guarded(name, *args, device=None, **kwargs):
        if device is None or torch.device(device).type != "meta":
            raise AssertionError(f"{name} was allocated from a header that should have been refused")
        return build_model(name, *args, device=device, **kwargs)

    monkeypatch.setattr(cnnzoo.checkpoint, "build_model", guarded)
    monkeypatch.setattr(cnnzoo.factory, "build_model", guarded)


@pytest.fixture
def no_real_build(monkeypatch):
    _refuse_real_builds(monkeypatch)


@pytest.fixture(scope="module")
def lenet(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "lenet5.safetensors"
    return save_checkpoint(cnnzoo.create_model("lenet5", num_classes=10, in_chans=1), path, img_size=32)


@pytest.mark.parametrize("field, value, message", [
    ("num_classes", 10**12, r"header num_classes must be an integer in \[0, 100000\], got 1000000000000"),
    ("num_classes", -1, r"header num_classes must be an integer in \[0, 100000\]"),
    ("num_classes", True, r"header num_classes must be an integer"),
    ("in_chans", 0, r"header in_chans must be an integer in \[1, 1024\]"),
    ("in_chans", 10**6, r"header in_chans must be an integer in \[1, 1024\]"),
    ("img_size", -1, r"header img_size must be an integer in \[1, 4096\], got -1"),
    ("img_size", 10**9, r"header img_size must be an integer in \[1, 4096\]"),
    ("img_size", 32.5, r"header img_size must be an integer"),
    ("std", [0], r"header std must hold finite numbers > 0, got \[0\]"),
    ("std", [float("nan")], r"header std must hold finite numbers > 0"),
    ("std", [-0.5], r"header std must hold finite numbers > 0"),
    ("mean", [float("inf")], r"header mean must hold finite numbers"),
    ("mean", [0.5, 0.5, 0.5], r"header mean must be a list of 1 numbers \(one per input channel\)"),
    ("std", "0.5", r"header std must be a list of 1 numbers"),
    ("classes", "abc", r"header classes must be a list of 10 names"),
    ("classes", ["a"] * 11, r"header classes must be a list of 10 names"),
    ("epoch", -3, r"header epoch must be an integer >= 0"),
    ("accuracy", float("nan"), r"header accuracy must be a percentage in \[0, 100\]"),
    ("model_kwargs", ["x"], r"header model_kwargs must be a mapping of constructor arguments"),
    ("model_kwargs", {"device": "cuda:3"}, r"header model_kwargs may not set device"),
    ("model_kwargs", {"connection_table": True, "pad": 1e300}, r"model_kwargs.pad must be a finite number"),
])
def test_a_malicious_header_is_one_error_before_any_model_is_built(lenet, tmp_path, no_real_build, field, value,
                                                                    message):
    bad = _with_metadata(lenet, tmp_path / "bad.safetensors", **{field: value})
    for load in (read_header, cnnzoo.load_checkpoint, lambda p: cnnzoo.create_model("lenet5", pretrained=p)):
        with pytest.raises(ValueError, match=message) as err:
            load(bad)
        assert str(bad) in str(err.value) and len(str(err.value).splitlines()) == 1


def test_header_values_are_checked_before_they_are_written(tmp_path):
    model = cnnzoo.create_model("lenet5", in_chans=1)
    with pytest.raises(ValueError, match=r"header std must hold finite numbers > 0"):
        save_checkpoint(model, tmp_path / "x.safetensors", mean=(0.5,), std=(0.0,))
    with pytest.raises(ValueError, match=r"header img_size must be an integer in \[1, 4096\]"):
        save_checkpoint(model, tmp_path / "x.safetensors", img_size=5000)
    header = CheckpointHeader(model="lenet5", num_classes=10, in_chans=1, img_size=32, mean=[0.5], std=[float("nan")])
    with pytest.raises(ValueError, match="header std"):
        cnnzoo.checkpoint.save_state_dict(tmp_path / "y.safetensors", model.state_dict(), header)
    assert not list(tmp_path.iterdir())


def test_model_kwargs_are_checked_against_the_files_tensors_before_allocation(tmp_path, monkeypatch):
    small = save_checkpoint(cnnzoo.create_model("resnet8", num_classes=10, in_chans=1, width=8),
                            tmp_path / "r8.safetensors")
    _refuse_real_builds(monkeypatch)
    assert read_header(small).model_kwargs["width"] == 8
    # within every bound, but a model ~60,000 times larger than the weights the file holds
    big = _with_metadata(small, tmp_path / "big.safetensors",
                         model_kwargs=dict(read_header(small).model_kwargs, width=2000))
    for load in (cnnzoo.load_checkpoint, lambda p: cnnzoo.create_model("resnet8", pretrained=p)):
        with pytest.raises(ValueError, match=r"the header describes a resnet8 of [\d,]+ values but the file stores "
                                             r"[\d,]+; the header does not belong to these weights"):
            load(big)
    for changes, message in (({"model_kwargs": {"zzz": 1}}, r"resnet8\(\) got unknown keyword 'zzz'"),
                             ({"model": "no_such_net"}, r"Unknown model 'no_such_net'")):
        odd = _with_metadata(small, tmp_path / "odd.safetensors", **changes)
        with pytest.raises(ValueError, match=r"odd.safetensors: the header does not describe a model cnnzoo can "
                                             r"build: " + message):
            cnnzoo.load_checkpoint(odd)
    huge = _with_metadata(small, tmp_path / "huge.safetensors",
                          model_kwargs=dict(read_header(small).model_kwargs, width=10**9))
    with pytest.raises(ValueError, match=r"model_kwargs.width must be a finite number in \[-10000, 10000\]"):
        cnnzoo.load_checkpoint(huge)
    scaled = _with_metadata(small, tmp_path / "scaled.safetensors", model="mbconv", num_classes=10,
                            model_kwargs={"arch": ARCH, "width_mult": 1e6})
    with pytest.raises(ValueError, match=r"model_kwargs.width_mult must be a finite number in \[-16, 16\]"):
        cnnzoo.load_checkpoint(scaled)
    rows = _with_metadata(small, tmp_path / "rows.safetensors", model="mbconv",
                          model_kwargs={"arch": dict(ARCH, stages=[dict(ARCH["stages"][0], repeats=5000)])})
    with pytest.raises(ValueError, match=r"field 'repeats': expected an integer in \[1, 100\], got 5000"):
        cnnzoo.load_checkpoint(rows)


def test_an_mbconv_checkpoint_holds_its_table_and_never_opens_a_file_its_header_names(tmp_path, monkeypatch):
    arch_file = tmp_path / "arch.yaml"
    arch_file.write_text(yaml.safe_dump(ARCH))
    torch.manual_seed(0)
    model = cnnzoo.create_model("mbconv", arch=arch_file, num_classes=3, in_chans=1).eval()  # the user's own file
    path = save_checkpoint(model, tmp_path / "m.safetensors", img_size=32)
    assert read_header(path).model_kwargs["arch"]["stages"][1]["out_chs"] == 16  # the table, not the path
    arch_file.unlink()
    back = cnnzoo.load_checkpoint(path)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(back(x), model(x))

    # a header whose arch is a path (an old or a crafted file): refused, the file never opened
    arch_file.write_text(yaml.safe_dump(ARCH))
    opened = []
    monkeypatch.setattr(cnnzoo.models.mbconv, "load_arch", lambda p: opened.append(p) or ARCH)
    for target in (str(arch_file), "/etc/passwd"):
        bad = _with_metadata(path, tmp_path / "bad.safetensors", model_kwargs={"arch": target})
        for load in (cnnzoo.load_checkpoint, lambda p: cnnzoo.create_model("mbconv", pretrained=p)):
            with pytest.raises(ValueError, match=r"the header's arch names a file .*a checkpoint header is data, and "
                                                 r"cnnzoo no longer opens files that a header names"):
                load(bad)
    assert opened == []
    monkeypatch.undo()
    assert cnnzoo.create_model("mbconv", arch=str(arch_file), device="meta").model_args["arch"]["stem_chs"] == 8
