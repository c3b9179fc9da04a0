"""Cloud stays authoritative: only connectors talk to Firestore/Stripe, and nothing writes to them
outside the governed write modules (``connectors/<kind>/writes.py``, reached only through
``Connector.execute`` from governance's execution gateway)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("brain", "governance", "cockpit", "connectors")
CLOUD_MODULES = ("google.cloud.firestore", "google.cloud.firestore_v1", "stripe")
WRITE_METHODS = frozenset(
    {
        "set",
        "update",
        "delete",
        "add",
        "create",
        "modify",
        "commit",
        "batch",
        "transaction",
        "bulk_writer",
        "recursive_delete",
        "cancel",
        "capture",
        "confirm",
        "close",
        "pay",
        "void_invoice",
        "reverse",
        "expire",
    }
)
GATED_WRITE_FILE = "writes.py"


def cloud_imports(tree: ast.AST) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if (
                any(name == m or name.startswith(m + ".") for m in CLOUD_MODULES)
                or name == "google.cloud"
            ):
                found.append((name, node.lineno))
    return found


def write_calls(tree: ast.AST) -> list[tuple[str, int]]:
    return [
        (node.func.attr, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in WRITE_METHODS
    ]


def project_files():
    for package in PACKAGES:
        yield from sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def test_only_connectors_import_the_cloud_clients():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in project_files()
        if path.relative_to(ROOT).parts[0] != "connectors"
        for name, line in cloud_imports(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not offenders, "\n".join(offenders)


def test_no_cloud_write_call_outside_the_gated_write_modules():
    offenders = []
    for path in project_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if not cloud_imports(tree) or path.name == GATED_WRITE_FILE:
            continue
        offenders += [
            f"{path.relative_to(ROOT)}:{line} calls .{name}()" for name, line in write_calls(tree)
        ]
    assert not offenders, "write calls on cloud clients outside writes.py:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    ("source", "imports", "writes"),
    [
        (
            "from google.cloud import firestore\nclient.collection('x').document('y').set({})\n",
            1,
            1,
        ),
        ("import stripe\nstripe.Refund.create(charge='ch')\n", 1, 1),
        ("from google.cloud.firestore_v1 import FieldFilter\nq.where(filter=f).stream()\n", 1, 0),
        ("import json\nd.update({})\n", 0, 1),
    ],
)
def test_the_guardrail_scanner_sees_imports_and_write_calls(source, imports, writes):
    tree = ast.parse(source)
    assert len(cloud_imports(tree)) >= imports and (imports or not cloud_imports(tree))
    assert len(write_calls(tree)) == writes


# Invariant 3: the execution gateway is the only caller of a connector write.
CONNECTOR_WRITE_CALLERS = {
    "governance/services/execution_run.py",  # the gateway's worker step, after every check
    "connectors/sdk/contract.py",  # the harness: a read-only connector must refuse before I/O
}


def connector_execute_calls(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "execute"
        and isinstance(node.func.value, ast.Name)
        and "connector" in node.func.value.id.lower()
    ]


def test_only_the_execution_gateway_calls_a_connector_write():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in project_files()
        if str(path.relative_to(ROOT)) not in CONNECTOR_WRITE_CALLERS
        for line in connector_execute_calls(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not offenders, "connector writes outside the execution gateway:\n" + "\n".join(offenders)
    gateway = ast.parse((ROOT / "governance/services/execution_run.py").read_text(encoding="utf-8"))
    assert connector_execute_calls(gateway), "the scan no longer sees the gateway's own call"
