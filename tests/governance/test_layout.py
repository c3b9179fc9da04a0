"""Governance's modules import each other without a circle, and without hiding one in a
function body: services never import the tasks that run them (``governance/tasks.py``
queues the work), so the gateway, the worker's run and the reconcile job form a line."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "governance"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def governance_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for path in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in path.parts
    }


def top_level_imports(path: Path, known: set[str]) -> set[str]:
    """The governance modules a module imports at its top level (what runs at import)."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found & known


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], dict.fromkeys(graph, 0)  # 0 new, 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state[target] == 1:
                found.append([*stack[stack.index(target) :], target])
            elif state[target] == 0:
                visit(target, [*stack, target])
        state[node] = 2

    for node in sorted(graph):
        if state[node] == 0:
            visit(node, [node])
    return found


def import_graph() -> dict[str, set[str]]:
    modules = governance_modules()
    known = set(modules)
    return {name: top_level_imports(path, known) - {name} for name, path in modules.items()}


def test_governance_modules_import_each_other_without_a_circle():
    assert cycles(import_graph()) == []


def test_only_the_gateway_imports_the_tasks():
    graph = import_graph()
    importers = sorted(
        name
        for name, targets in graph.items()
        if name.startswith("governance.services.") and "governance.tasks" in targets
    )
    assert importers == ["governance.services.execution"]  # the gateway queues the run
    assert "governance.services.execution" not in graph["governance.tasks"]


def test_no_governance_import_hides_in_a_function_of_the_services_or_tasks():
    hidden = []
    for name, path in governance_modules().items():
        if not (name.startswith("governance.services") or name == "governance.tasks"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                hidden += [
                    f"{name}:{inner.lineno}"
                    for inner in ast.walk(node)
                    if isinstance(inner, ast.ImportFrom | ast.Import)
                ]
    assert hidden == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
