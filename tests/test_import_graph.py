"""The import graph of the `ecrf` package: no cycle between its modules, and no import inside a function
(where one would hide a cycle) except those allowed below, each for its reason.

Read from the sources with `ast`, without importing anything. Only imports of `ecrf.*` modules make
edges (`forms`, Flask and the rest are outside the package). An edge goes to the module named (the
most specific existing `ecrf.*` module); the parent packages Python also initialises are not edges,
as they run first and import nothing of ecrf in turn. Imports under `if TYPE_CHECKING:` never run,
so they make no edge and may stand where a runtime import could not.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "ecrf"

_FACTORY = "the app factory imports the app's parts when it builds an app (Flask's application factory): importing one ecrf module does not load every model, view and receiver"
_COMMAND = "a command imports what only it runs (the demo data, the nightly pass, APScheduler), not every app built"

#: (module, function) whose imports run late on purpose, and why. They must not hide a cycle either:
#: their edges are part of the graph checked for cycles.
ALLOWED_LATE = {
    ("ecrf", "create_app"): _FACTORY,
    ("ecrf", "_register_url_converters"): _FACTORY,
    ("ecrf", "_register_blueprints"): _FACTORY,
    ("ecrf", "_register_cli"): _FACTORY,
    ("ecrf", "_register_request_hooks"): _FACTORY,
    ("ecrf", "_register_template_helpers"): _FACTORY,
    ("ecrf", "_report_protocol_files"): _FACTORY,
    ("ecrf.cli", "demo_command"): _COMMAND,
    ("ecrf.cli", "nightly_command"): _COMMAND,
    ("ecrf.cli", "scheduler_command"): _COMMAND,
    # The instrument plug-ins: every module of ecrf.instruments, found with pkgutil, imported with importlib.
    ("ecrf.crfs.registry", "registry"): "the registry loads the instrument plug-ins",
}


@dataclass(frozen=True)
class Import:
    module: str
    line: int
    #: The function the import stands in (dotted for nested ones); None at module level.
    function: str | None
    #: The ecrf modules it imports (empty for imports from outside the package).
    targets: tuple[str, ...]

    def where(self) -> str:
        return f"{self.module}:{self.line}" + (f" in {self.function}()" if self.function else "")


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package by dotted name."""
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(name: str, path: Path, known: dict[str, Path]) -> list[Import]:
    """The imports of one module, each with the function it stands in."""

    def module_of(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    def targets(node: ast.Import | ast.ImportFrom) -> tuple[str, ...]:
        if isinstance(node, ast.Import):
            named = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:  # relative: from the module's package up
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            named = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        inside = [module_of(dotted) for dotted in named if dotted.split(".")[0] == PACKAGE]
        return tuple(sorted({target for target in inside if target and target != name}))

    found: list[Import] = []

    def walk(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                walk(child, f"{function}.{child.name}" if function else child.name)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                continue
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(Import(name, child.lineno, function, targets(child)))
            else:
                walk(child, function)

    walk(ast.parse(path.read_text(), str(path)), None)
    return found


def all_imports() -> list[Import]:
    known = modules()
    return [found for name, path in known.items() for found in imports(name, path, known)]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that ends where it starts, or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for following in sorted(graph.get(node, ())):
            if following in on_path:
                return [*path[path.index(following) :], following]
            if following not in done:
                cycle = visit(following)
                if cycle:
                    return cycle
        on_path.discard(path.pop())
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_ecrf_modules_import_one_another_without_a_cycle():
    graph: dict[str, set[str]] = {name: set() for name in modules()}
    for found in all_imports():
        graph[found.module].update(found.targets)  # late imports too: an allowed one must not hide a cycle
    assert "ecrf.crfs.models" in graph["ecrf.crfs.services"] and "ecrf.safety.services" in graph["ecrf.effects"]  # the walk sees imports
    assert find_cycle(graph) is None, "import cycle: " + " -> ".join(find_cycle(graph) or [])


def test_no_module_of_ecrf_imports_inside_a_function_unless_allowed():
    late = [found for found in all_imports() if found.function is not None]
    refused = [found.where() for found in late if (found.module, found.function) not in ALLOWED_LATE]
    assert refused == [], "imports inside functions (move them to the top of the module, or allow them with a reason in ALLOWED_LATE)"


def test_the_walk_finds_a_cycle_and_a_late_import_where_there_is_one(tmp_path):
    (tmp_path / PACKAGE / "a").mkdir(parents=True)
    (tmp_path / PACKAGE / "__init__.py").write_text("")
    (tmp_path / PACKAGE / "a" / "__init__.py").write_text("")
    (tmp_path / PACKAGE / "a" / "one.py").write_text("from ecrf.a.two import thing\nimport forms.base\n")
    (tmp_path / PACKAGE / "a" / "two.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ecrf.a import one\ndef later():\n    from . import one\n    return one\n"
    )
    known = modules(tmp_path)
    found = {name: imports(name, path, known) for name, path in known.items()}
    assert [(i.line, i.function, i.targets) for i in found["ecrf.a.one"]] == [(1, None, ("ecrf.a.two",)), (2, None, ())]
    assert [(i.line, i.function, i.targets) for i in found["ecrf.a.two"]] == [(1, None, ()), (5, "later", ("ecrf.a.one",))]
    graph = {name: {t for i in listed for t in i.targets} for name, listed in found.items()}
    assert find_cycle(graph) == ["ecrf.a.one", "ecrf.a.two", "ecrf.a.one"]
    assert find_cycle({"x": {"y"}, "y": set()}) is None
