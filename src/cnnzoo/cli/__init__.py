"""The ``cnnzoo`` command line: a thin layer over the library; each concern adds its sub-commands.

Every error a user can cause ends in one line ``cnnzoo COMMAND: error: MESSAGE`` and exit status 2, never
a traceback; Ctrl-C in one line ``cnnzoo COMMAND: interrupted`` and status 130 (a command that saves work
says what it saved before); warnings print as ``cnnzoo: warning: MESSAGE``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import NoReturn

from cnnzoo._version import __version__
from cnnzoo._warn import cli_warnings

# Modules with ``add_parser(subparsers)``; each registers its sub-commands and their handlers.
COMMAND_MODULES = [
    "cnnzoo.cli.zoo",
    "cnnzoo.cli.analysis",
    "cnnzoo.cli.export",
    "cnnzoo.cli.deploy",
    "cnnzoo.cli.weights",
    "cnnzoo.cli.train",
    "cnnzoo.cli.evaluate",
    "cnnzoo.cli.data",
    "cnnzoo.cli.search",
]

#: exceptions whose message is the whole story: printed as one line, exit status 2
USER_ERRORS = (ValueError, TypeError, RuntimeError, ImportError, OverflowError)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (not the usage, which ``--help`` shows)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (`{self.prog} --help` lists the options)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnnzoo", description="CNN backbones: list, train, analyse, export, deploy.")
    parser.add_argument("--version", action="version", version=f"cnnzoo {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def os_error_message(err: OSError) -> str:
    """An operating-system error in words, naming its path: ``runs/x: Read-only file system``."""
    if isinstance(err, NotADirectoryError) and err.filename is not None:
        path = Path(os.fsdecode(err.filename))
        file = next((p for p in (path, *path.parents) if p.exists()), None)  # the file in the way
        if file is not None and not file.is_dir():
            return f"{file}: a file where a directory is expected"
    if err.strerror and err.filename is not None:
        where = f"{err.filename}" + (f" -> {err.filename2}" if err.filename2 is not None else "")
        return f"{where}: {err.strerror}"
    return err.strerror or str(err) or type(err).__name__


def error_message(err: BaseException) -> str:
    """The message of an exception, without the C++ stack trace that torch appends to some of its own."""
    text = str(err)
    return text.split("\nException raised from ", 1)[0].rstrip() or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    """Run ``cnnzoo`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    command = ""
    with cli_warnings():
        try:
            args = build_parser().parse_args(argv)
            command = args.command
            return int(args.handler(args) or 0)
        except BrokenPipeError:  # the reader of stdout has gone (`cnnzoo list | head`): nothing left to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141
        except KeyboardInterrupt:
            print(f"cnnzoo{' ' + command if command else ''}: interrupted", file=sys.stderr)
            return 130
        except USER_ERRORS as err:
            message = error_message(err)
        except OSError as err:  # a file where a directory is expected, read-only output, a full disk
            message = os_error_message(err)
        except MemoryError:
            message = "out of memory (a smaller batch size or image size needs less)"
    print(f"cnnzoo{' ' + command if command else ''}: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
