"""Measure every registered model once (parameters, GMACs, smallest input; on the meta device) into
``src/cnnzoo/zoo_facts.json``, the table `cnnzoo list` and `model_info(...).params` read, and
regenerate the README's model table from it.

    python scripts/update_readme_table.py
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from cnnzoo.files import write_text
from cnnzoo.registry import list_models
from cnnzoo.tables import format_table
from cnnzoo.zoo import measure_facts, zoo_row

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FACTS = ROOT / "src" / "cnnzoo" / "zoo_facts.json"


def facts_json() -> str:
    """The facts of every registered model, measured afresh, as the JSON text of ``zoo_facts.json``."""
    return json.dumps({n: dataclasses.asdict(measure_facts(n)) for n in list_models()}, indent=1) + "\n"
BEGIN, END = "<!-- model-table:begin -->", "<!-- model-table:end -->"


def table() -> str:
    rows = sorted((zoo_row(n) for n in list_models()), key=lambda r: (r["family"], r["params"]))
    body = [[f"`{r['name']}`", r["family"], f"{r['params']:,}", f"{r['gmacs']:.3f}",
             "×".join(map(str, r["input_size"][1:])) + f"×{r['input_size'][0]}", r["min_size"], r["paper"]]
            for r in rows]
    return format_table(["model", "family", "parameters", "GMACs", "input", "min", "paper"], body,
                        align="llrrrrl", markdown=True)


def main() -> None:
    write_text(FACTS, facts_json())
    text = README.read_text()
    block = f"{BEGIN}\n{table()}\n{END}"
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        raise SystemExit(f"README.md has no {BEGIN} … {END} block")
    write_text(README, text)
    print(f"{FACTS.name} and the README model table: {len(list_models())} models")


if __name__ == "__main__":
    main()
