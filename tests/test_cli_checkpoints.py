"""export, convert, eval and predict on the files users have: trained runs, converted files, torchvision files."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import cnnzoo
from cnnzoo.checkpoint import convert_checkpoint, read_header, save_checkpoint
from cnnzoo.cli import main
from cnnzoo.weights import pretrained_dir

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    """A run directory like the demo's: ResNet-8 with the fast recipe's options, 10 classes, 1 channel, 28 px."""
    run = tmp_path_factory.mktemp("runs") / "demo"
    torch.manual_seed(0)
    model = cnnzoo.create_model("resnet8", num_classes=10, in_chans=1, width=32, stem_stride=2, stem_kernel=2,
                                shortcut="B")
    save_checkpoint(model, run / "best.safetensors", classes=[f"class{i}" for i in range(10)], img_size=28,
                    mean=(0.286,), std=(0.353,), epoch=4, accuracy=93.0)
    return run


def _onnx_out(path: Path, x: torch.Tensor) -> torch.Tensor:
    # fp32: ONNX Runtime's CPU provider has no reduced-precision mode on x86 (its bf16 fast math is Arm64's, opt-in)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])


def test_export_a_trained_run_with_no_other_flag(demo_run, capsys):
    ckpt = demo_run / "best.safetensors"
    assert main(["export", str(ckpt), "--format", "onnx"]) == 0
    out = capsys.readouterr().out
    assert f"weights {ckpt}" in out and "top-1 agrees" in out
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        ref = cnnzoo.load_checkpoint(ckpt)(x)
    assert (_onnx_out(demo_run / "best.onnx", x[:1]) - ref[:1]).abs().max() <= 1e-4


def test_export_a_torchvision_file_like_it_loads(tmp_path, capsys):
    model = cnnzoo.create_model("resnet18", num_classes=7).eval()
    tv = {("fc." + k[len("head.fc."):] if k.startswith("head.fc.") else k): v for k, v in model.state_dict().items()}
    torch.save(tv, tmp_path / "resnet18-tv.pth")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
    assert main(["export", "resnet18", "--checkpoint", str(tmp_path / "resnet18-tv.pth"), "--format", "onnx",
                 "--img-size", "64", "-o", str(tmp_path / "a.onnx")]) == 0
    assert main(["export", str(tmp_path / "resnet18-tv.pth"), "--model", "resnet18", "--format", "onnx",
                 "--img-size", "64"]) == 0
    for name in ("a.onnx", "resnet18-tv.onnx"):
        assert (_onnx_out(tmp_path / name, x) - ref).abs().max() <= 1e-4
    capsys.readouterr()
    assert main(["export", str(tmp_path / "resnet18-tv.pth"), "--format", "onnx"]) == 2
    assert "give the model's name" in capsys.readouterr().err


def test_export_errors_come_before_anything_is_written(tmp_path, capsys):
    # a pickle renamed .safetensors: one clear error, no traceback
    (tmp_path / "evil.safetensors").write_bytes(b"\x80\x04K\x01.")
    assert main(["export", str(tmp_path / "evil.safetensors"), "--model", "lenet5", "--format", "onnx"]) == 2
    assert "is not a valid weight file" in capsys.readouterr().err
    for opset, hint in (("5", "writes opsets 18 to 23"), ("17", "legacy exporter writes 7 to 20")):
        assert main(["export", "lenet5", "--format", "onnx", "--opset", opset, "-o", str(tmp_path / "o.onnx")]) == 2
        assert hint in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "lenet5", "--format", "onnx", "--batch", "0"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.safetensors"]


def test_export_says_where_its_weights_come_from(tmp_path, capsys):
    assert main(["export", "lenet5", "--format", "torchscript", "-o", str(tmp_path / "l.pt")]) == 0
    assert "the weights that ship with cnnzoo for lenet5" in capsys.readouterr().out
    assert main(["export", "resnet8", "--format", "torchscript", "-o", str(tmp_path / "r.pt")]) == 0
    assert "RANDOM weights" in capsys.readouterr().out
    assert main(["export", "resnet8", "--format", "onnx", "--opset", "18", "-o", str(tmp_path / "r.onnx")]) == 0


def _png(path: Path, value: int = 128, size: int = 28) -> Path:
    Image.fromarray(np.full((size, size), value, dtype=np.uint8)).save(path)
    return path


def test_predict_on_a_converted_file_prints_indices(tmp_path, capsys):
    model = cnnzoo.create_model("lenet5", num_classes=4)
    torch.save({"model": model.state_dict()}, tmp_path / "l.pth")
    convert_checkpoint(tmp_path / "l.pth", tmp_path / "l.safetensors", "lenet5")
    assert read_header(tmp_path / "l.safetensors").classes is None
    images = tmp_path / "imgs"
    images.mkdir()
    _png(images / "a.png"), _png(images / "b.png", 20)
    assert main(["predict", str(tmp_path / "l.safetensors"), str(images), "-k", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(line.count("class ") == 2 for line in lines)


def test_predict_errors(tmp_path, capsys):
    img = _png(tmp_path / "a.png")
    with pytest.raises(SystemExit):
        main(["predict", "lenet5", str(img), "-k", "0"])
    capsys.readouterr()
    assert main(["predict", "resnet50", str(img)]) == 2
    err = capsys.readouterr().err
    assert "no weights ship with cnnzoo for resnet50" in err and "fashion_cnn" in err
    (tmp_path / "empty").mkdir()
    assert main(["predict", "lenet5", str(tmp_path / "empty")]) == 2
    assert "without images" in capsys.readouterr().err
    assert main(["predict", "no_such_thing", str(img)]) == 2
    assert "no such checkpoint file or run directory" in capsys.readouterr().err


def _folder(root: Path, classes: int = 2, per_class: int = 3) -> Path:
    for split in ("train", "val"):
        for c in range(classes):
            d = root / split / f"c{c}"
            d.mkdir(parents=True)
            for i in range(per_class):
                _png(d / f"{i}.png", 40 + 100 * c + i)
    return root


def test_eval_uses_the_runs_data_and_never_overwrites(tmp_path, capsys):
    data = _folder(tmp_path / "data")
    run = tmp_path / "runs" / "r"
    model = cnnzoo.create_model("lenet5", num_classes=2)
    save_checkpoint(model, run / "best.safetensors", classes=["c0", "c1"], img_size=32)
    (run / "config.yaml").write_text(yaml.safe_dump({"model": "lenet5", "data": str(data)}))
    assert main(["eval", str(run), "--split", "val"]) == 0
    assert main(["eval", str(run), "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert f"folder:{data / 'val'}" in out
    results = sorted(run.glob("best-eval-val-*.json"))
    assert len(results) == 2 and len(sorted(run.glob("best-eval-val-*.png"))) == 2
    assert json.loads(results[0].read_text())["split"] == "val"
    with pytest.raises(SystemExit):
        main(["eval", str(run), "--batch-size", "0"])


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").is_file(),
                    reason="Fashion-MNIST absent")
def test_eval_of_shipped_weights_writes_outside_the_package(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in pretrained_dir().iterdir())
    assert main(["eval", "lenet5", "--subset", "200"]) == 0
    assert "top-1" in capsys.readouterr().out
    assert sorted(p.name for p in pretrained_dir().iterdir()) == before
    assert len(list((tmp_path / "evals").glob("lenet5-eval-test-*.json"))) == 1
    assert main(["eval", "lenet5", "--split", "val"]) == 2
    assert "no 'val' split" in capsys.readouterr().err
