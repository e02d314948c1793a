"""The zoo table: every registered model with its parameters and GMACs at its default resolution.

The numbers of the zoo's own variants are computed once (``zoo_facts.json``, written by
``scripts/update_readme_table.py`` and checked by the tests), so ``cnnzoo list`` builds nothing; a
variant registered later is measured on the ``meta`` device (no memory, no time) by :func:`measure_facts`.
"""

from __future__ import annotations

import functools

from cnnzoo.analysis.flops import count_macs
from cnnzoo.builder import build_model, count_params
from cnnzoo.registry import ModelFacts, list_models, model_facts, model_info, set_facts_provider
from cnnzoo.tables import format_table

__all__ = ["measure_facts", "zoo_row", "zoo_table"]


def measure_facts(name: str) -> ModelFacts:
    """Parameters, GMACs (at the default input size) and smallest input side of ``name``, measured on ``meta``."""
    info = model_info(name)
    model = build_model(name, device="meta")
    return ModelFacts(params=count_params(model), gmacs=round(count_macs(model, info.input_size) / 1e9, 6),
                      min_size=int(getattr(model, "min_size", 1)))


set_facts_provider(measure_facts)


@functools.cache
def zoo_row(name: str) -> dict:
    """The zoo table's row of one model."""
    info = model_info(name)
    facts = model_facts(name)
    return {
        "name": name,
        "family": info.family,
        "params": facts.params,
        "gmacs": facts.gmacs,
        "input_size": info.input_size,
        "min_size": facts.min_size,
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
