"""Every code block of README.md and docs/*.md runs as written.

The rules (a new block follows them, or is marked ``<!-- docs-test: skip (reason) -->`` on the line before
it, and ``SKIPPED_BLOCKS`` below is raised, so skips cannot grow silently):

* Every fenced block says its language: ``python``, ``bash`` or ``text``.
* ``python`` blocks run in order, one namespace per file (a reader's session), in a working directory that
  holds what the documented previous steps leave: ``runs/demo`` is made by the Makefile's own ``demo``
  recipe with ``cnnzoo train`` made cheap (one epoch on small subsets), ``runs/search/arch/best_arch.yaml``
  is a zoo stage table, the torchvision/timm files are written in their layouts from the layout fixtures,
  and the images are small files. ``cnnzoo.deploy`` keeps its checks but gets a constant ``measure``
  (timing is BENCHMARKS' business).
* ``bash`` blocks: every ``cnnzoo …`` command (also after ``torchrun … -m cnnzoo``) is parsed by the real
  parser, and a ``cnnzoo train`` command is resolved to its checked ``TrainConfig`` (recipe, values). The
  cheap ones run (``RUN_COMMANDS``, ``python -c``; ``eval`` on 500 images), with ``runs/<name>`` standing for
  the demo run; long training, search, shards, and paths outside the working directory (``~``, ``/data``)
  are parse-only. ``make X`` names a target of the Makefile (``make demo`` itself runs in the set-up).
* ``text`` blocks that show command synopses: each ``cnnzoo SUB`` is a sub-command and each ``--flag`` one
  of its options.
* Every ``cnnzoo.a.b`` name in backticks resolves.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

import cnnzoo
from cnnzoo.cli import build_parser, main
from cnnzoo.cli.train import resolve_config
from tests._util import HAVE_FMNIST

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIPPED_BLOCKS = 0  # blocks marked <!-- docs-test: skip (reason) -->; raise only with a reason in the markdown
RUN_COMMANDS = {"list", "info", "predict", "eval"}  # cheap enough to run (and `train --list-recipes`)
LAYOUTS = ROOT / "tests" / "fixtures" / "layouts"
SKIP_MARK = re.compile(r"<!--\s*docs-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")
FENCE = re.compile(r"^```(?P<lang>\S*)\s*$")


def blocks(path: Path) -> list[dict]:
    """The fenced blocks of a markdown file: language, first line number, text and skip mark."""
    out, lines, i = [], path.read_text().splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            prev = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
            out.append(dict(lang=m["lang"], line=i + 1, text="\n".join(lines[i + 1:j]), skip=SKIP_MARK.fullmatch(prev)))
            i = j
        i += 1
    return out


def all_blocks(lang: str | None = None) -> list[tuple[Path, dict]]:
    return [(p, b) for p in DOCS for b in blocks(p) if (lang is None or b["lang"] == lang) and not b["skip"]]


def commands(text: str) -> list[list[str]]:
    """The commands of a bash block: continuation lines joined, comments dropped, split at ``&&``."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        tokens = shlex.split(line, comments=True)
        while tokens:
            cut = tokens.index("&&") if "&&" in tokens else len(tokens)
            out.append(tokens[:cut])
            tokens = tokens[cut + 1:]
    return out


