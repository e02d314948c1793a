"""The checkpoint module: header, atomic writes, safe reading, and models rebuilt exactly as saved."""

import os
import pickle
import warnings

import pytest
import torch

import cnnzoo
from cnnzoo.checkpoint import CheckpointHeader, read_header, read_state_dict, save_checkpoint
from cnnzoo.files import atomic_write, write_text


def _mode(path) -> int:
    return os.stat(path).st_mode & 0o777


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_header_round_trip_and_rebuild(tmp_path):
    torch.manual_seed(0)
    model = cnnzoo.create_model("resnet8", num_classes=10, in_chans=1, stem_kernel=2, stages=4, width=24).eval()
    path = save_checkpoint(model, tmp_path / "r8.safetensors", classes=[f"c{i}" for i in range(10)], img_size=28,
                           epoch=3, accuracy=91.5, dataset="fashion-mnist")
    header = read_header(path)
    assert header.model == "resnet8" and header.num_classes == 10 and header.in_chans == 1 and header.img_size == 28
    assert header.model_kwargs == {"stem_kernel": 2, "stages": 4, "width": 24}
    assert header.classes[3] == "c3" and header.epoch == 3 and header.accuracy == 91.5
    back = cnnzoo.load_checkpoint(path)
    assert back.checkpoint_header == header and not back.training
    assert back.model_info.input_size == (1, 28, 28)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(back(x), model(x))


def test_header_errors(tmp_path):
    model = cnnzoo.create_model("lenet5")
    with pytest.raises(ValueError, match="class names for a model with 10 classes"):
        save_checkpoint(model, tmp_path / "x.safetensors", classes=["a", "b"])
    with pytest.raises(ValueError, match="one value per input channel"):
        save_checkpoint(model, tmp_path / "x.safetensors", mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))
    with pytest.raises(TypeError, match="unknown header field"):
        save_checkpoint(model, tmp_path / "x.safetensors", colour="red")
    with pytest.raises(ValueError, match="lacks num_classes"):
        CheckpointHeader.from_metadata({"format": "cnnzoo.checkpoint.v1", "model": "lenet5"})
    with pytest.raises(ValueError, match="not a cnnzoo checkpoint"):
        CheckpointHeader.from_metadata({"format": "other"})
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("base", ["efficientnet_b0", "mobilenet_v2"])
def test_scaled_models_round_trip(tmp_path, base):
    scaled = cnnzoo.scale_model(base, phi=1).eval()
    n = cnnzoo.count_params(scaled)
    if base == "efficientnet_b0":
        assert n == 7_166_444  # repeats rounded to nearest; the reference's ceil would give B2's 9,109,994
    path = save_checkpoint(scaled, tmp_path / "s.safetensors")
    assert read_header(path).model_kwargs["depth_rounding"] == "round"
    back = cnnzoo.load_checkpoint(path)
    assert cnnzoo.count_params(back) == n
    assert back.model_info.scaling == scaled.model_info.scaling or (
        {k: v for k, v in back.model_info.scaling.items() if k != "phi"}
        == {k: v for k, v in scaled.model_info.scaling.items() if k != "phi"})
    assert back.resolution == scaled.resolution and back.model_info.input_size == scaled.model_info.input_size
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(back(x), scaled(x))


def test_depth_rounding_is_a_constructor_argument():
    ceil = cnnzoo.create_model("efficientnet_b0", width_mult=1.1, depth_mult=1.2, device="meta")
    near = cnnzoo.create_model("efficientnet_b0", width_mult=1.1, depth_mult=1.2, depth_rounding="round",
                               device="meta")
    assert cnnzoo.count_params(near) == 7_166_444 and cnnzoo.count_params(ceil) == 9_109_994  # = B2 (1.1, 1.2)
    with pytest.raises(ValueError, match="depth_rounding must be one of ceil, round"):
        cnnzoo.create_model("mobilenet_v2", depth_rounding="floor", device="meta")


def test_atomic_writes_have_normal_permissions_and_keep_the_old_file(tmp_path):
    want = 0o666 & ~_umask()
    ckpt = save_checkpoint(cnnzoo.create_model("lenet5"), tmp_path / "w.safetensors")
    text = write_text(tmp_path / "a.txt", "first")
    assert _mode(ckpt) == want and _mode(text) == want

    def broken(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "a.txt", broken)
    assert (tmp_path / "a.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "w.safetensors"]


class _Evil:
    def __reduce__(self):
        return (os.system, ("true",))


def test_pickle_refusal_is_one_clean_message(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": _Evil()}, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError) as err:
            read_state_dict(path)
    text = str(err.value)
    assert "never runs pickled code" in text and ("posix.system" in text or "os.system" in text)
    assert "weights_only=False" not in text and "\x1b" not in text and len(text.splitlines()) == 1
    assert not [w for w in caught if "pickle" in str(w.message).lower()]
    # a legacy pickle stream renamed .safetensors is recognised by its bytes, not its name
    (tmp_path / "evil.safetensors").write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(ValueError, match="never runs pickled code|not a valid weight file"):
        cnnzoo.load_checkpoint(tmp_path / "evil.safetensors", "lenet5")


def test_header_is_none_for_foreign_files(tmp_path):
    model = cnnzoo.create_model("lenet5")
    torch.save(model.state_dict(), tmp_path / "w.pth")
    assert read_header(tmp_path / "w.pth") is None
    back = cnnzoo.load_checkpoint(tmp_path / "w.pth", "lenet5")
    assert back.checkpoint_header.classes is None and back.checkpoint_header.source == "w.pth (cnnzoo layout)"
    with pytest.raises(ValueError, match="holds a lenet5 checkpoint, not resnet8"):
        cnnzoo.load_checkpoint(save_checkpoint(model, tmp_path / "l.safetensors"), "resnet8")
