"""ONNX and TorchScript export: round trips against PyTorch (ONNX files also in OpenVINO), and clear errors."""

import pytest
import torch

import cnnzoo
from cnnzoo.cli import main
from cnnzoo.export import export_model
from tests._util import main_output, one_model_per_family, small_size

ort = pytest.importorskip("onnxruntime")


def test_onnx_round_trip_dynamic_batch(tmp_path):
    model = cnnzoo.create_model("fashion_cnn", batch_norm=True)
    res = export_model(model, tmp_path / "m.onnx", "onnx", dynamic_batch=True)
    assert res.max_abs_diff <= 1e-4 and res.top1_agree and res.checked_shape[0] == 3
    # fp32: ONNX Runtime's CPU provider has no reduced-precision mode on x86 (its bf16 fast math is Arm64's, opt-in)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = torch.randn(5, 1, 28, 28)
    got = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
    with torch.no_grad():
        assert (got - model(x)).abs().max() <= 1e-4
    assert not list(tmp_path.glob(".*tmp"))  # no temporary left behind


def test_legacy_onnx_and_torchscript(tmp_path):
    model = cnnzoo.create_model("fashion_cnn")
    assert export_model(model, tmp_path / "l.onnx", "onnx", exporter="legacy").max_abs_diff <= 1e-4
    res = export_model(model, tmp_path / "m.pt", "torchscript", dynamic_batch=True)
    assert res.max_abs_diff <= 1e-4
    loaded = torch.jit.load(str(tmp_path / "m.pt"))
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        assert (loaded(x) - model.eval()(x)).abs().max() <= 1e-4


def test_export_errors(tmp_path):
    model = cnnzoo.create_model("fashion_cnn")
    with pytest.raises(ValueError, match="unknown export format 'tflite'"):
        export_model(model, tmp_path / "m", "tflite")
    with pytest.raises(ValueError, match="opset applies to ONNX"):
        export_model(model, tmp_path / "m.pt", "torchscript", opset=17)
    with pytest.raises(ValueError, match="at least 8x8"):
        export_model(model, tmp_path / "m.onnx", "onnx", input_shape=(1, 1, 4, 4))
    with pytest.raises(ValueError, match="takes 1 input channel, got"):
        export_model(model, tmp_path / "m.onnx", "onnx", input_shape=(1, 3, 28, 28))
    with pytest.raises(ValueError, match="torch.jit.script"):
        export_model(model, tmp_path / "m.pt", "torchscript", method="script")
    with pytest.raises(ValueError, match="on the CPU|not from cnnzoo"):
        export_model(torch.nn.Conv2d(1, 1, 1), tmp_path / "c.onnx", "onnx")
    assert not list(tmp_path.iterdir())


