"""Warnings that point at the user's line (the first caller outside the cnnzoo package), and the one-line
form the command line prints them in."""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

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


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    stream = sys.stderr if file is None else file
    if stream is None:  # pythonw: nowhere to print
        return
    with contextlib.suppress(OSError):
        stream.write(format_warning(message, category, filename, lineno, line))


@contextlib.contextmanager
def cli_warnings() -> Iterator[None]:
    """Within: every warning (cnnzoo's, torch's, a DataLoader worker's) prints as one line of
    :func:`format_warning` on stderr; the warning machinery is restored on exit."""
    formatwarning = warnings.formatwarning
    with warnings.catch_warnings():  # restores showwarning and the filters, not formatwarning
        warnings.formatwarning = format_warning
        warnings.showwarning = _show_warning
        try:
            yield
        finally:
            warnings.formatwarning = formatwarning
