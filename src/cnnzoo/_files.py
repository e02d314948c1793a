"""Reading the text files a user names (recipes, stage tables, coefficients, run configs).

An error about a file that cannot be parsed says which file, where (line and column) and what was
expected — never the file's content: a parser's own message quotes the offending line, so pointing a
loader at any local file would print it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

__all__ = ["read_yaml", "yaml_error"]


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
