"""Warnings that point at the user's line (the first caller outside the cnnzoo package), and the one-line
form the command line prints them in."""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

_PACKAGE = str(Path(__file__).resolve().parent)


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` with the ``stacklevel`` of the first frame outside cnnzoo."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def format_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                   line: str | None = None) -> str:
    """A warning as the command line prints it: ``cnnzoo: warning: MESSAGE`` on one line, without the
    file, line number or source line (the signature of :func:`warnings.formatwarning`)."""
    text = " ".join(str(message).split())
    return f"cnnzoo: warning: {text}\n"


@contextlib.contextmanager
def cli_warnings() -> Iterator[None]:
    """Within: every warning printed (cnnzoo's, torch's, a forked DataLoader worker's) is one line of
    :func:`format_warning`. Only the format changes: filters, and anyone recording warnings
    (``pytest.warns``, ``warnings.catch_warnings(record=True)``), work as before."""
    formatwarning = warnings.formatwarning
    warnings.formatwarning = format_warning
    try:
        yield
    finally:
        warnings.formatwarning = formatwarning
