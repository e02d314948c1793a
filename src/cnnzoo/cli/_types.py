"""Argument types shared by the command files: each rejects bad input with a message argparse prints."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from cnnzoo.train.config import check_setting, settings

__all__ = ["MAX_COUNT", "positive_int", "setting_arg", "tolerance"]


#: the largest count any flag takes (a batch, a number of images or rounds): torch sizes are 64-bit and
#: nothing this large fits in memory, so a larger value is a typo, refused before anything is built
MAX_COUNT = 2**31 - 1


def positive_int(text: str) -> int:
    """An integer in [1, :data:`MAX_COUNT`]."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text[:40]!r}") from None
    if not 1 <= value <= MAX_COUNT:
        shown = str(value) if len(str(value)) <= 40 else f"{str(value)[:20]}… ({len(str(value))} digits)"
        raise argparse.ArgumentTypeError(f"expected a positive integer (at most {MAX_COUNT}), got {shown}")
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
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text[:40]!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text[:40]}")
    return value
