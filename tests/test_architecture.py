"""The import graph: no cycles, and arrows only where a row of ``ALLOWED`` draws them.

``ingest → index ← assistant ← slack_app``, with ``bpa`` (the CLI) on top; inside
``assistant/`` the wings have rows of their own: answering imports only ``index``; state
knows no answering; the edges (``assistant.http``, ``slack_app``) see only the public face.
Every module is parsed, not imported, and every import counts, also one inside a function
(it runs when called). Imports under ``if TYPE_CHECKING:`` do not run, so they may point
anywhere a row allows, but they count for cycles: a cycle of type-only imports is still a
knot a reader has to untie.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bpa", "ingest", "index", "assistant", "slack_app")
# The assistant's public face: what an edge may import. "=assistant" is the package's own
# __init__ (its re-exports), not everything under it.
FACE = {
    "=assistant",
    "assistant.protocol",
    "assistant.types",
    "assistant.errors",
    "assistant.privacy",
    "assistant.suggest",
    "assistant.ratelimit",
    "assistant.kcs",
}
# Rows: a module takes the row of the longest key that is it or contains it; the row lists the
# modules it may import (a name covers itself and everything under it; "=x" covers x alone).
ALLOWED: dict[str, set[str]] = {
    "index": {"index"},
    "ingest": {"ingest", "index"},
    # the face itself: cheap, and nothing of the wings
    "assistant": FACE | {"index"},
    "assistant.answering": {"assistant.answering", "index"},
    "assistant.state": {"assistant.state", "assistant.errors", "assistant.privacy", "assistant.types"},
    "assistant.render": FACE | {"assistant.answering", "index"},
    "assistant.service": FACE | {"assistant.answering", "assistant.render", "assistant.state", "index"},
    "assistant.maintenance": FACE
    | {
        "assistant.maintenance",
        "assistant.service",
        "assistant.render",
        "assistant.answering",
        "assistant.state",
        "index",
    },
    # the HTTP edge: the face, and the report's types and errors to serve /v1/admin/report
    # the HTTP edge: the face, and the report (types, errors, renderers) for /v1/admin/report
    "assistant.http": FACE
    | {"assistant.http", "index"}
    | {f"assistant.maintenance.{m}" for m in ("report", "report_html", "report_text")},
    "slack_app": FACE | {"slack_app", "assistant.http.errors", "index"},
    "bpa": set(PACKAGES),
}


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path = ROOT) -> dict[str, Path]:
    return {_module_name(p, root): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, bool]]:
    """Every dotted name an import statement of ``module`` loads, with whether it runs
    (False under ``if TYPE_CHECKING:``)."""
    names: list[tuple[str, bool]] = []

    def visit(node: ast.AST, runs: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for statement in node.body:
                visit(statement, False)
            for statement in node.orelse:
                visit(statement, runs)
            return
        if isinstance(node, ast.Import):
            names.extend((alias.name, runs) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                package = module.split(".")
                package = package if is_package else package[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # ``from pkg import sub`` loads the submodule; ``from mod import attr`` resolves
            # back to ``mod`` in import_graph.
            names.extend((f"{base}.{alias.name}", runs) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child, runs)

    visit(tree, True)
    return names


def _resolve(imported: str, modules: dict[str, Path]) -> str:
    while imported and imported not in modules:
        imported = imported.rpartition(".")[0]
    return imported


def import_graph(root: Path = ROOT, *, type_only: bool = True) -> dict[str, set[str]]:
    """module -> the project modules it imports (``type_only``: also under TYPE_CHECKING). A
    name that is an attribute, not a module, resolves to the module that defines it; the
    parent packages Python runs on the way to a submodule are not edges (they would make
    every package a cycle)."""
    modules = _modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for imported, runs in _imported_names(tree, name, path.name == "__init__.py"):
            if imported.split(".")[0] not in PACKAGES or not (runs or type_only):
                continue
            target = _resolve(imported, modules)
            if target and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def private_imports(root: Path = ROOT) -> list[str]:
    """``from a.b import _name`` across rows: one wing reaching into another's private names."""
    modules = _modules(root)
    bad = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if node.module.split(".")[0] not in PACKAGES:
                continue
            target = _resolve(node.module, modules)
            if _row(target) == _row(name):
                continue
            bad.extend(f"{name} -> {node.module}.{a.name}" for a in node.names if a.name.startswith("_"))
    return bad


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path) per strongly connected component that has one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:  # Tarjan; the graph is small enough for recursion
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    start = min(component)
    path, seen = [start], {start}
    while True:
        nxt = min(n for n in graph[path[-1]] if n in component)
        if nxt in seen:
            return [*path[path.index(nxt) :], nxt]
        path.append(nxt)
        seen.add(nxt)


