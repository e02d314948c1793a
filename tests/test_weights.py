"""Loading weights: file formats, wrappers, layout detection, safety, errors, classes and channels."""

import json
import os
import pickle
import warnings

import pytest
import torch
from safetensors.torch import save_file

import cnnzoo
from cnnzoo.checkpoint import convert_checkpoint, load_weights, read_header, save_checkpoint
from cnnzoo.checkpoint import read_state_dict as read_checkpoint
from cnnzoo.weights import WeightsError, adapt_input_conv, detect_layout
from tests._oracle import FIXTURES


def _same(a: torch.nn.Module, b: torch.nn.Module, skip: tuple[str, ...] = ()) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa if not k.startswith(skip))


@pytest.fixture(scope="module")
def fashion():
    torch.manual_seed(1)
    return cnnzoo.create_model("fashion_cnn").eval()


@pytest.mark.parametrize("fmt", ["bare.pth", "state_dict.pt", "model.bin", "module.pth", "ddp_compiled.pt",
                                 "lightning.ckpt", "plain.safetensors", "misnamed.pth"])
def test_formats_and_wrappers(tmp_path, fashion, fmt):
    sd = fashion.state_dict()
    path = tmp_path / fmt
    kind = fmt.split(".")[0]
    if kind == "bare":
        torch.save(sd, path)
    elif kind == "state_dict":
        torch.save({"epoch": 7, "arch": "fashion_cnn", "state_dict": sd, "optimizer": {"lr": 0.1}}, path)
    elif kind == "model":
        torch.save({"model": sd}, path)
    elif kind == "module":
        torch.save({f"module.{k}": v for k, v in sd.items()}, path)
    elif kind == "ddp_compiled":
        torch.save({"model_state_dict": {f"module._orig_mod.{k}": v for k, v in sd.items()}}, path)
    elif kind == "lightning":
        torch.save({"state_dict": {f"model.{k}": v for k, v in sd.items()}, "global_step": 3}, path)
    else:  # safetensors, also under a .pth name
        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    model = cnnzoo.create_model("fashion_cnn", pretrained=str(path))
    assert _same(model, fashion)
    report = load_weights(cnnzoo.create_model("fashion_cnn"), path)
    assert report.layout == "cnnzoo" and not report.missing and not report.unexpected


def test_pickled_code_is_never_run(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    with path.open("wb") as f:
        torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": Evil()}, f)
    with pytest.raises(ValueError, match="never runs pickled code"):
        cnnzoo.create_model("fashion_cnn", pretrained=str(path))
    assert not marker.exists()
    # A raw pickle (not a torch file) is refused as well.
    raw = tmp_path / "raw.bin"
    raw.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ValueError):
        read_checkpoint(raw)
    assert not marker.exists()


