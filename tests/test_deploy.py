"""cnnzoo.deploy: the automatic choice (timing replaced, both ways, and a faster runtime that disagrees),
the int8 accuracy guard, the message without the deploy extra, and a trained run exported to every format.

Every family on every runtime: test_export.test_every_family_exports runs each family's ONNX file in ONNX
Runtime and OpenVINO, its TorchScript trace in PyTorch (the torch runtime's graph), and
test_inference.test_every_family_optimizes the batch-norm folding the torch runtime adds."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import cnnzoo
from cnnzoo.checkpoint import save_checkpoint
from cnnzoo.cli import main
from cnnzoo.inference import engine as engine_mod
from cnnzoo.inference import runtimes
from cnnzoo.timing import measure_latency
from tests._util import needs_fmnist

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")

def _fixed(times: dict[str, float]):
    """A stand-in for timing: each runtime's latency in ms, as given."""
    return lambda engine, x: times[engine.runtime]


def test_auto_chooses_the_fastest_and_engines_keep_the_kind_given():
    model = cnnzoo.create_model("lenet5")
    pairs = [("torch", "fp32"), ("onnxruntime", "fp32"), ("openvino", "fp32")]
    fast_ort = cnnzoo.deploy(model, candidates=pairs,
                             measure=_fixed({"torch": 3.0, "onnxruntime": 1.0, "openvino": 2.0}))
    fast_ov = cnnzoo.deploy(model, candidates=pairs,
                            measure=_fixed({"torch": 3.0, "onnxruntime": 2.0, "openvino": 1.0}))
    assert (fast_ort.runtime, fast_ov.runtime) == ("onnxruntime", "openvino")
    assert all(c.agrees for c in fast_ov.report.candidates), fast_ov.report.table()
    assert fast_ov.dtype == "fp32" and "fastest of 3" in fast_ov.report.reason
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        ref = model.eval()(x)
    out_t, out_n = fast_ov(x), fast_ov(x.numpy())
    assert isinstance(out_t, torch.Tensor) and isinstance(out_n, np.ndarray)
    assert torch.allclose(out_t, ref, atol=1e-4) and np.allclose(out_n, ref.numpy(), atol=1e-4)
    assert measure_latency(fast_ort, x, warmup=1, repeats=2)["batch"] == 1
    assert measure_latency(fast_ort, x.numpy(), warmup=1, repeats=2)["batch"] == 1
    with pytest.raises(ValueError, match=r"takes \(N, 1, 32, 32\)"):
        fast_ort(torch.randn(1, 1, 28, 28))
    with pytest.raises(ValueError, match="unknown runtime 'tensorrt'"):
        cnnzoo.deploy(model, "tensorrt")
    with pytest.raises(ValueError, match="runs fp32, int8, not bf16"):
        cnnzoo.deploy(model, "onnxruntime", dtype="bf16")


def test_auto_times_in_balanced_interleaved_rounds_and_ranks_by_the_lower_quartile():
    model = cnnzoo.create_model("lenet5")
    pairs = [("torch", "fp32"), ("onnxruntime", "fp32"), ("openvino", "fp32")]
    order, calls = [], {}

    def measure(engine, x):  # ORT is slow once (a noisy neighbour); its median is still the fastest
        order.append(engine.runtime)
        calls[engine.runtime] = calls.get(engine.runtime, 0) + 1
        if engine.runtime == "onnxruntime":
            return 50.0 if calls["onnxruntime"] == 2 else 1.0
        return {"torch": 3.0, "openvino": 2.0}[engine.runtime]

    engine = cnnzoo.deploy(model, candidates=pairs, measure=measure, rounds=3)
    t, o, v = "torch", "onnxruntime", "openvino"
    assert order == [t, o, v, o, v, t, v, t, o]  # each round starts one later (round_order)
    assert engine.runtime == "onnxruntime"
    assert {c.runtime: c.latency_ms for c in engine.report.candidates} == {t: 3.0, o: 1.0, v: 2.0}
    assert {c.runtime: c.median_ms for c in engine.report.candidates} == {t: 3.0, o: 1.0, v: 2.0}

    # per-call times, pooled: ORT's slow calls (a neighbour) raise its median above OpenVINO's, not its
    # lower quartile, which ranks the race
    calls = {"onnxruntime": [1.0, 1.0, 9.0, 9.5], "openvino": [3.0, 3.0, 3.1, 3.1]}
    engine = cnnzoo.deploy(model, candidates=pairs[1:], measure=lambda e, x: calls[e.runtime], rounds=2)
    ort, ov = engine.report.candidates
    assert engine.runtime == "onnxruntime" and ort.median_ms > ov.median_ms
    assert ort.latency_ms == pytest.approx(1.0) and ov.latency_ms == pytest.approx(3.0)
    assert "ms (q1)" in engine.report.table() and "5.00" in engine.report.table()  # ORT's median, shown


