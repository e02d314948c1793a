"""The package's structure: no import cycle (imports inside functions count), a passive registry, the
zoo facts computed once and still true."""

from __future__ import annotations

import ast
from pathlib import Path

import cnnzoo
from cnnzoo import builder, registry
from cnnzoo.zoo import zoo_table

SRC = Path(cnnzoo.__file__).resolve().parent


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Every cnnzoo module → the cnnzoo modules it imports anywhere in its file (functions included)."""
    files = {_module_of(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        targets: set[str] = set()
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            for name in names:
                while name and name not in files:
                    name = name.rpartition(".")[0]
                if name.startswith("cnnzoo") and name != mod:
                    targets.add(name)
        graph[mod] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_src():
    graph = _import_graph()
    assert "cnnzoo.checkpoint" in graph["cnnzoo.factory"] and "cnnzoo.builder" in graph["cnnzoo.checkpoint"]
    assert _cycles(graph) == []


def test_registry_is_a_passive_catalogue():
    assert _import_graph()["cnnzoo.registry"] == set()
    assert "cnnzoo.models" not in _import_graph()["cnnzoo.registry"]


def test_zoo_table_builds_nothing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the zoo table must not build models")

    monkeypatch.setattr(builder, "build_model", refuse)
    monkeypatch.setattr("cnnzoo.zoo.build_model", refuse)
    assert "resnet50" in zoo_table("resnet5*")


def test_shipped_zoo_facts_cover_every_model():
    # each model's facts are measured afresh in tests/test_models_common.py
    assert sorted(registry._shipped_facts()) == sorted(cnnzoo.list_models())


def test_a_model_registered_later_is_measured():
    from cnnzoo.models.lenet import lenet5

    def lenet5_for_structure_test(**kwargs):
        return lenet5(**kwargs)

    registry.register_model(paper="test", input_size=(1, 32, 32), num_classes=10)(lenet5_for_structure_test)
    try:
        info, ref = cnnzoo.model_info("lenet5_for_structure_test"), cnnzoo.model_info("lenet5")
        assert (info.params, info.min_size) == (ref.params, ref.min_size)
    finally:
        del registry._REGISTRY["lenet5_for_structure_test"]
        registry.model_facts.cache_clear()
