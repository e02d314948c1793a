"""Tables for people: one formatter for aligned text and Markdown (zoo list, profiles, benchmarks, reports).

Cells may be strings (kept as they are) or numbers: floats are written with ``floatfmt``
(``".2f"`` by default), ints in full, ``None`` as ``-``. A column is right-aligned when all its
cells are numbers (or strings that read as numbers, such as ``"1,234"``, ``"0.386"`` or ``"95.1%"``),
left-aligned otherwise, unless ``align`` says otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["format_cell", "format_table", "confusion_table", "plural"]

_NUMBER = re.compile(r"^[-+]?(\d[\d,]*)?\.?\d+(e[-+]?\d+)?%?$", re.IGNORECASE)
_ALIGN = {"l": "<", "r": ">", "c": "^"}


def plural(n: float, word: str, many: str | None = None, fmt: str = "") -> str:
    """``n`` and ``word`` agreeing with it, for every count shown to people: ``plural(1, "epoch")`` is
    "1 epoch", ``plural(2, "class")`` "2 classes", ``plural(12000, "image", fmt=",")`` "12,000 images".
    ``many`` is the plural where adding -s (-es after s, x, z, sh) is wrong: "batches", "indices"."""
    if many is None:
        many = word + ("es" if word.endswith(("s", "x", "z", "sh")) else "s")
    return f"{format(n, fmt)} {word if n == 1 else many}"


def format_cell(value: Any, floatfmt: str = ".2f") -> str:
    """One cell as text: a float by ``floatfmt``, ``None`` as ``-``, anything else by ``str``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, floatfmt)
    return str(value)


def _is_number(value: Any, text: str) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) or bool(_NUMBER.match(text))


def _alignment(header: Sequence[str], raw: list[list[Any]], cells: list[list[str]], align: str | None) -> str:
    if align is not None:
        if len(align) != len(header) or set(align) - set(_ALIGN):
            raise ValueError(f"align must hold one of l, r, c per column ({len(header)} columns), got {align!r}")
        return align
    out = []
    for j in range(len(header)):
        col = [(r[j], c[j]) for r, c in zip(raw, cells, strict=True) if c[j] not in ("", "-")]
        out.append("r" if col and all(_is_number(v, t) for v, t in col) else "l")
    return "".join(out)


def format_table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str | None = None,
                 markdown: bool = False, floatfmt: str = ".2f") -> str:
    """``rows`` under ``header`` as aligned text (columns two spaces apart, a rule under the header) or, with
    ``markdown``, as a padded Markdown table; ``align`` is one letter per column: ``l``, ``r`` or ``c``."""
    header = [str(h) for h in header]
    raw = [list(r) for r in rows]
    for i, r in enumerate(raw):
        if len(r) != len(header):
            raise ValueError(f"row {i} has {len(r)} cells, the header {len(header)}")
    cells = [[format_cell(v, floatfmt) for v in r] for r in raw]
    if markdown:
        header = [h.replace("|", "\\|") for h in header]
        cells = [[c.replace("|", "\\|") for c in r] for r in cells]
    sides = _alignment(header, raw, cells, align)
    widths = [max(len(r[j]) for r in [header, *cells]) for j in range(len(header))]

    def line(r: Sequence[str]) -> str:
        padded = [format(c, f"{_ALIGN[a]}{w}") for c, a, w in zip(r, sides, widths, strict=True)]
        return ("| " + " | ".join(padded) + " |") if markdown else "  ".join(padded).rstrip()

    if markdown:
        rule = "|" + "|".join({"l": "-" * (w + 2), "r": "-" * (w + 1) + ":", "c": ":" + "-" * w + ":"}[a]
                              for a, w in zip(sides, widths, strict=True)) + "|"
    else:
        rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in cells)])


def confusion_table(cm: Any, classes: Sequence[str], markdown: bool = False) -> str:
    """A confusion matrix (rows: true class, columns: predicted), as a table; ``cm`` is a (K, K) tensor,
    array or nested list of counts, ``classes`` its K names (shortened to 10 characters)."""
    counts = cm.tolist() if hasattr(cm, "tolist") else [list(r) for r in cm]
    k = len(classes)
    if len(counts) != k or any(len(r) != k for r in counts):
        raise ValueError(f"the confusion matrix must be {k}×{k} for {plural(k, 'class')}")
    return format_table(["true \\ pred"] + [str(i) for i in range(k)],
                        [[f"{i} {classes[i][:10]}"] + [int(v) for v in counts[i]] for i in range(k)],
                        markdown=markdown)