def test_a_close_call_gets_more_rounds_among_the_close_candidates_only():
    model = cnnzoo.create_model("lenet5")
    pairs = [("torch", "fp32"), ("onnxruntime", "fp32"), ("openvino", "fp32")]
    order = []

    def measure(engine, x):  # ORT and OpenVINO within 3 %: timed again; torch, 3× slower, is not
        order.append(engine.runtime)
        n = order.count(engine.runtime)
        if engine.runtime == "openvino":
            return 1.03 if n <= 3 else 0.97  # the second set of rounds shows OpenVINO ahead
        return {"torch": 3.0, "onnxruntime": 1.0}[engine.runtime]

    engine = cnnzoo.deploy(model, candidates=pairs, measure=measure, rounds=3)
    assert order.count("torch") == 3 and order.count("onnxruntime") == order.count("openvino") == 6
    assert order[9:] == ["onnxruntime", "openvino", "openvino", "onnxruntime", "onnxruntime", "openvino"]
    assert engine.runtime == "openvino"  # lower quartile of 1.03 ×3 and 0.97 ×3
    assert "a tie" in engine.report.reason and "onnxruntime fp32 1.03×" in engine.report.reason  # 1.0 / 0.97
    assert "torch" not in engine.report.reason.split("a tie")[1]
    clear = cnnzoo.deploy(model, candidates=pairs, measure=_fixed({"torch": 3.0, "onnxruntime": 1.0,
                                                                    "openvino": 2.0}), rounds=2)
    assert clear.runtime == "onnxruntime" and "tie" not in clear.report.reason


def test_a_faster_runtime_that_disagrees_is_rejected(monkeypatch):
    build = engine_mod._build_backend

    class Off:  # OpenVINO's answers, shifted: as if a runtime miscomputed
        def __init__(self, inner):
            self.inner, self.runtime, self.dtype, self.takes = inner, inner.runtime, inner.dtype, inner.takes

        def __call__(self, x):
            return self.inner(x) + 0.5

    monkeypatch.setattr(engine_mod, "_build_backend",
                        lambda b, rt, dt: Off(build(b, rt, dt)) if rt == "openvino" else build(b, rt, dt))
    engine = cnnzoo.deploy(cnnzoo.create_model("lenet5"), candidates=[("openvino", "fp32"), ("onnxruntime", "fp32")],
                           measure=_fixed({"onnxruntime": 5.0, "openvino": 1.0}))
    assert engine.runtime == "onnxruntime"
    ov = engine.report.candidates[0]
    assert ov.runtime == "openvino" and not ov.agrees and ov.max_abs_diff > ov.tolerance
    assert "the only candidate" in engine.report.reason and "DISAGREES" in engine.report.table()


