"""Issue 22 (security): no error message quotes the content of a file it could not parse. Pointing any
loader (stage tables, coefficients, recipes, run configs, training states, weight files) at a local
text file must not print its lines: a parser's own message quotes the offending line."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

import cnnzoo
from cnnzoo.checkpoint import convert_checkpoint, load_weights, read_header, read_state_dict
from cnnzoo.cli import main
from cnnzoo.factory import load_coefficients
from cnnzoo.models.mbconv import load_arch
from cnnzoo.train.config import load_recipe
from cnnzoo.train.state import load_state

SECRET = "hunter2-SECRET-9f8e7d"
TEXT_FILES = {  # each makes YAML's own message quote the line it stopped at
    "env": f"root:x:0:0:root:/root:/bin/bash\nAWS_SECRET_ACCESS_KEY={SECRET}\npassword: {SECRET}\n",
    "flow.yaml": f"token: [{SECRET}\nnext: 1\n",
    "alias.yaml": f"token: *{SECRET}\n",
    "tag.yaml": f"token: !!python/object:{SECRET} {{}}\n",
}


def _safetensors(header: dict) -> bytes:
    """A file that passes safetensors' first check (length + '{') with a header that its parser rejects,
    quoting the value in its own message."""
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * 4


@pytest.fixture
def secret_files(tmp_path) -> list[Path]:
    files = []
    for name, text in TEXT_FILES.items():
        (tmp_path / name).write_text(text)
        files.append(tmp_path / name)
    for name, tensor in (("dtype", {"dtype": SECRET, "shape": [1], "data_offsets": [0, 4]}),
                         ("shape", {"dtype": "F32", "shape": SECRET, "data_offsets": [0, 4]})):
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(_safetensors({"w": tensor}))
        files.append(path)
    return files


LOADERS = {
    "load_arch": load_arch,
    "create_model(mbconv, arch=)": lambda p: cnnzoo.create_model("mbconv", arch=p, device="meta"),
    "load_coefficients": load_coefficients,
    "scale_model(coefficients=)": lambda p: cnnzoo.scale_model("mobilenet_v2", phi=1, coefficients=p, device="meta"),
    "load_recipe": load_recipe,
    "load_state": load_state,
    "read_state_dict": read_state_dict,
    "read_header": read_header,
    "load_checkpoint": cnnzoo.load_checkpoint,
    "load_checkpoint(model)": lambda p: cnnzoo.load_checkpoint(p, "lenet5"),
    "create_model(pretrained=)": lambda p: cnnzoo.create_model("lenet5", pretrained=p),
    "load_weights": lambda p: load_weights(cnnzoo.create_model("lenet5"), p),
    "convert_checkpoint": lambda p: convert_checkpoint(p, p.with_name("out.safetensors"), "lenet5"),
}


@pytest.mark.parametrize("loader", list(LOADERS))
def test_loaders_never_quote_a_file_they_cannot_parse(secret_files, loader):
    for path in secret_files:
        try:
            LOADERS[loader](path)
        except (ValueError, TypeError, FileNotFoundError) as err:
            text = str(err)
            assert SECRET not in text and "root:x" not in text, (path.name, text)
            assert err.__cause__ is None or SECRET not in str(err.__cause__)
        else:
            assert loader == "read_header"  # a file without a cnnzoo header: None, nothing to report


def test_yaml_errors_say_where_and_what_was_expected(tmp_path):
    path = tmp_path / "arch.yaml"
    path.write_text(TEXT_FILES["flow.yaml"])
    with pytest.raises(ValueError) as err:
        load_arch(path)
    assert str(err.value) == (f"{path} is not a valid YAML file (error at line 2, column 5; expected a stage table: "
                              f"a mapping with 'stages', or a list of stage rows)")
    path.write_bytes(b"\xff\xfe" + SECRET.encode())
    with pytest.raises(ValueError, match=r"is not a valid YAML file \(not UTF-8 text; expected a mapping of settings"):
        load_recipe(path)


def test_the_cli_never_quotes_a_file_it_cannot_parse(secret_files, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    for path in secret_files:
        (run / "config.yaml").write_bytes(path.read_bytes())
        commands = [
            ["train", "--config", str(path)],
            ["train", "--resume", str(run)],
            ["eval", str(path)],
            ["eval", str(path), "--model", "lenet5"],
            ["export", str(path), "--model", "lenet5", "--format", "onnx", "-o", str(tmp_path / "x.onnx")],
            ["convert", str(path), str(tmp_path / "x.safetensors"), "--model", "lenet5"],
        ]
        for argv in commands:
            assert main(argv) == 2, argv
            out = capsys.readouterr()
            text = out.out + out.err
            assert "error:" in out.err and SECRET not in text and "root:x" not in text, (argv, text)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".onnx", ".safetensors")) == \
        ["dtype.safetensors", "shape.safetensors"]


def test_idx_errors_quote_no_bytes_of_the_file(tmp_path):
    from cnnzoo.data.idx import read_idx

    for name in ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"):
        path = tmp_path / name
        path.write_bytes(b"hu" + SECRET.encode())
        with pytest.raises(ValueError) as err:
            read_idx(path)
        text = str(err.value)
        assert b"hu".hex() not in text and "b'hu'" not in text and SECRET not in text, text
