"""Regenerate the README's model table from the registry (parameters and GMACs on the meta device).

    python scripts/update_readme_table.py
"""

from __future__ import annotations

import re
from pathlib import Path

from cnnzoo.registry import list_models
from cnnzoo.zoo import zoo_row

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- model-table:begin -->", "<!-- model-table:end -->"


def table() -> str:
    rows = sorted((zoo_row(n) for n in list_models()), key=lambda r: (r["family"], r["params"]))
    lines = ["| model | family | parameters | GMACs | input | min | paper |", "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        c, h, w = r["input_size"]
        lines.append(f"| `{r['name']}` | {r['family']} | {r['params']:,} | {r['gmacs']:.3f} | {h}×{w}×{c} "
                     f"| {r['min_size']} | {r['paper']} |")
    return "\n".join(lines)


def main() -> None:
    text = README.read_text()
    block = f"{BEGIN}\n{table()}\n{END}"
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        raise SystemExit(f"README.md has no {BEGIN} … {END} block")
    README.write_text(text)
    print(f"README model table: {len(list_models())} models")


if __name__ == "__main__":
    main()
