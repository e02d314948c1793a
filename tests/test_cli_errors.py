"""Every error a user can cause ends in one line of the command line, never a traceback or a hang."""

from __future__ import annotations

import argparse
import errno
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cnnzoo
import cnnzoo.cli as cli
import cnnzoo.cli.zoo
import cnnzoo.train
from cnnzoo._warn import format_warning
from cnnzoo.cli import build_parser, main
from cnnzoo.device import usable_cores
from cnnzoo.train import TrainConfig
from cnnzoo.train.config import MAX_WORKERS, check_setting, settings

_HUGE = str(10**20)


def _run(argv: list[str], capsys) -> tuple[int, list[str]]:
    """The exit status of ``cnnzoo ARGV`` (argparse's exit included) and its stderr lines."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err.splitlines()


def _one_error_line(lines: list[str], command: str) -> str:
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"cnnzoo {command}: error: ") or lines[0].startswith("cnnzoo: error: "), lines
    return lines[0]


@pytest.fixture
def no_training(monkeypatch):
    """``cnnzoo train`` up to its checked configuration; the configurations it would have trained."""
    started: list[TrainConfig] = []
    monkeypatch.setattr(cnnzoo.train, "train", lambda cfg, resume=False: started.append(cfg))
    return started


# ------------------------------------------------------------------------------------ --workers

def test_the_workers_bound_is_the_cores_or_8():
    assert max(8, 2 * usable_cores()) == MAX_WORKERS
    assert check_setting("workers", MAX_WORKERS) == MAX_WORKERS and check_setting("workers", 0) == 0
    with pytest.raises(ValueError, match=rf"workers: expected an integer in \[0, {MAX_WORKERS}\] or none"):
        check_setting("workers", MAX_WORKERS + 1)


@pytest.mark.parametrize("argv", [
    ["train", "--config", "none"],
    ["eval", "no-such-run"],
    ["deploy", "lenet5"],  # deploy and search decode in the main process: no --workers to give
    ["search", "arch", "--target-latency", "5"],
])
def test_every_command_refuses_a_fork_bomb_of_workers_in_one_line(argv, tmp_path, monkeypatch, capsys,
                                                                  no_training):
    monkeypatch.chdir(tmp_path)
    code, lines = _run([*argv, "--workers", "100000"], capsys)
    line = _one_error_line(lines, argv[0])
    assert code == 2 and ("--workers" in line or "workers:" in line), line
    assert no_training == [] and list(tmp_path.iterdir()) == []


def test_the_largest_number_of_workers_is_accepted(tmp_path, capsys, no_training):
    assert main(["train", "--config", "none", "--workers", str(MAX_WORKERS), "--out-dir", str(tmp_path)]) == 0
    assert no_training[0].workers == MAX_WORKERS
    args = build_parser().parse_args(["eval", "x", "--workers", str(MAX_WORKERS)])
    assert args.workers == MAX_WORKERS


# ------------------------------------------------------------------------------------ train's flags

def _value_flags(parser: argparse.ArgumentParser) -> list[str]:
    """The flags of ``parser`` that take one value, as ``--help`` lists them."""
    return [a.option_strings[-1] for a in parser._actions
            if a.option_strings and a.nargs is None and not isinstance(a, argparse._HelpAction)
            and a.option_strings[-1].startswith("--") and a.const is None]


def _train_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


_TRAIN_FLAGS = [f for f in _value_flags(_train_parser()) if f not in ("--config", "--set")]
_SWEEP = ["0", "-1", "1e20", "nan", "inf", "-inf", _HUGE, "9" * 5000]


def test_the_sweep_covers_every_numeric_setting():
    numeric = {f"--{s.name.replace('_', '-')}" for s in settings().values() if s.flag and s.type in (int, float)}
    assert numeric and numeric <= set(_TRAIN_FLAGS)


@pytest.mark.parametrize("flag", _TRAIN_FLAGS)
def test_a_train_flag_takes_a_value_or_refuses_it_in_one_line(flag, tmp_path, capsys, monkeypatch, no_training):
    parser = build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)  # one parser for the sweep: fast
    out = tmp_path / "runs"
    for value in _SWEEP:
        code, lines = _run(["train", "--config", "none", "--out-dir", str(out), flag, value], capsys)
        if code == 0:
            assert len(no_training) == 1, (flag, value)
            no_training.clear()
        else:
            assert code == 2, (flag, value, lines)
            _one_error_line(lines, "train")
        assert not out.exists()


@pytest.mark.parametrize("name", ["img_size", "prog_img_size_start", "seed", "num_threads", "crop_padding",
                                  "in_chans", "ra_n", "workers"])
def test_integers_that_size_memory_or_processes_are_bounded_in_the_settings(name, tmp_path, capsys, no_training):
    s = settings()[name]
    assert s.le is not None and f"{s.le}]" in s.expected()
    for value in (10**20, 1e20, s.le + 1):
        with pytest.raises(ValueError, match=rf"^{name}: expected an integer in \["):
            check_setting(name, value)
    check_setting(name, s.le)
    # the same check for a flag, --set and a recipe file
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"{name}: {10**20}\n")
    flag = f"--{name.replace('_', '-')}"
    for argv in ([flag, _HUGE], ["--set", f"{name}={_HUGE}"], ["--set", f"{name}=1.0e+20"], ["--config", str(recipe)]):
        code, lines = _run(["train", *argv], capsys)
        assert code == 2 and f"{name}: expected an integer in [" in _one_error_line(lines, "train"), argv
    assert no_training == []


def test_a_huge_number_is_not_repeated_in_the_error(capsys, no_training):
    code, lines = _run(["train", "--img-size", "9" * 5000], capsys)
    assert code == 2 and "(5002 characters)" in _one_error_line(lines, "train") and len(lines[0]) < 200


# ------------------------------------------------------------------------------------ other flags

@pytest.mark.parametrize("value", ["-1", "nan", "inf", "-inf", "x"])
def test_export_atol_is_finite_and_not_negative(value, capsys):
    code, lines = _run(["export", "lenet5", "--format", "onnx", f"--atol={value}"], capsys)
    assert code == 2 and "--atol" in _one_error_line(lines, "export")


@pytest.mark.parametrize("command", ["export lenet5 --format onnx", "deploy lenet5"])
def test_img_size_of_export_and_deploy_is_the_settings_range(command, capsys):
    for value in ("1e20", _HUGE, "0"):
        code, lines = _run([*command.split(), "--img-size", value], capsys)
        assert code == 2 and "[1, 4096]" in _one_error_line(lines, command.split()[0])


def test_a_bad_command_line_is_one_line_not_the_usage(capsys):
    code, lines = _run(["eval", "x", "--batch-size", "0"], capsys)
    assert code == 2 and "--batch-size" in _one_error_line(lines, "eval")
    code, lines = _run(["no-such-command"], capsys)
    assert code == 2 and "invalid choice" in _one_error_line(lines, "")


# ------------------------------------------------------------------------------------ errors of the system

def _list_raises(monkeypatch, error: BaseException) -> None:
    def handler(args):
        raise error
    monkeypatch.setattr(cnnzoo.cli.zoo, "_list", handler)


@pytest.mark.parametrize("error, message", [
    (OSError(errno.EROFS, "Read-only file system", "runs/r/best.safetensors"),
     "runs/r/best.safetensors: Read-only file system"),
    (OSError(errno.ENOSPC, "No space left on device", "out/x.onnx"), "out/x.onnx: No space left on device"),
    (PermissionError(errno.EACCES, "Permission denied", "out"), "out: Permission denied"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "data/x.png"), "data/x.png: Is a directory"),
    (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
    (FileNotFoundError("runs/r: no such run directory"), "runs/r: no such run directory"),
    (OverflowError("cannot convert float infinity to integer"), "cannot convert float infinity to integer"),
    (MemoryError(), "out of memory"),
])
def test_system_errors_are_one_line_naming_the_path(error, message, monkeypatch, capsys):
    _list_raises(monkeypatch, error)
    code, lines = _run(["list"], capsys)
    assert code == 2 and _one_error_line(lines, "list").startswith(f"cnnzoo list: error: {message}")


def test_not_a_directory_names_the_file_in_the_way(tmp_path, monkeypatch, capsys):
    (tmp_path / "runs").write_text("a file")
    _list_raises(monkeypatch, NotADirectoryError(errno.ENOTDIR, "Not a directory", str(tmp_path / "runs/r/x")))
    assert _run(["list"], capsys) == (2, [f"cnnzoo list: error: {tmp_path / 'runs'}: a file where a directory is "
                                          "expected"])


def test_torchs_cpp_stack_trace_is_left_out(monkeypatch, capsys):
    _list_raises(monkeypatch, RuntimeError('zeros(): argument \'size\' failed: "Overflow when unpacking long long\n'
                                           'Exception raised from THPUtils_unpackLong at x.h:79\nframe #0: c10::Error'))
    code, lines = _run(["list"], capsys)
    assert code == 2 and lines == ["cnnzoo list: error: zeros(): argument 'size' failed: \"Overflow when unpacking "
                                   "long long"]


@pytest.mark.parametrize("flag", ["--batch", "--num-classes", "--in-chans"])
def test_counts_are_bounded_before_torch_sizes_overflow(flag, capsys):
    code, lines = _run(["export", "lenet5", "--format", "onnx", flag, _HUGE], capsys)
    assert code == 2 and f"argument {flag}: expected a positive integer (at most 2147483647)" in lines[0]
    assert len(_one_error_line(lines, "export")) < 200


def test_ctrl_c_is_one_line_and_status_130(monkeypatch, capsys):
    _list_raises(monkeypatch, KeyboardInterrupt())
    assert _run(["list"], capsys) == (130, ["cnnzoo list: interrupted"])


def _folder(root: Path, bad: bool = False) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("a", "b"):
            (root / split / cls).mkdir(parents=True)
            for i in range(3):
                Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / split / cls / f"{i}.png")
    if bad:
        (root / "train" / "a" / "bad.png").write_bytes(b"not an image")
    return root


_TINY = ["--model", "lenet5", "--config", "none", "--epochs", "1", "--img-size", "32", "--data-cache", "memory",
         "--no-progress"]


def test_a_file_where_the_runs_directory_should_be_is_one_line_naming_it(tmp_path, capsys):
    data = _folder(tmp_path / "data")
    file = tmp_path / "runs"
    file.write_text("a file")
    code, lines = _run(["train", "--data", str(data), *_TINY, "--out-dir", str(file)], capsys)
    assert code == 2 and str(file) in _one_error_line(lines, "train")
    assert file.read_text() == "a file"


def test_the_in_memory_skip_warning_is_one_line_without_a_source_line(tmp_path):
    data = _folder(tmp_path / "data", bad=True)
    env = {**os.environ, "PYTHONPATH": str(Path(cnnzoo.__file__).parents[1])}  # this checkout's cnnzoo
    run = subprocess.run([sys.executable, "-m", "cnnzoo", "train", "--data", str(data), *_TINY, "--out-dir",
                          str(tmp_path / "runs")], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, lines  # the warning, and nothing else: no source line, no file:line
    assert lines[0].startswith("cnnzoo: warning: skipped an image that cannot be decoded: ")
    assert lines[0].endswith("bad.png: cannot decode image (not an image file of a format Pillow reads)")


def test_warnings_keep_their_format_outside_the_command_line(capsys):
    main(["list", "lenet5"])
    assert warnings.formatwarning is not format_warning
    assert format_warning("two\n lines", UserWarning, "x.py", 3) == "cnnzoo: warning: two lines\n"