# ------------------------------------------------------------------------------------------- the set-up
def _reference_file(fixture: str, path: Path) -> None:
    """A state dict in a reference layout (keys and shapes from tests/fixtures/layouts), random values."""
    shapes = json.loads((LAYOUTS / f"{fixture}.json").read_text())
    sd = {k: (torch.rand(s) if s else torch.tensor(0)) for k, s in shapes.items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(sd, str(path))
    else:
        torch.save(sd, path)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A working directory with what the docs' earlier steps leave (see the module docstring)."""
    if not HAVE_FMNIST:
        pytest.skip("Fashion-MNIST not installed (dataset-fashion-mnist): `make demo` trains on it")
    from cnnzoo.data import find_fashion_mnist
    from cnnzoo.models.mbconv import dump_arch, zoo_arch

    wd = tmp_path_factory.mktemp("docs")
    # `make demo` itself, its venv a shim whose `cnnzoo` is this checkout's, trained for seconds
    venv = wd / "venv"
    (venv / "bin").mkdir(parents=True)
    (wd / "pyproject.toml").write_text("")
    (venv / ".installed").touch()
    os.utime(venv / ".installed", (os.path.getmtime(wd / "pyproject.toml") + 60,) * 2)
    shim = venv / "bin" / "cnnzoo"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m cnnzoo "$@" --epochs 1 --train-subset 512 '
                    f"--test-subset 500 --no-progress --num-threads 1\n")
    shim.chmod(0o755)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), CNNZOO_DATA=str(find_fashion_mnist()))
    done = subprocess.run(["make", "-f", str(ROOT / "Makefile"), "demo", f"VENV={venv}"], cwd=wd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (wd / "runs" / "demo" / "best.safetensors").is_file(), done.stdout
    # what `cnnzoo search arch` writes, and the files the weights examples name
    (wd / "runs" / "search" / "arch").mkdir(parents=True)
    (wd / "runs" / "search" / "arch" / "best_arch.yaml").write_text(dump_arch(zoo_arch("mnasnet_a1")))
    tv50 = {("fc." + k[len("head.fc."):] if k.startswith("head.fc.") else k): v
            for k, v in cnnzoo.create_model("resnet50").state_dict().items()}
    torch.save(tv50, wd / "resnet50-11ad3fa6.pth")
    _reference_file("resnet18_torchvision", wd / "resnet18.pth")
    _reference_file("efficientnet_b0_timm", wd / "tf_efficientnet_b0.safetensors")
    g = torch.Generator().manual_seed(0)
    Image.fromarray(torch.randint(0, 256, (300, 400, 3), generator=g, dtype=torch.uint8).numpy()).save(
        wd / "photo.jpg")
    for name in ("shoe.png", "shirt.jpg"):
        Image.fromarray(torch.randint(0, 256, (40, 30), generator=g, dtype=torch.uint8).numpy()).save(wd / name)
    return wd


@pytest.fixture
def in_workdir(workdir, monkeypatch) -> Path:
    monkeypatch.chdir(workdir)
    real = cnnzoo.deploy
    monkeypatch.setattr(cnnzoo, "deploy", lambda *a, **k: real(*a, **{"measure": lambda engine, x: 1.0, **k}))
    return workdir


# ------------------------------------------------------------------------------------------------ tests
def test_every_block_says_its_language_and_skips_are_counted():
    found = [(p.name, b["line"], b["lang"]) for p in DOCS for b in blocks(p)]
    assert found, "no code blocks found"
    assert [f for f in found if f[2] not in ("python", "bash", "text")] == []
    skips = [(p.name, b["line"], b["skip"]["reason"]) for p in DOCS for b in blocks(p) if b["skip"]]
    assert len(skips) == SKIPPED_BLOCKS, f"docs-test skips changed: {skips}"


@pytest.mark.parametrize("doc", [p for p in DOCS if any(b["lang"] == "python" for b in blocks(p))],
                         ids=lambda p: p.name)
def test_python_blocks_run(doc, in_workdir, capsys):
    namespace: dict = {}
    for b in blocks(doc):
        if b["lang"] == "python" and not b["skip"]:
            exec(compile(b["text"], f"{doc.name}:{b['line'] + 1}", "exec"), namespace)  # noqa: S102


def _subparser(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    """The (sub-)sub-parser that ``argv`` selects."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and argv and argv[0] in action.choices:
            return _subparser(action.choices[argv[0]], argv[1:])
    return parser


def _cnnzoo_argv(tokens: list[str]) -> list[str] | None:
    if tokens[0] == "cnnzoo":
        return tokens[1:]
    if tokens[0] == "torchrun":
        i = tokens.index("-m")
        assert tokens[i + 1] == "cnnzoo", tokens
        return tokens[i + 2:]
    return None


def _bash_commands() -> list[tuple[str, list[str]]]:
    return [(f"{p.name}:{b['line']}", c) for p, b in all_blocks("bash") for c in commands(b["text"])]


@pytest.mark.parametrize("where,tokens", _bash_commands(), ids=lambda v: v if isinstance(v, str) else None)
def test_bash_commands_parse_and_the_cheap_ones_run(where, tokens, request, capsys):
    argv = _cnnzoo_argv(tokens)
    if tokens[0] == "make":
        assert re.search(rf"^{re.escape(tokens[1])}:", (ROOT / "Makefile").read_text(), re.M), tokens
        return
    if tokens[:2] == ["python", "-c"]:
        exec(tokens[2], {})  # noqa: S102
        return
    assert argv is not None, f"{where}: a command this test does not know: {tokens}"
    argv = [a.replace("runs/<name>", "runs/demo") for a in argv]
    args = build_parser().parse_args(argv)  # an unknown flag or a bad value exits here
    if argv[0] == "train" and not args.list_recipes:
        resolve_config(args, log=lambda _: None)  # recipe names and every value, checked
    local = not any(a.startswith(("~", "/")) for a in argv)
    if local and (argv[0] in RUN_COMMANDS or (argv[0] == "train" and args.list_recipes)):
        request.getfixturevalue("in_workdir")  # only what runs needs the demo run and the files
        cheap = ["--subset", "500"] if argv[0] == "eval" else []  # not the 10,000 test images
        assert main(argv + cheap) == 0, capsys.readouterr().err


def _synopses() -> list[tuple[str, str]]:
    out = []
    for p, b in all_blocks("text"):
        current: list[str] = []
        for line in b["text"].splitlines() + ["cnnzoo"]:
            if line.startswith("cnnzoo") and current:
                out.append((f"{p.name}:{b['line']}", "\n".join(current)))
                current = []
            if line.startswith("cnnzoo ") or (current and line.startswith(" ")):
                current.append(line)
    return out


@pytest.mark.parametrize("where,synopsis", _synopses(), ids=lambda v: v.split("\n")[0][:40])
def test_command_synopses_name_real_commands_and_flags(where, synopsis):
    words = synopsis.split()
    sub = _subparser(build_parser(), words[1:3])
    assert sub.prog != "cnnzoo" or words[1].startswith("-"), f"{where}: no sub-command {words[1]!r}"
    options = {o for a in sub._actions for o in a.option_strings}
    unknown = sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", synopsis)) - options)
    assert unknown == [], f"{where}: {sub.prog} has no {', '.join(unknown)}"


def test_every_cnnzoo_name_in_the_docs_resolves():
    names = {n.rstrip(".") for p in DOCS for code in re.findall(r"`([^`\n]+)`", p.read_text())
             for n in re.findall(r"\bcnnzoo\.[A-Za-z_][A-Za-z0-9_.]*", code)} - {"cnnzoo.checkpoint.v1"}
    missing = []
    for name in sorted(names):
        parts = name.split(".")
        obj, i = None, len(parts)
        while i > 0:  # the longest importable module, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:i]))
                break
            except ModuleNotFoundError:
                i -= 1
        for attr in parts[i:]:
            obj = getattr(obj, attr, None)
        if obj is None:
            missing.append(name)
    assert missing == []
