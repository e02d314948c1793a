"""The package's structure: each room imports only from the rooms below it (imports inside functions
count), so no import cycle; a passive registry; the zoo facts computed once and still true."""

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


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The ids of the import nodes under ``if TYPE_CHECKING:`` (annotations only: never run, exempt)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return out


def _import_graph() -> dict[str, set[str]]:
    """Every cnnzoo module → the cnnzoo modules it imports anywhere in its file (functions included;
    imports under ``if TYPE_CHECKING:`` left out)."""
    files = {_module_of(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        targets: set[str] = set()
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        tree = ast.parse(path.read_text())
        annotations_only = _type_checking_only(tree)
        for node in ast.walk(tree):
            if id(node) in annotations_only:
                continue
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


# The rooms of src/cnnzoo (its top-level modules and packages), bottom to top as README.md's Layout lists
# them (the private _version and _warn at the very bottom, unlisted): each imports only from its own room
# and the rooms before it. ``cnnzoo`` itself (the public API) and ``__main__`` sit above them all.
ROOMS = [
    "_version", "_warn", "limits", "files", "optional", "registry", "device", "timing", "tables",
    "layers", "models", "necks", "data", "builder", "weights", "checkpoint", "factory",
    "export", "train", "inference", "analysis", "search", "zoo", "cli",
]
TOP = {"cnnzoo", "cnnzoo.__main__"}


def _room(module: str) -> str:
    return module.split(".")[1]


def _climbs(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes to a room listed after the importer's."""
    rank = {room: i for i, room in enumerate(ROOMS)}
    return sorted(f"{mod} -> {target}" for mod, targets in graph.items() if mod not in TOP
                  for target in targets if rank[_room(target)] > rank[_room(mod)])


def test_every_module_is_in_a_room():
    rooms = {_room(mod) for mod in _import_graph() if mod not in TOP}
    assert rooms <= set(ROOMS), f"add {sorted(rooms - set(ROOMS))} to ROOMS and README.md's Layout"
    assert set(ROOMS) <= rooms


def test_each_room_imports_only_from_the_rooms_below_it():
    assert _climbs({"cnnzoo.device": {"cnnzoo.tables"}, "cnnzoo.cli.zoo": {"cnnzoo.zoo"}}) == [
        "cnnzoo.device -> cnnzoo.tables"]
    assert _climbs(_import_graph()) == []


def test_imports_for_annotations_only_are_exempt():
    tree = ast.parse("import os\nif TYPE_CHECKING:\n    from cnnzoo.train import engine\n")
    exempt = [type(n).__name__ for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
              and id(n) in _type_checking_only(tree)]
    assert exempt == ["ImportFrom"]


def test_layout_lists_the_rooms_in_order():
    readme = (SRC.parents[1] / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    listed = [line.split()[0].removesuffix("/").removesuffix(".py") for line in layout.splitlines()
              if line.startswith("  ") and not line.startswith("   ")]
    assert [room for room in listed if room in ROOMS] == [room for room in ROOMS if not room.startswith("_")]


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
