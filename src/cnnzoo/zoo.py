"""The zoo table: every registered model with its parameters and GMACs at its default resolution."""

from __future__ import annotations

import functools

from cnnzoo.analysis.flops import count_macs
from cnnzoo.registry import count_params, create_model, list_models, model_info
from cnnzoo.tables import format_table


@functools.cache
def zoo_row(name: str) -> dict:
    """Facts of one model, measured on the ``meta`` device (no memory, no time)."""
    info = model_info(name)
    model = create_model(name, device="meta")
    return {
        "name": name,
        "family": info.family,
        "params": count_params(model),
        "gmacs": count_macs(model, info.input_size) / 1e9,
        "input_size": info.input_size,
        "min_size": model.min_size,
        "paper": info.paper,
    }


def zoo_table(pattern: str = "*", markdown: bool = False) -> str:
    """The table of models matching ``pattern`` as aligned text or Markdown."""
    rows = [zoo_row(n) for n in list_models(pattern)]
    header = ["model", "family", "params", "GMACs", "input", "min", "paper"]
    body = [
        [r["name"], r["family"], f"{r['params']:,}", f"{r['gmacs']:.3f}",
         "×".join(map(str, r["input_size"][1:])) + f"×{r['input_size'][0]}", str(r["min_size"]), r["paper"]]
        for r in rows
    ]
    return format_table(header, body, align="llrrlrl", markdown=markdown)
