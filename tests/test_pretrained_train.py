"""``cnnzoo train --pretrained SRC``: fine-tuning from a run directory, a checkpoint or the shipped weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from cnnzoo.cli import main
from cnnzoo.train import TrainConfig
from tests._util import needs_fmnist

_TINY = ["--img-size", "12", "--epochs", "1", "--batch-size", "20", "--num-threads", "1"]


def _folder(root: Path, classes: int = 3, per_class: int = 4) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in range(classes):
            d = root / split / f"c{c}"
            d.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8), "L").save(d / f"{i}.png")
    return root


@needs_fmnist
def test_fine_tune_from_a_run_directory_keeps_the_backbone_and_reinitialises_the_classifier(tmp_path, capsys):
    src = ["train", "--model", "fashion_cnn", *_TINY, "--train-subset", "100", "--test-subset", "40",
           "--out-dir", str(tmp_path), "--name", "src"]
    assert main(src) == 0, capsys.readouterr().err
    capsys.readouterr()
    data = _folder(tmp_path / "data")
    tune = ["train", "--model", "fashion_cnn", "--data", str(data), "--in-chans", "1", *_TINY,
            "--pretrained", str(tmp_path / "src"), "--freeze", "backbone", "--freeze-bn", "true",
            "--out-dir", str(tmp_path), "--name", "tune"]
    assert main(tune) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    assert "classifier re-initialised: the checkpoint has 10 classes, the data 3" in captured.out.splitlines()
    assert "re-initialised and needs training" not in captured.err  # said once, in the header
    source = load_file(tmp_path / "src" / "best.safetensors")
    tuned = load_file(tmp_path / "tune" / "last.safetensors")
    backbone = [k for k in source if not k.startswith("head.")]
    assert backbone and [k for k in backbone if not torch.equal(tuned[k], source[k])] == []
    # the backbone is the source's trained one (not this run's seed-0 initialisation), the classifier is new
    assert (tuned["head.fc.weight"].shape[0], source["head.fc.weight"].shape[0]) == (3, 10)


@needs_fmnist
def test_pretrained_of_another_model_or_missing_fails_before_the_data_and_the_run_directory(tmp_path, capsys):
    src = ["train", "--model", "fashion_cnn", *_TINY, "--train-subset", "40", "--test-subset", "20",
           "--out-dir", str(tmp_path), "--name", "src"]
    assert main(src) == 0, capsys.readouterr().err
    capsys.readouterr()
    nowhere = str(tmp_path / "nowhere")  # checked first: the data directory does not even exist
    for source, expected in (
            (tmp_path / "src", f"cnnzoo train: error: --pretrained {tmp_path / 'src' / 'best.safetensors'}: a "
                               f"checkpoint of fashion_cnn, not of --model lenet5; train --model fashion_cnn or "
                               f"give a lenet5 checkpoint"),
            (tmp_path / "gone.safetensors", f"cnnzoo train: error: --pretrained {tmp_path / 'gone.safetensors'}: "
                                            f"no such file or run directory")):
        args = ["train", "--model", "lenet5", "--data", nowhere, *_TINY, "--pretrained", str(source),
                "--out-dir", str(tmp_path), "--name", "bad"]
        assert main(args) != 0
        assert capsys.readouterr().err.strip().splitlines()[-1] == expected
        assert not (tmp_path / "bad").exists()


def test_pretrained_true_without_shipped_weights_is_one_error(tmp_path, capsys):
    args = ["train", "--model", "resnet8", "--data", str(tmp_path / "nowhere"), *_TINY, "--pretrained", "true",
            "--out-dir", str(tmp_path), "--name", "bad"]
    assert main(args) != 0
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("cnnzoo train: error: --pretrained true: no weights ship with cnnzoo for resnet8 "
                          "(models with shipped weights: fashion_cnn, lenet5"), err
    assert not (tmp_path / "bad").exists()


def test_pretrained_setting_takes_a_recipes_true():
    assert TrainConfig(pretrained=True).pretrained == "true"
    assert TrainConfig(pretrained="yes").pretrained == "true"
    assert TrainConfig(pretrained=False).pretrained is None
    assert TrainConfig(pretrained="runs/a").pretrained == "runs/a"
    with pytest.raises(ValueError, match="pretrained"):
        TrainConfig(pretrained=3)


@needs_fmnist
def test_stem_adapted_to_three_channels_and_a_resume_does_not_load_the_weights_again(tmp_path, capsys):
    src = ["train", "--model", "fashion_cnn", *_TINY, "--train-subset", "40", "--test-subset", "20",
           "--out-dir", str(tmp_path), "--name", "src"]
    assert main(src) == 0, capsys.readouterr().err
    data = _folder(tmp_path / "data")
    weights = tmp_path / "copy.safetensors"
    weights.write_bytes((tmp_path / "src" / "best.safetensors").read_bytes())
    capsys.readouterr()
    tune = ["train", "--model", "fashion_cnn", "--data", str(data), "--in-chans", "3", *_TINY,
            "--pretrained", str(weights), "--freeze", "backbone", "--freeze-bn", "true",
            "--out-dir", str(tmp_path), "--name", "tune"]
    assert main(tune) == 0, capsys.readouterr().err
    assert f"weights: {weights} (cnnzoo layout); stem adapted to 3 input channels" in capsys.readouterr().out
    conv = "features.0.0.weight"
    source, tuned = load_file(weights)[conv], load_file(tmp_path / "tune" / "last.safetensors")[conv]
    assert torch.allclose(tuned, source.repeat(1, 3, 1, 1) / 3)  # the documented rule: tiled, × c / in_chans
    weights.unlink()  # a resume starts from its resume state, not from --pretrained
    assert main(["train", "--resume", str(tmp_path / "tune"), "--epochs", "2"]) == 0, capsys.readouterr().err
    assert "weights:" not in capsys.readouterr().out


@pytest.mark.parametrize("fixture", ["resnet18_torchvision", "resnet18_timm"])
def test_fine_tune_from_a_torchvision_or_timm_file_on_a_grayscale_folder(tmp_path, capsys, fixture):
    """A torchvision or timm file (keys and shapes of the committed reference layout, random values) starts a
    1-channel, 3-class run: the stem is the sum of the RGB filters, the classifier is new, the rest is the file's."""
    import json

    from cnnzoo.weights.loading import detect_layout

    shapes = json.loads((Path(__file__).parent / "fixtures" / "layouts" / f"{fixture}.json").read_text())
    gen = torch.Generator().manual_seed(0)
    def value(key: str, shape: list[int]) -> torch.Tensor:  # small filters, positive BN scales and variances
        if not shape:
            return torch.tensor(1)
        if len(shape) == 1 and key.endswith(("running_var", ".weight")):
            return torch.rand(shape, generator=gen) + 0.5
        return 0.05 * torch.randn(shape, generator=gen)

    weights = {k: value(k, s) for k, s in shapes.items()}
    path = tmp_path / f"{fixture}.pth"
    torch.save(weights, path)
    data = _folder(tmp_path / "data")
    tune = ["train", "--model", "resnet18", "--data", str(data), "--in-chans", "1", "--img-size", "32",
            "--epochs", "1", "--batch-size", "12", "--num-threads", "1", "--pretrained", str(path),
            "--freeze", "backbone", "--freeze-bn", "true", "--out-dir", str(tmp_path), "--name", "tune"]
    assert main(tune) == 0, capsys.readouterr().err
    out = capsys.readouterr().out.splitlines()
    assert "classifier re-initialised: the checkpoint has 1000 classes, the data 3" in out
    import cnnzoo

    reference = cnnzoo.create_model("resnet18")
    _, converted = detect_layout(weights, reference)
    tuned = load_file(tmp_path / "tune" / "last.safetensors")
    stem = next(k for k in tuned if tuned[k].dim() == 4)
    assert torch.allclose(tuned[stem], converted[stem].sum(1, keepdim=True))
    backbone = [k for k in tuned if not k.startswith("head.") and k != stem and tuned[k].is_floating_point()]
    assert backbone and [k for k in backbone if not torch.equal(tuned[k], converted[k].to(tuned[k].dtype))] == []
    assert tuned["head.fc.weight"].shape == (3, 512)
