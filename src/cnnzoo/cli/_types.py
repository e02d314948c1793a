"""Argument types shared by the command files: each rejects bad input with a message argparse prints."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from cnnzoo.train.config import check_setting, settings

__all__ = ["positive_int", "setting_arg", "tolerance"]


def positive_int(text: str) -> int:
    """An integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def setting_arg(name: str) -> Callable[[str], Any]:
    """The argument type of a flag that means what training setting ``name`` means (``--workers``,
    ``--img-size``): checked against that setting's range, the one definition for every command."""
    settings()[name]  # a KeyError here is a typo in a command file

    def parse(text: str) -> Any:
        try:
            return check_setting(name, text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix(f"{name}: ")) from None

    parse.__name__ = name  # argparse names the type in some messages
    return parse


def tolerance(text: str) -> float:
    """A finite number >= 0 (an ``--atol``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value