def test_missing_file_and_not_a_state_dict(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        cnnzoo.create_model("fashion_cnn", pretrained=str(tmp_path / "nope.pth"))
    torch.save({"epoch": 1, "lr": 0.1}, tmp_path / "x.pth")
    with pytest.raises(ValueError, match="no state dict found.*epoch"):
        read_checkpoint(tmp_path / "x.pth")
    (tmp_path / "junk.safetensors").write_bytes(b"not a weight file at all")
    with pytest.raises(ValueError, match="is not a valid weight file"):
        read_checkpoint(tmp_path / "junk.safetensors")


def test_errors_name_missing_unexpected_and_wrong_shaped_keys(tmp_path, fashion):
    sd = dict(fashion.state_dict())
    del sd["features.0.0.bias"]
    sd["features.99.weight"] = torch.zeros(3)
    sd["features.2.0.weight"] = torch.zeros(128, 64, 5, 5)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(WeightsError) as err:
        cnnzoo.create_model("fashion_cnn", pretrained=str(tmp_path / "bad.pth"))
    msg = str(err.value)
    assert "missing keys (1): features.0.0.bias" in msg
    assert "unexpected keys (1): features.99.weight" in msg
    assert "features.2.0.weight [128, 64, 5, 5] in the checkpoint bad.pth vs [128, 64, 3, 3] in the model" in msg
    # strict=False loads what fits and says what it left out.
    model = cnnzoo.create_model("fashion_cnn")
    with pytest.warns(UserWarning, match="1 missing, 1 unexpected and 1 wrong-shaped"):
        report = load_weights(model, tmp_path / "bad.pth", strict=False)
    assert report.missing == ["features.0.0.bias"] and report.unexpected == ["features.99.weight"]
    assert torch.equal(model.features[5][0].weight, fashion.features[5][0].weight)


def test_other_architecture_is_called_out(tmp_path):
    torch.save(cnnzoo.create_model("fashion_cnn", batch_norm=True).state_dict(), tmp_path / "bn.pth")
    with pytest.raises(ValueError, match="unexpected keys"):
        cnnzoo.create_model("fashion_cnn", pretrained=str(tmp_path / "bn.pth"))


def test_num_classes_mismatch_reinitialises_the_classifier_with_a_warning(tmp_path, fashion):
    torch.save(fashion.state_dict(), tmp_path / "w.pth")
    with pytest.warns(UserWarning, match=r"10 classes and the model 4.*head\.fc\.weight, head\.fc\.bias.*re-init"):
        model = cnnzoo.create_model("fashion_cnn", num_classes=4, pretrained=str(tmp_path / "w.pth"))
    assert model.head.fc.out_features == 4
    assert torch.equal(model.features[0][0].weight, fashion.features[0][0].weight)
    assert torch.equal(model.head.hidden[0].weight, fashion.head.hidden[0].weight)
    # num_classes=0 (no classifier): the checkpoint's classifier is left out, also with a warning.
    with pytest.warns(UserWarning, match="no classifier.*10-class classifier.*left out"):
        model = cnnzoo.create_model("fashion_cnn", num_classes=0, pretrained=str(tmp_path / "w.pth"))
    assert model(torch.randn(1, 1, 28, 28)).shape == (1, 64)


def test_adapt_input_conv_rules():
    w = torch.randn(8, 3, 3, 3)
    assert torch.allclose(adapt_input_conv(w, 1), w.sum(1, keepdim=True))
    w5 = adapt_input_conv(w, 5)
    assert torch.allclose(w5, torch.cat([w, w[:, :2]], 1) * 3 / 5)
    assert adapt_input_conv(w, 3) is w


@pytest.mark.parametrize("in_chans", [1, 6])
def test_rgb_weights_into_other_channel_counts(tmp_path, in_chans):
    """A grey image through the adapted model gives what the RGB model gives for the grey image in RGB
    (1 channel: summed weights; 6 channels: tiled twice and halved)."""
    rgb = cnnzoo.create_model("resnet18", num_classes=10).eval()
    torch.save({"state_dict": rgb.state_dict()}, tmp_path / "rgb.pth")
    model = cnnzoo.create_model("resnet18", num_classes=10, in_chans=in_chans, pretrained=str(tmp_path / "rgb.pth"))
    model.eval()
    grey = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        want = rgb(grey.expand(-1, 3, -1, -1))
        got = model(grey.expand(-1, in_chans, -1, -1))
    assert torch.allclose(got, want, atol=1e-4)


def test_layout_detection_cnnzoo_vs_reference(tmp_path):
    """ResNet in torchvision's layout (``fc.*``) is recognised and renamed; cnnzoo's own is kept."""
    model = cnnzoo.create_model("resnet18", num_classes=10)
    ref_sd = {("fc." + k[len("head.fc."):] if k.startswith("head.fc.") else k): v
              for k, v in model.state_dict().items()}
    torch.save(ref_sd, tmp_path / "tv.pth")
    loaded = cnnzoo.create_model("resnet18", num_classes=10)
    report = load_weights(loaded, tmp_path / "tv.pth")
    assert report.layout == "torchvision/timm"  # the two references share this layout
    assert _same(loaded, model)
    source, _ = detect_layout(model.state_dict(), loaded)
    assert source == "cnnzoo"
    with pytest.raises(ValueError, match="layout 'keras' is not known"):
        load_weights(loaded, tmp_path / "tv.pth", layout="keras")


# Options of the cnnzoo model for fixtures of a reference built with options (timm: no aux head, or
# batch norms with eps 1e-5).
FIXTURE_KWARGS: dict[str, dict] = {"inception_v3_timm": {"aux_logits": False},
                                   "mobilenet_v3_small_timm": {"bn_eps": 1e-5},
                                   "mobilenet_v3_large_timm": {"bn_eps": 1e-5}}


def _fixtures():
    names = set(cnnzoo.list_models())
    out = []
    for path in sorted(FIXTURES.glob("*.json")):
        model, _, source = path.stem.rpartition("_")
        if model in names and source in ("torchvision", "timm"):
            out.append(pytest.param(model, source, path, id=path.stem))
    return out


@pytest.mark.parametrize("name,source,path", _fixtures())
def test_layout_detected_automatically_for_every_fixture(name, source, path):
    """Each committed reference layout (keys and shapes of torchvision's or timm's model) is recognised
    without being told, and converts to exactly the model's keys and shapes."""
    shapes = json.loads(path.read_text())
    fake = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    model = cnnzoo.create_model(name, device="meta", **FIXTURE_KWARGS.get(path.stem, {}))
    detected, converted = detect_layout(fake, model)
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert detected != "cnnzoo"
    assert {k: tuple(v.shape) for k, v in converted.items()} == want


def test_save_checkpoint_header_and_convert(tmp_path, fashion):
    path = save_checkpoint(fashion, tmp_path / "f.safetensors", dataset="fashion-mnist", accuracy=90.0)
    header = read_header(path)
    assert header.model == "fashion_cnn" and header.dataset == "fashion-mnist" and header.accuracy == 90.0
    assert header.num_classes == 10 and header.in_chans == 1 and header.img_size == 28
    assert len(header.mean) == len(header.std) == 1
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no temp file left
    # A torchvision-layout ResNet with 7 classes, wrapped and DDP-prefixed → cnnzoo file with 7 classes.
    model = cnnzoo.create_model("resnet18", num_classes=7).eval()
    ref_sd = {("module.fc." + k[len("head.fc."):] if k.startswith("head.fc.") else "module." + k): v
              for k, v in model.state_dict().items()}
    torch.save({"state_dict": ref_sd, "epoch": 90}, tmp_path / "r18.pth")
    dst, header = convert_checkpoint(tmp_path / "r18.pth", tmp_path / "r18.safetensors", "resnet18")
    assert read_header(dst) == header
    assert header.model == "resnet18" and header.num_classes == 7 and header.in_chans == 3 and header.classes is None
    assert header.mean == [0.485, 0.456, 0.406]
    # torchvision's and timm's ResNet layouts are the same: the source says both, not one of them
    assert header.source == "r18.pth (torchvision/timm layout)"
    loaded = cnnzoo.create_model("resnet18", num_classes=7, pretrained=str(dst))
    assert _same(loaded, model)


def test_convert_cli(tmp_path, fashion, capsys):
    from cnnzoo.cli import main

    torch.save({"model": fashion.state_dict()}, tmp_path / "f.pth")
    assert main(["convert", str(tmp_path / "f.pth"), str(tmp_path / "f.safetensors"), "--model", "fashion_cnn",
                 "--fp16"]) == 0
    assert "num_classes: 10" in capsys.readouterr().out
    sd, meta = read_checkpoint(tmp_path / "f.safetensors")
    assert sd["features.0.0.weight"].dtype == torch.float16 and meta["model"] == "fashion_cnn"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cnnzoo.create_model("fashion_cnn", pretrained=str(tmp_path / "f.safetensors"))
    assert main(["convert", str(tmp_path / "f.pth"), str(tmp_path / "o.safetensors"), "--model", "resnet18"]) == 2
    assert "does not fit resnet18" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "none.pth"), str(tmp_path / "o.safetensors"), "--model", "resnet18"]) == 2
    assert "not found" in capsys.readouterr().err


def test_unknown_shipped_weights_say_which_exist():
    with pytest.raises(ValueError, match="no weights ship with cnnzoo for 'resnet50'.*fashion_cnn"):
        cnnzoo.create_model("resnet50", pretrained=True, device="meta")


def test_a_safetensors_file_of_another_library_has_no_cnnzoo_header(tmp_path, fashion):
    # timm and Hugging Face write metadata {"format": "pt"}: a file without a cnnzoo header, not a damaged one
    from safetensors.torch import save_file

    from cnnzoo.checkpoint import read_header

    path = tmp_path / "model.safetensors"
    save_file(dict(fashion.state_dict()), str(path), metadata={"format": "pt"})
    assert read_header(path) is None
    model = cnnzoo.create_model("fashion_cnn", pretrained=path)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in fashion.state_dict().items())
    assert cnnzoo.load_checkpoint(path, "fashion_cnn").checkpoint_header.source == "model.safetensors (cnnzoo layout)"
