"""The ``cnnzoo`` command line: a thin layer over the library; each concern adds its sub-commands."""

from __future__ import annotations

import argparse
import importlib
import sys

from cnnzoo._version import __version__

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnnzoo", description="CNN backbones: list, train, analyse, export, deploy.")
    parser.add_argument("--version", action="version", version=f"cnnzoo {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (ValueError, FileNotFoundError, TypeError, RuntimeError, ImportError) as err:
        print(f"cnnzoo {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
