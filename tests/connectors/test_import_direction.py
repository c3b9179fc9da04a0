"""connectors sit below brain: nothing in connectors/ may import brain, governance or cockpit."""

from __future__ import annotations

import ast
from pathlib import Path

CONNECTORS = Path(__file__).resolve().parents[2] / "connectors"
FORBIDDEN = ("brain", "governance", "cockpit")


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_connectors_never_import_brain_governance_or_cockpit():
    offenders = {
        str(path.relative_to(CONNECTORS.parent)): sorted(imported_roots(path) & set(FORBIDDEN))
        for path in CONNECTORS.rglob("*.py")
    }
    assert {path: roots for path, roots in offenders.items() if roots} == {}


def test_the_sdk_does_not_depend_on_django():
    sdk = CONNECTORS / "sdk"
    assert all("django" not in imported_roots(path) for path in sdk.rglob("*.py"))


def test_the_scan_sees_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from brain.models import Studio\nimport cockpit.views\n")
    assert imported_roots(sample) == {"brain", "cockpit"}
