"""Files: reading the text files a user names (recipes, stage tables, coefficients, run configs), and
writing every file cnnzoo writes.

An error about a file that cannot be parsed says which file, where (line and column) and what was
expected — never the file's content: a parser's own message quotes the offending line, so pointing a
loader at any local file would print it.

Every file cnnzoo writes goes through :func:`atomic_write`: a temporary file in the same directory,
flushed and fsynced, renamed over the target, with the permissions of any new file (umask); a kill at
any moment leaves the previous complete file, and :func:`remove_stale_temps` clears what it left.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

__all__ = ["read_yaml", "yaml_error", "atomic_write", "write_text", "write_bytes", "write_csv", "remove_stale_temps"]


def yaml_error(path: str | os.PathLike, err: Exception, expected: str) -> ValueError:
    """The error for a file that is not valid YAML: the file, the position, what is expected; no content."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f"error at line {mark.line + 1}, column {mark.column + 1}; " if mark is not None else ""
    return ValueError(f"{path} is not a valid YAML file ({where}expected {expected})")


def read_yaml(path: str | os.PathLike, expected: str) -> Any:
    """The YAML (or JSON) content of ``path``; ``expected`` (e.g. "a mapping of settings") completes
    the error for a file that is not UTF-8 text or not valid YAML, which never quotes the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{p} is not a valid YAML file (not UTF-8 text; expected {expected})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise yaml_error(p, err, expected) from None
    except RecursionError:  # nesting deeper than Python's stack
        raise ValueError(f"{p} is not a valid YAML file (nested too deeply; expected {expected})") from None


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)``, then fsync and rename the temporary file onto ``path``.

    The file gets the permissions of any new file (``0666 & ~umask``); on any error the temporary
    file is removed and ``path`` keeps its previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


_TEMP = re.compile(r"^\..+\..+\.tmp$")  # ".<name>.<random>.tmp", as mkstemp names them below


def remove_stale_temps(directory: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Delete the temporary files that a killed :func:`atomic_write` left in ``directory`` (and the
    ``.<name>.<random>.tmp/`` directories of a killed two-file write, such as an OpenVINO IR); with
    ``name``, only those of the file ``name``. Returns them."""
    d = Path(directory)
    stale = [p for p in d.iterdir() if _TEMP.match(p.name) and (name is None or p.name.startswith(f".{name}."))
             and not p.is_symlink()] if d.is_dir() else []
    for p in stale:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return stale


def write_csv(path: str | os.PathLike, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` (dicts; the columns in order of first appearance) as CSV, atomically: a reader, or a
    kill, never sees half a file. No rows: nothing is written."""
    if not rows:
        return
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    write_text(path, buf.getvalue())