@needs_fmnist
def test_int8_kept_within_the_limit_and_float_kept_beyond_it(monkeypatch, tmp_path, capsys):
    kw = dict(dtype="int8", batch=50, calib_images=64, val_images=200, candidates=[("onnxruntime", "int8")],
              measure=_fixed({"onnxruntime": 1.0}))
    engine = cnnzoo.deploy("fashion_cnn", max_drop=3.0, **kw)
    check = engine.report.int8
    assert engine.dtype == "int8" and check.kept_int8 and check.count == 200 and check.fp32_top1 > 80
    assert abs(check.drop) <= 3.0

    # an int8 model that answers the same class for everything: the guard keeps the float model
    build = engine_mod._build_backend

    class Broken:
        def __init__(self, inner):
            self.inner, self.runtime, self.dtype, self.takes = inner, inner.runtime, inner.dtype, inner.takes

        def __call__(self, x):
            out = np.zeros_like(self.inner(x))
            out[:, 0] = 1.0
            return out

    monkeypatch.setattr(engine_mod, "_build_backend",
                        lambda b, rt, dt: Broken(build(b, rt, dt)) if dt == "int8" else build(b, rt, dt))
    monkeypatch.setattr(engine_mod, "auto_candidates",
                        lambda dtype: [("onnxruntime", "int8")] if dtype == "int8" else [("onnxruntime", "fp32")])
    out = tmp_path / "dep"
    assert main(["deploy", "fashion_cnn", "--int8", "--batch", "50", "--calib-images", "64", "--val-images", "200",
                 "--rounds", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "int8 REJECTED" in text and "float model kept" in text
    assert not (out / "fashion_cnn.deploy.json").exists()  # the fp32 deploy's report name stays the fp32 one's
    report = json.loads((out / "fashion_cnn.int8.deploy.json").read_text())
    assert report["dtype"] == "fp32" and report["int8"]["kept_int8"] is False and report["int8"]["drop"] > 50
    assert (out / "fashion_cnn.onnxruntime.fp32.onnx").is_file()


def test_without_the_deploy_extra_the_message_names_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "openvino", None)  # makes `import openvino` fail
    model = cnnzoo.create_model("lenet5")
    with pytest.raises(RuntimeError, match=r"pip install 'cnnzoo\[deploy\]'"):
        cnnzoo.deploy(model, "openvino")
    assert ("openvino", "fp32") not in cnnzoo.inference.auto_candidates("fp32")
    assert not runtimes.runtime_available("openvino")
    assert main(["export", "lenet5", "--format", "openvino", "-o", str(tmp_path / "m.xml")]) == 2
    assert "cnnzoo[deploy]" in capsys.readouterr().err and not (tmp_path / "m.xml").exists()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A run directory as training leaves it: ResNet-8, 10 classes, 1 channel, 28 px, with its header."""
    run = tmp_path_factory.mktemp("runs") / "demo"
    model = cnnzoo.create_model("resnet8", num_classes=10, in_chans=1, width=16)
    save_checkpoint(model, run / "best.safetensors", classes=[f"c{i}" for i in range(10)], img_size=28,
                    mean=(0.286,), std=(0.353,), epoch=1, accuracy=90.0)
    return run


def test_a_trained_run_exports_to_every_format_and_deploys(trained_run, capsys):
    ckpt = trained_run / "best.safetensors"
    for fmt in ("onnx", "torchscript", "openvino"):
        extra = ["--exporter", "legacy"] if fmt != "torchscript" else []
        assert main(["export", str(ckpt), "--format", fmt, *extra]) == 0, capsys.readouterr().err
        assert "top-1 agrees" in capsys.readouterr().out
    assert {p.name for p in trained_run.iterdir()} >= {"best.onnx", "best.torchscript.pt", "best.xml", "best.bin"}
    import openvino as ov

    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        ref = cnnzoo.load_checkpoint(ckpt)(x)
    # f32 pinned: OpenVINO's CPU plugin computes in bf16 by default where the CPU has AVX512-BF16 or AMX
    compiled = ov.Core().compile_model(str(trained_run / "best.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    assert np.abs(compiled(x[:1].numpy())[0] - ref[:1].numpy()).max() <= 1e-4

    assert main(["deploy", str(ckpt), "--runtime", "openvino", "--batch", "2"]) == 0
    text = capsys.readouterr().out
    assert "chosen: openvino fp32 (as asked)" in text
    assert text.splitlines()[1].split()[-2:] == ["verdict", "chosen"]  # every column has a header
    written = json.loads((trained_run / "deploy" / "best.deploy.json").read_text())
    assert written["model"] == "resnet8" and written["img_size"] == 28 and written["candidates"][0]["agrees"]
    from cnnzoo.export import compile_openvino

    deployed = compile_openvino(trained_run / "deploy" / "best.openvino.fp32.xml")  # the precision it records
    assert deployed.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    assert np.abs(deployed(x.numpy())[0] - ref.numpy()).max() <= 1e-4
    assert written["candidates"][0]["latency_ms"] > 0  # the CLI times even the runtime it was told

    # preprocess=True: uint8 images in, the header's normalisation (mean 0.286, std 0.353) applied inside
    engine = cnnzoo.deploy(ckpt, "onnxruntime", batch=2, preprocess=True)
    images = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
    with torch.no_grad():
        ref = cnnzoo.load_checkpoint(ckpt)((images.float() / 255 - 0.286) / 0.353)
    assert (engine(images) - ref).abs().max() <= 1e-4


def test_bench_and_profile_measure_each_runtime(tmp_path, capsys):
    from cnnzoo.analysis.bench import bench_models, plot_macs_vs_latency, rows_to_table

    rows = bench_models(["lenet5"], batches=[2], runtimes="onnxruntime,openvino", warmup=0, repeats=1)
    assert [(r["runtime"], r["batch"]) for r in rows] == [("onnxruntime", 2), ("openvino", 2)]
    assert all(r["latency_ms"] > 0 for r in rows) and "openvino" in rows_to_table(rows)
    plot_macs_vs_latency(rows, str(tmp_path / "p.png"))
    assert (tmp_path / "p.png").stat().st_size > 0
    with pytest.raises(ValueError, match="runtimes must be some of"):
        bench_models(["lenet5"], runtimes="tensorrt")
    with pytest.raises(ValueError, match="int8 needs calibration"):
        bench_models(["lenet5"], runtimes="openvino", dtype="int8")
    assert main(["profile", "lenet5", "--runtime", "onnxruntime", "--repeats", "1", "--warmup", "0"]) == 0
    assert "latency deployed on onnxruntime (fp32)" in capsys.readouterr().out


def test_int8_quantises_the_inner_convolutions_only(tmp_path):
    from cnnzoo.inference.quantize import quantize_onnx
    from cnnzoo.inference.runtimes import write_onnx

    onnx = pytest.importorskip("onnx")
    path = write_onnx(cnnzoo.create_model("lenet5"), tmp_path / "lenet5.onnx", (4, 1, 32, 32))
    out = quantize_onnx(path, tmp_path / "lenet5.int8.onnx", torch.randn(8, 1, 32, 32), batch=4)
    graph = onnx.load(str(out)).graph
    made_by = {o: n.op_type for n in graph.node for o in n.output}
    weights = [(n.name, made_by.get(n.input[1], "initializer")) for n in graph.node if n.op_type in ("Conv", "Gemm")]
    assert len(weights) == 5  # C1, C3, C5, F6, output
    assert weights[0][1] != "DequantizeLinear" and weights[-1][1] != "DequantizeLinear", weights
    # C3 and C5 (convolutions) in int8; F6, a fully connected layer, in float
    assert [src == "DequantizeLinear" for _, src in weights[1:-1]] == [True, True, False], weights


def test_deploy_removes_its_temporary_directory_on_any_exit_and_clears_stale_ones(monkeypatch, tmp_path):
    import os
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / "cnnzoo-deploy-4194999-abcd1234"  # above any pid_max: its process is gone
    dead.mkdir()
    (dead / "model.onnx").write_bytes(b"left by a killed deploy")
    live = tmp_path / f"cnnzoo-deploy-{os.getpid()}-efgh5678"  # a deploy still running in this process
    live.mkdir()

    def interrupted(*args, **kwargs):
        assert any(p.name.startswith(f"cnnzoo-deploy-{os.getpid()}-") and p != live for p in tmp_path.iterdir())
        raise KeyboardInterrupt

    monkeypatch.setattr(engine_mod, "_race", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cnnzoo.deploy(cnnzoo.create_model("lenet5"), "onnxruntime")
    assert [p.name for p in tmp_path.iterdir()] == [live.name]



_COLOURS = {"blue": (0, 0, 255), "green": (0, 255, 0), "red": (255, 0, 0), "yellow": (255, 255, 0)}


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory) -> Path:
    """A run of LeNet-5 (3 channels, 4 classes) whose config.yaml names an image folder of wide images: the
    class colour in the centre square, the next class's colour on both sides. cnnzoo eval's resize and
    center crop sees the class; squashing the whole image to a square sees mostly the other colour."""
    from PIL import Image

    root = tmp_path_factory.mktemp("colours")
    names = sorted(_COLOURS)
    gen = np.random.default_rng(0)
    for split in ("train", "val"):
        for i, name in enumerate(names):
            (root / "data" / split / name).mkdir(parents=True)
            for k in range(6):
                img = np.empty((32, 96, 3), np.int16)
                img[:] = _COLOURS[names[(i + 1) % len(names)]]
                img[:, 32:64] = _COLOURS[name]
                img += gen.integers(-20, 21, img.shape)
                Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(root / "data" / split / name / f"{k}.png")
    model = cnnzoo.create_model("lenet5", in_chans=3, num_classes=4)
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    colours = torch.tensor([_COLOURS[n] for n in names], dtype=torch.float32) / 255
    y = torch.arange(4).repeat(16)
    x = colours[y].view(-1, 3, 1, 1).expand(-1, 3, 32, 32) + 0.05 * torch.randn(64, 3, 32, 32)
    x = (x - 0.5) / 0.25
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(40):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    run = root / "run"
    save_checkpoint(model.eval(), run / "best.safetensors", classes=names, img_size=32, mean=mean, std=std, epoch=1,
                    accuracy=100.0)
    (run / "config.yaml").write_text(f"model: lenet5\ndata: {root / 'data'}\n")
    return run


def test_int8_guard_scores_the_runs_own_data_as_eval_does(colour_run, capsys):
    ckpt = colour_run / "best.safetensors"
    assert main(["eval", str(colour_run), "--workers", "0"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    evaluated = json.loads(next(colour_run.glob("best-eval-test-*.json")).read_text())
    assert evaluated["top1"] > 50  # trained: well above chance (25 %)
    out = colour_run / "dep"
    assert main(["deploy", str(ckpt), "--int8", "--runtime", "onnxruntime", "--rounds", "1", "--calib-images", "8",
                 "--out", str(out)]) == 0, capsys.readouterr().err
    guard = json.loads((out / "best.int8.deploy.json").read_text())["int8"]
    assert guard["data"] == evaluated["data"]  # no --data: the run's own folder (its val split), not Fashion-MNIST
    assert guard["fp32_top1"] == pytest.approx(evaluated["top1"]) and guard["count"] == 24


def test_int8_guard_refuses_data_that_does_not_fit_and_a_float_model_at_chance(colour_run, tmp_path):
    import shutil

    data = str(colour_run.parent / "data")
    renamed = tmp_path / "renamed"  # four classes too, by other names
    for split in ("train", "val"):
        for i, name in enumerate(sorted(_COLOURS)):
            shutil.copytree(colour_run.parent / "data" / split / name, renamed / split / f"class{i}")
    with pytest.raises(ValueError, match=r"classes \(blue, green, red, yellow\) are not those of folder:"):
        cnnzoo.deploy(colour_run / "best.safetensors", "onnxruntime", dtype="int8", data=str(renamed))
    five = cnnzoo.create_model("lenet5", in_chans=3, num_classes=5)
    with pytest.raises(ValueError, match="checkpoint has 5 classes, folder:.* has 4"):
        cnnzoo.deploy(five, "onnxruntime", dtype="int8", data=data)
    untrained = cnnzoo.create_model("lenet5", in_chans=3, num_classes=4)
    with torch.no_grad():  # every logit equal: class 0 for every image, 25 % on four balanced classes
        for p in [m for m in untrained.modules() if isinstance(m, torch.nn.Linear)][-1].parameters():
            p.zero_()
    with pytest.raises(ValueError, match=r"cannot judge: the float model scores 25.00 % .* at chance for 4 classes"):
        cnnzoo.deploy(untrained, "onnxruntime", dtype="int8", data=data)


@needs_fmnist
def test_int8_deploy_without_data_refuses_fashion_mnist_for_a_model_it_does_not_fit(colour_run, tmp_path, capsys):
    lone = tmp_path / "lone"  # a checkpoint with no run config beside it: the default data, Fashion-MNIST
    lone.mkdir()
    (lone / "best.safetensors").write_bytes((colour_run / "best.safetensors").read_bytes())
    assert main(["deploy", str(lone / "best.safetensors"), "--int8", "--runtime", "onnxruntime"]) == 2
    assert "the checkpoint has 4 classes, fashion" in capsys.readouterr().err.lower()
    assert [p.name for p in lone.iterdir()] == ["best.safetensors"]  # nothing written
