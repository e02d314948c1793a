"""The command line describes itself: ``--version`` and a help text for every argument of every command."""

import argparse
import re

import pytest

from cnnzoo._version import __version__
from cnnzoo.cli import build_parser, main


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """``(path, parser)`` of the parser and every (sub-)sub-parser below it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_version_prints_the_package_version(capsys):
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"cnnzoo {__version__}\n"


def test_every_argument_of_every_command_has_a_help_text():
    missing = [f"cnnzoo {' '.join(path)} {'/'.join(a.option_strings) or a.dest}"
               for path, parser in _parsers(build_parser()) for a in parser._actions
               if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)
               and not (a.help or "").strip()]
    assert missing == []


def test_every_command_prints_its_help(capsys):
    paths = [path for path, _ in _parsers(build_parser())]
    assert ("predict",) in paths and ("search", "arch") in paths
    for path in paths:
        with pytest.raises(SystemExit) as done:
            main([*path, "--help"])
        assert done.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: cnnzoo {' '.join(path)}".rstrip())