def _row(module: str) -> str:
    """The key of the row that governs ``module``: the longest key that is it or contains it."""
    keys = [k for k in ALLOWED if module == k or module.startswith(k + ".")]
    return max(keys, key=len)


def _covers(allowed: str, target: str) -> bool:
    if allowed.startswith("="):
        return target == allowed[1:]
    return target == allowed or target.startswith(allowed + ".")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad: list[str] = []
    for module, targets in sorted(graph.items()):
        allowed = ALLOWED[_row(module)]
        bad.extend(f"{module} -> {t}" for t in sorted(targets) if not any(_covers(a, t) for a in allowed))
    return bad


def test_the_walk_sees_the_imports_it_must_judge() -> None:
    # Guards the walker itself: known edges (top-level, in-function, from-package) are found.
    graph = import_graph()
    assert "index.errors" in graph["ingest.sources.base"]
    assert "index.settings" in graph["bpa.app"]
    assert "index.embedding.factory" in graph["bpa.ingesting"]  # imported inside a command function
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert upward_imports({"index.x": {"assistant.y"}, "assistant.y": {"index.x"}}) == ["index.x -> assistant.y"]


def test_no_import_cycles() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_imports_only_point_down() -> None:
    bad = upward_imports(import_graph())
    assert not bad, "imports against ingest → index ← assistant ← slack_app (bpa on top): " + ", ".join(bad)


def test_no_wing_imports_another_wings_private_names() -> None:
    bad = private_imports()
    assert not bad, "private names imported across rows: " + ", ".join(bad)


def _copy_tree(tmp_path: Path) -> Path:
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            target = tmp_path / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


# One planted import per wing, each against its row (and a type-only one: it counts too).
PLANTED = [
    ("index/snapshot/store.py", "from assistant import Answer", "index.snapshot.store -> assistant"),
    (
        "ingest/pipeline.py",
        "from assistant.maintenance.gate import EvaluationGate",
        "ingest.pipeline -> assistant.maintenance.gate",
    ),
    (
        "assistant/types.py",
        "from assistant.answering.pipeline import Trace",
        "assistant.types -> assistant.answering.pipeline",
    ),
    (
        "assistant/answering/compose.py",
        "from assistant.state import GuardedState",
        "assistant.answering.compose -> assistant.state",
    ),
    (
        "assistant/answering/retrieval.py",
        "import assistant.service",
        "assistant.answering.retrieval -> assistant.service",
    ),
    (
        "assistant/state/store.py",
        "from assistant.answering.pipeline import run",
        "assistant.state.store -> assistant.answering.pipeline",
    ),
    (
        "assistant/service.py",
        "from assistant.maintenance.report import GapReporter",
        "assistant.service -> assistant.maintenance.report",
    ),
    (
        "assistant/maintenance/report.py",
        "from assistant.http.app import create_app",
        "assistant.maintenance.report -> assistant.http.app",
    ),
    ("assistant/http/api.py", "from assistant.service import Assistant", "assistant.http.api -> assistant.service"),
    (
        "assistant/http/pages.py",
        "if TYPE_CHECKING:\n    from assistant.answering.retrieval import Scored",
        "assistant.http.pages -> assistant.answering.retrieval",
    ),
    ("slack_app/app.py", "from assistant.state import open_store", "slack_app.app -> assistant.state"),
]


@pytest.mark.parametrize(("module", "planted", "edge"), PLANTED, ids=[m for m, _, _ in PLANTED])
def test_a_planted_import_against_a_row_fails(tmp_path: Path, module: str, planted: str, edge: str) -> None:
    root = _copy_tree(tmp_path)
    assert not upward_imports(import_graph(root))
    path = root / module
    path.write_text(path.read_text(encoding="utf-8") + "\n" + planted + "\n", encoding="utf-8")
    assert upward_imports(import_graph(root)) == [edge]


def test_a_planted_private_import_across_wings_fails(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    path = root / "assistant/maintenance/gate.py"
    path.write_text(path.read_text(encoding="utf-8") + "\nfrom assistant.answering.evidence import _overlap\n")
    assert private_imports(root) == ["assistant.maintenance.gate -> assistant.answering.evidence._overlap"]


def test_a_type_only_cycle_is_a_cycle(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    path = root / "index/textutil.py"
    path.write_text(path.read_text(encoding="utf-8") + "\nif TYPE_CHECKING:\n    from index.snapshot import Snapshot\n")
    assert find_cycles(import_graph(root))
