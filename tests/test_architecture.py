"""The shape of course_lib, read from its imports: no circle between modules, and no arrow that runs up the
floors below (lower floors never import higher ones). Every import counts, also those inside functions.

A new module or package must be given a floor here: the list is the architecture, written once."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_lib"

# Bottom to top. A room is a top-level module or a subpackage of course_lib ("__init__" is the package itself).
FLOORS = [
    {"__init__", "names", "lazy_imports", "cli", "config", "files", "timing", "arrays", "resources"},  # foundations
    {"cache", "images", "download", "schedule"},       # the course's logistics stand apart from the vision code
    {"datasets", "pooling", "descriptor_cache", "evaluation"},
    {"models"},
    {"features", "regions"},
    {"transforms"},
    {"index"},
    {"rerank"},
    {"experiment"},
    {"train", "detection"},
    {"viz", "exercises", "project"},
    {"widgets", "release", "grading", "notebook_cells"},
    {"commands", "__main__"},                            # the command line: nothing below imports it
]
FLOOR = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """{module: modules of course_lib it imports}, imports inside functions included."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([node.module] if node.module else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target.startswith("course_lib") and target != name:
                    graph[name].add(target)
    for name in modules:
        graph.setdefault(name, set())
    return graph


def room(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert circles(import_graph()) == []


def test_every_room_has_a_floor():
    rooms = {room(m) for m in import_graph()}
    assert rooms - set(FLOOR) == set(), "give each new module or package a floor in FLOORS"
    assert set(FLOOR) - rooms == set(), "a floor names a room that no longer exists"


def upward_arrows(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets if FLOOR[room(b)] > FLOOR[room(a)])


def test_no_arrow_runs_up_the_floors():
    assert upward_arrows(import_graph()) == []


def test_the_checks_catch_a_circle_and_an_arrow_up():
    graph = {"course_lib.a": {"course_lib.b"}, "course_lib.b": {"course_lib.a"}, "course_lib.c": set()}
    assert circles(graph) == [["course_lib.a", "course_lib.b"]]
    assert upward_arrows({"course_lib.features": {"course_lib.pooling"}}) == []
    assert upward_arrows({"course_lib.pooling.x": {"course_lib.features"}}) == ["course_lib.pooling.x -> course_lib.features"]


@pytest.mark.parametrize("layer", ["cli", "schedule"])
def test_the_toolkit_and_the_schedule_import_no_vision_code(layer):
    vision = {"datasets", "models", "pooling", "features", "index", "detection", "train", "experiment", "commands"}
    reached = {room(b) for a, targets in import_graph().items() if room(a) == layer for b in targets}
    assert reached & vision == set()


def test_the_downloader_imports_only_files_and_config():
    """Datasets and network weights both use course_lib.download: below it, only files and config."""
    reached = {room(b) for a, targets in import_graph().items() if room(a) == "download" for b in targets}
    assert reached <= {"download", "__init__", "files", "config"}
