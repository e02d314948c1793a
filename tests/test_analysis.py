"""The seeds' worked numbers, the MAC formulas, and the profiler / latency / bench code."""

import json
import math

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.analysis import count_macs, measure_latency, profile_model, profile_ops
from cnnzoo.analysis.bench import bench_models, plot_macs_vs_latency, rows_to_csv, rows_to_table
from cnnzoo.analysis.formulas import (
    basic_block_params,
    bottleneck_params,
    conv1x1_mac,
    conv1x1_mac_lower_bound,
    conv_macs,
    conv_params,
    depthwise_separable_params,
    efficientnet_flops_factor,
    grouped_conv1x1_mac,
    grouped_conv1x1_mac_at_flops,
)
from cnnzoo.analysis.latency import matmul_peak
from cnnzoo.cli import main
from cnnzoo.device import parse_dtype, resolve_device
from cnnzoo.timing import round_order


def meta_profile(model: nn.Module, shape: tuple[int, ...]):
    return profile_ops(model.to("meta"), torch.zeros(shape, device="meta"))


# -- the seeds' worked numbers ------------------------------------------------------------------
def test_conv_and_depthwise_separable_weights():
    assert conv_params(16, 32, 3) == 4_608
    assert depthwise_separable_params(16, 32, 3) == 656
    # …and real modules agree
    with torch.device("meta"):
        conv = nn.Conv2d(16, 32, 3, bias=False)
        sep = nn.Sequential(nn.Conv2d(16, 16, 3, groups=16, bias=False), nn.Conv2d(16, 32, 1, bias=False))
    assert cnnzoo.count_params(conv) == 4_608
    assert cnnzoo.count_params(sep) == 656


def test_basic_block_and_bottleneck_weights_at_256_channels():
    assert basic_block_params(256) == 1_179_648
    assert bottleneck_params(256, 64) == 69_632
    with torch.device("meta"):
        basic = nn.Sequential(nn.Conv2d(256, 256, 3, bias=False), nn.Conv2d(256, 256, 3, bias=False))
        bottleneck = nn.Sequential(nn.Conv2d(256, 64, 1, bias=False), nn.Conv2d(64, 64, 3, bias=False),
                                   nn.Conv2d(64, 256, 1, bias=False))
    assert cnnzoo.count_params(basic) == 1_179_648
    assert cnnzoo.count_params(bottleneck) == 69_632


@pytest.mark.parametrize("c", [32, 64])
def test_5x5_versus_two_3x3_at_equal_width(c):
    # Inception-v3 §3.1: two 3×3 see 5×5 with 18/25 of the weights and multiply-adds (28% fewer).
    assert conv_params(c, c, 5) == 25 * c * c
    assert 2 * conv_params(c, c, 3) == 18 * c * c
    one = meta_profile(nn.Conv2d(c, c, 5, padding=2, bias=False), (1, c, 17, 17)).total["macs"]
    two = meta_profile(nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False),
                                     nn.Conv2d(c, c, 3, padding=1, bias=False)), (1, c, 17, 17)).total["macs"]
    assert one == conv_macs(c, c, 5, 17, 17)
    assert two / one == pytest.approx(18 / 25)


# -- memory access cost (ShuffleNetV2 §2) -------------------------------------------------------
@pytest.mark.parametrize("h,w,c1,c2", [(56, 56, 64, 64), (28, 28, 32, 128), (7, 7, 512, 16)])
def test_profiler_mac_of_1x1_conv_is_shufflenet_formula(h, w, c1, c2):
    prof = meta_profile(nn.Conv2d(c1, c2, 1, bias=False), (1, c1, h, w))
    assert prof.total["mac_elements"] == conv1x1_mac(h, w, c1, c2) == h * w * (c1 + c2) + c1 * c2
    assert prof.total["mac_bytes"] == 4 * conv1x1_mac(h, w, c1, c2)
    assert prof.total["macs"] == h * w * c1 * c2