def test_checkpoint_without_header_rebuilds_from_its_weights(tmp_path):
    from safetensors.torch import save_file

    src = cnnzoo.create_model("fashion_cnn", num_classes=5)
    save_file(src.state_dict(), str(tmp_path / "w.safetensors"))
    torch.save({"model": src.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    for name in ("w.safetensors", "ckpt.pt"):
        dst = cnnzoo.load_checkpoint(tmp_path / name, "fashion_cnn")
        assert dst.num_classes == 5 and torch.equal(dst.head.fc.weight, src.head.fc.weight)
    with pytest.raises(ValueError, match="give the model's name"):
        cnnzoo.load_checkpoint(tmp_path / "ckpt.pt")
    with pytest.raises(FileNotFoundError):
        cnnzoo.load_checkpoint(tmp_path / "missing.pt", "fashion_cnn")


def test_cli_export(tmp_path, capsys):
    from safetensors.torch import save_file

    model = cnnzoo.create_model("fashion_cnn", num_classes=4)
    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    out = tmp_path / "f.pt"
    assert main(["export", "fashion_cnn", "--format", "torchscript", "--checkpoint", str(tmp_path / "w.safetensors"),
                 "-o", str(out), "--dynamic-batch"]) == 0
    assert "top-1 agrees" in capsys.readouterr().out
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(out))(x), model.eval()(x), atol=1e-5)
    assert main(["export", "nope_net", "--format", "onnx"]) == 2
    assert "Unknown model" in capsys.readouterr().err
    assert main(["export", "fashion_cnn", "--format", "onnx", "--method", "script"]) == 2
    assert "torchscript only" in capsys.readouterr().err
    assert main(["export", "fashion_cnn", "--format", "onnx", "--img-size", "2", "-o", str(tmp_path / "x.onnx")]) == 2
    assert "at least 8x8" in capsys.readouterr().err
    assert main(["export", "fashion_cnn", "--format", "onnx", "--checkpoint", str(tmp_path / "nope")]) == 2
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "fashion_cnn", "--format", "tflite"])


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", one_model_per_family())
def test_every_family_exports(name, fmt, tmp_path):
    # The TorchScript-based ONNX exporter here: ~6x faster than the torch.export-based default, which
    # test_onnx_round_trip_dynamic_batch covers; both produce files that onnxruntime checks.
    model = cnnzoo.create_model(name)
    s = small_size(name)
    shape = (1, model.in_chans, s, s)
    try:
        extra = {"exporter": "legacy"} if fmt == "onnx" else {}
        res = export_model(model, tmp_path / f"{name}.{fmt}", fmt, input_shape=shape, dynamic_batch=True, **extra)
    except torch.onnx.errors.OnnxExporterError:
        # the legacy exporter cannot express some ops (adaptive pooling to a non-divisor grid): the default can
        res = export_model(model, tmp_path / f"{name}.{fmt}", fmt, input_shape=shape, dynamic_batch=True)
    assert res.max_abs_diff <= 1e-4 and res.top1_agree
    if fmt == "onnx":
        # the same file in OpenVINO, as cnnzoo.deploy runs it (ONNX Runtime checked it above): every family
        # agrees with eager fp32 on both runtimes at once, for the price of one export
        pytest.importorskip("openvino")
        from cnnzoo.inference.runtimes import OpenVinoBackend

        x = torch.randn(2, *shape[1:])
        with torch.no_grad():
            ref = main_output(model(x))
        got = torch.from_numpy(OpenVinoBackend(tmp_path / f"{name}.{fmt}", "fp32", tuple(x.shape))(x.numpy()))
        assert (got - ref).abs().max() <= 1e-4 * max(1.0, float(ref.abs().max()))
        assert torch.equal(got.argmax(1), ref.argmax(1))


def test_openvino_ir_records_the_precision_it_was_checked_at(tmp_path):
    """OpenVINO's CPU plugin computes in bf16 by default where the CPU has AVX512-BF16 or AMX; the IR records
    f32 in its runtime options, and compile_openvino opens it at that precision, matching PyTorch."""
    ov = pytest.importorskip("openvino")
    from cnnzoo.export import compile_openvino, openvino_runtime_options

    model = cnnzoo.create_model("resnet8", num_classes=10, in_chans=1, width=16).eval()
    export_model(model, tmp_path / "m.xml", "openvino", input_shape=(2, 1, 28, 28), exporter="legacy")
    assert openvino_runtime_options(ov.Core().read_model(str(tmp_path / "m.xml"))) == \
        {"INFERENCE_PRECISION_HINT": "f32"}
    compiled = compile_openvino(tmp_path / "m.xml")
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        ref = model(x)
    assert (torch.from_numpy(compiled(x.numpy())[0]) - ref).abs().max() <= 1e-4


def test_an_export_removes_what_a_killed_export_of_the_same_file_left(tmp_path):
    pytest.importorskip("openvino")
    model = cnnzoo.create_model("lenet5")
    left = [tmp_path / ".m.xml.k3j_9xQa.tmp", tmp_path / ".m.onnx.abcdEFGH.tmp"]
    left[0].mkdir()  # an IR's temporary directory, as a kill between its two files leaves it
    (left[0] / "model.bin").write_bytes(b"half")
    left[1].write_bytes(b"half")
    other = tmp_path / ".n.onnx.abcdEFGH.tmp"  # another file's: not this export's to judge
    other.write_bytes(b"half")
    export_model(model, tmp_path / "m.xml", "openvino", exporter="legacy", verify=False)
    export_model(model, tmp_path / "m.onnx", "onnx", exporter="legacy", verify=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".n.onnx.abcdEFGH.tmp", "m.bin", "m.onnx", "m.xml"]