def test_1x1_mac_is_smallest_with_equal_channels_at_fixed_flops():
    h = w = 28
    product = 256 * 256  # c1·c2 fixed ⇒ FLOPs B = hw·c1·c2 fixed
    pairs = [(c1, product // c1) for c1 in (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)]
    macs = {pair: conv1x1_mac(h, w, *pair) for pair in pairs}
    assert min(macs, key=macs.get) == (256, 256)
    flops = h * w * product
    assert conv1x1_mac(h, w, 256, 256) == pytest.approx(conv1x1_mac_lower_bound(h, w, flops))
    assert all(m >= conv1x1_mac_lower_bound(h, w, flops) for m in macs.values())


def test_grouped_1x1_mac_grows_with_groups_at_fixed_flops():
    h = w = 56
    # c1 = c2 = c with c²/g fixed keeps the FLOPs B = hw·c²/g fixed (ShuffleNetV2 Table 2's set-up)
    settings = [(1, 128), (4, 256), (16, 512)]
    flops = {g: h * w * c * c // g for g, c in settings}
    assert len(set(flops.values())) == 1
    macs = []
    for g, c in settings:
        prof = meta_profile(nn.Conv2d(c, c, 1, groups=g, bias=False), (1, c, h, w))
        assert prof.total["macs"] == flops[g]
        assert prof.total["mac_elements"] == grouped_conv1x1_mac(h, w, c, c, g)
        assert grouped_conv1x1_mac(h, w, c, c, g) == pytest.approx(grouped_conv1x1_mac_at_flops(h, w, c, flops[g], g))
        macs.append(prof.total["mac_elements"])
    assert macs == sorted(macs) and macs[0] < macs[-1]


def test_efficientnet_flops_double_per_phi():
    # α·β²·γ² = 1.2 · 1.1² · 1.15² ≈ 1.92 ≈ 2 (Eq. 3), so FLOPs ≈ 2**φ
    assert efficientnet_flops_factor(1) == pytest.approx(1.2 * 1.1**2 * 1.15**2)
    for phi in range(1, 8):
        f = efficientnet_flops_factor(phi)
        assert 0.7 * 2**phi < f <= 2**phi
        assert math.log2(f) == pytest.approx(phi, rel=0.06)


def test_efficientnet_variants_flops_grow_about_2_per_phi():
    names = [f"efficientnet_b{i}" for i in range(8) if f"efficientnet_b{i}" in cnnzoo.list_models("efficientnet_b*")]
    if len(names) < 2 or names[0] != "efficientnet_b0":
        pytest.skip("the EfficientNet B-series is not registered")
    base = cnnzoo.model_info("efficientnet_b0")
    b0 = count_macs(cnnzoo.create_model("efficientnet_b0", device="meta"), base.input_size)
    for name in names[1:]:
        phi = int(name[-1])
        info = cnnzoo.model_info(name)
        macs = count_macs(cnnzoo.create_model(name, device="meta"), info.input_size)
        # the released variants round widths, depths and resolutions: 2**φ within a factor of 2
        assert 2 ** (phi - 1) < macs / b0 < 2 ** (phi + 0.5), name


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match="groups"):
        conv_params(16, 30, 3, groups=4)


# -- the one MAC counter ----------------------------------------------------------------------------
class _Functional(nn.Module):
    """Operators called functionally, outside nn.Conv2d / nn.Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(6, 4, 3, 3))
        self.up = nn.ConvTranspose2d(6, 2, 2, stride=2)
        self.fc = nn.Linear(10, 3)

    def forward(self, x):
        y = self.up(nn.functional.conv2d(x, self.w, padding=1, groups=2))  # (N, 6, 5, 5) -> (N, 2, 10, 10)
        z = torch.bmm(y.flatten(2), y.flatten(2).transpose(1, 2))  # (N, 2, 100) @ (N, 100, 2)
        return self.fc(z.flatten(1).repeat(1, 5).view(-1, 2, 10))  # a linear layer on a 3-d input


def test_count_macs_counts_every_operator_that_multiplies():
    n = 2
    expected = (conv_macs(8, 6, 3, 5, 5, groups=2)  # functional grouped convolution
                + 6 * 5 * 5 * 2 * 2 * 2  # transposed: every input pixel scatters a (C_out, 2, 2) kernel
                + 2 * 100 * 2  # bmm
                + 2 * 10 * 3)  # linear on (N, 2, 10)
    model = _Functional().to("meta").train()
    assert count_macs(model, (8, 5, 5), batch_size=n) == n * expected
    assert model.training  # its mode is restored
    assert meta_profile(model, (n, 8, 5, 5)).total["macs"] == n * expected


@pytest.mark.parametrize("name", ["lenet5", "fashion_cnn", "squeezenet1_1", "mobilenet_v3_small"])
def test_count_macs_equals_the_profilers_per_layer_sum(name):
    model = cnnzoo.create_model(name, device="meta")
    size = cnnzoo.model_info(name).input_size
    assert count_macs(model, size) == meta_profile(model, (1, *size)).total["macs"]


@pytest.mark.parametrize("name,gmacs", [("resnet50", 4.089), ("efficientnet_b0", 0.386),
                                        ("mobilenet_v3_large", 0.217)])
def test_count_macs_matches_the_readme_table(name, gmacs):
    info = cnnzoo.model_info(name)
    assert round(count_macs(cnnzoo.create_model(name, device="meta"), info.input_size) / 1e9, 3) == gmacs


def test_zoo_profile_and_bench_tables_share_the_formatter():
    from cnnzoo.zoo import zoo_table

    text = zoo_table("resnet50").split("\n")
    assert text[0].split() == ["model", "family", "params", "GMACs", "input", "min", "paper"]
    assert len(text) == 3 and " 4.089 " in text[2] and set(text[1]) == {"-", " "}
    md = zoo_table("resnet50", markdown=True).split("\n")
    assert md[1].startswith("|-------") and md[1].count("---:|") == 3  # params, GMACs, min: right-aligned
    prof = profile_model("fashion_cnn", latency=False).to_table(max_rows=2).split("\n")
    assert prof[1] == prof[-3] and "… " in prof[4] and prof[-2].startswith("TOTAL")


# -- the profiler --------------------------------------------------------------------------------
def test_depthwise_conv_macs_are_divided_by_groups():
    prof = meta_profile(nn.Conv2d(64, 64, 3, padding=1, groups=64, bias=False), (2, 64, 14, 14))
    assert prof.total["macs"] == 2 * 14 * 14 * 64 * 9 == 2 * conv_macs(64, 64, 3, 14, 14, groups=64)
    assert prof.total["params"] == 64 * 9


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)) + x)  # the add belongs to this module itself


def test_functional_ops_are_charged_to_their_module():
    prof = meta_profile(_Residual(), (1, 8, 10, 10))
    rows = {layer.name: layer for layer in prof.layers}
    assert set(rows) == {"", "conv", "bn", "act"}
    top = rows[""]
    assert top.kernels == 1 and top.elementwise == 1  # the residual add
    assert top.mac_elements == 3 * 8 * 10 * 10  # reads two maps, writes one
    assert rows["bn"].elementwise == 1 and rows["act"].elementwise == 1
    assert rows["act"].activation_bytes == 0  # in place
    assert rows["conv"].macs == 8 * 8 * 9 * 100
    assert prof.total["params"] == 8 * 8 * 9 + 16
    assert prof.total["kernels"] == 4 and prof.total["elementwise"] == 3


def test_profile_matches_count_macs_and_params_on_fashion_cnn():
    model = cnnzoo.create_model("fashion_cnn", device="meta")
    prof = profile_ops(model, torch.zeros(1, 1, 28, 28, device="meta"), name="fashion_cnn")
    assert prof.total["macs"] == count_macs(model, (1, 28, 28))
    assert prof.total["params"] == 1_413_834
    assert prof.total["intensity"] == pytest.approx(2 * prof.total["macs"] / prof.total["mac_bytes"])
    assert all(layer.mac_bytes == 4 * layer.mac_elements for layer in prof.layers if layer.kind == "Conv2d")


def test_profile_model_outputs_table_json_csv_and_latency():
    prof = profile_model("fashion_cnn", batch_size=2, warmup=1, repeats=2)
    d = json.loads(prof.to_json())
    assert d["input_shape"] == [2, 1, 28, 28]
    assert d["total"]["macs"] == 2 * count_macs(cnnzoo.create_model("fashion_cnn", device="meta"), (1, 28, 28))
    lat = d["latency"]
    for key in ("median_ms", "iqr_ms", "min_ms", "max_ms", "threads", "device", "warmup", "repeats", "throughput"):
        assert key in lat
    assert lat["median_ms"] > 0 and lat["threads"] >= 1 and lat["repeats"] == 2 and lat["device"] == "cpu"
    csv_text = prof.to_csv().splitlines()
    assert csv_text[0].startswith("name,kind,params,macs")
    assert csv_text[-1].startswith("TOTAL") and len(csv_text) == len(prof.layers) + 2
    table = prof.to_table()
    assert "TOTAL" in table and "1,413,834" in table and "latency on cpu" in table


def test_profile_errors():
    with pytest.raises(ValueError, match="Unknown model"):
        profile_model("no_such_model", latency=False)
    with pytest.raises(ValueError, match="at least 8"):
        profile_model("fashion_cnn", img_size=4, latency=False)
    with pytest.raises(ValueError, match="batch size"):
        profile_model("fashion_cnn", batch_size=0, latency=False)


def test_cuda_absent_is_a_clear_error():
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
        return
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        profile_model("fashion_cnn", device="cuda")
    with pytest.raises(ValueError, match="cpu' or 'cuda"):
        resolve_device("tpu")


# -- latency, peak, bench ------------------------------------------------------------------------
def test_measure_latency_structure():
    lat = measure_latency(nn.Linear(4, 4), torch.zeros(3, 4), warmup=0, repeats=3)
    assert lat["repeats"] == 3 and lat["batch"] == 3
    assert 0 < lat["min_ms"] <= lat["median_ms"] <= lat["max_ms"]
    assert lat["throughput"] == pytest.approx(3 / (lat["median_ms"] / 1e3))
    with pytest.raises(ValueError, match="repeats"):
        measure_latency(nn.Identity(), torch.zeros(1), repeats=0)
    cpu = measure_latency(nn.Linear(64, 64), torch.zeros(8, 64), warmup=0, repeats=2, clock="process")
    assert cpu["clock"] == "process" and cpu["median_ms"] >= 0
    with pytest.raises(ValueError, match="clock"):
        measure_latency(nn.Identity(), torch.zeros(1), clock="sundial")


def test_matmul_peak_and_dtypes():
    peak = matmul_peak("fp32", n=64, repeats=2, warmup=1)
    assert peak["gflops"] > 0 and peak["dtype"] == "float32" and peak["n"] == 64
    assert parse_dtype("bf16") is torch.bfloat16 and parse_dtype(None) is torch.float32
    with pytest.raises(ValueError, match="fp32, bf16, fp16"):
        parse_dtype("int8")


def test_bench_rows_table_csv_and_plot(tmp_path):
    rows = bench_models(["fashion_cnn"], batches=[1, 2], warmup=0, repeats=2, channels_last=True, optimize=True)
    assert [r["batch"] for r in rows] == [1, 2]
    for r in rows:
        assert r["latency_ms"] > 0 and r["throughput"] > 0 and r["gmacs"] == pytest.approx(0.089466496)
        assert r["optimize"] and r["channels_last"]
    assert "fashion_cnn" in rows_to_table(rows)
    assert rows_to_csv(rows).splitlines()[0].startswith("model,runtime,batch")
    png = tmp_path / "plot.png"
    plot_macs_vs_latency(rows, str(png))
    assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="batch sizes"):
        bench_models(["fashion_cnn"], batches=[0])


def test_bench_jit_path_at_a_custom_size():
    # compile="jit" traces at the benchmark's image size (not the model's default 224)
    rows = bench_models(["resnet18"], batches=[2], img_size=64, warmup=0, repeats=1, optimize=True, compile="jit")
    assert rows[0]["compile"] == "jit" and rows[0]["throughput"] > 0
    assert " jit " in rows_to_table(rows)
    with pytest.raises(ValueError, match="add --optimize"):
        bench_models(["resnet18"], img_size=64, compile="jit")


# -- the command line ----------------------------------------------------------------------------
def test_cli_profile_and_bench(tmp_path, capsys):
    out_json, out_csv = tmp_path / "p.json", tmp_path / "p.csv"
    assert main(["profile", "fashion_cnn", "--no-latency", "--json", str(out_json), "--csv", str(out_csv)]) == 0
    assert "TOTAL" in capsys.readouterr().out
    assert json.loads(out_json.read_text())["total"]["params"] == 1_413_834
    assert out_csv.read_text().startswith("name,kind")
    png = tmp_path / "b.png"
    assert main(["bench", "fashion_cnn", "--batch", "1,2", "--repeats", "1", "--warmup", "0", "--plot", str(png)]) == 0
    assert png.exists() and "img/s" in capsys.readouterr().out


def test_cli_errors(capsys):
    assert main(["profile", "nope_net", "--no-latency"]) == 2
    assert "Unknown model" in capsys.readouterr().err
    assert main(["profile", "fashion_cnn", "--img-size", "3", "--no-latency"]) == 2
    assert "at least 8" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "fashion_cnn", "--batch", "1,x"])


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_round_order_is_balanced_for_position_and_predecessor(n):
    keys = list("ABCDE"[:n])
    period = n if n % 2 == 0 else 2 * n
    rows = [round_order(keys, r) for r in range(period)]
    assert all(sorted(row) == keys for row in rows)
    follows = {(a, b): 0 for a in keys for b in keys if a != b}
    for row in rows:
        for a, b in zip(row, row[1:], strict=False):
            follows[(a, b)] += 1
    assert len(set(follows.values())) == 1  # every key right after every other equally often
    firsts = [row[0] for row in rows]
    assert all(firsts.count(k) == firsts.count(keys[0]) for k in keys)
    assert round_order(keys, period) == rows[0] and round_order([], 3) == [] and round_order(["A"], 1) == ["A"]


def test_measure_latency_returns_every_call_in_order(monkeypatch):
    import cnnzoo.timing as timing

    clock = [0.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock[0])
    steps = iter([0.005, 0.001, 0.003])

    def fn(x):  # each call takes 5, 1, then 3 ms of the fake clock
        clock[0] += next(steps)

    r = measure_latency(fn, torch.zeros(2), warmup=0, repeats=3)
    assert r["times_ms"] == pytest.approx([5.0, 1.0, 3.0])
    assert r["median_ms"] == pytest.approx(3.0) and r["min_ms"] == pytest.approx(1.0) and r["repeats"] == 3
