"""DESIGN.md's import direction, checked on the source.

studio_brain (the project) → cockpit → governance → brain → connectors; never the other way.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> packages it must never import
FORBIDDEN = {
    "connectors": {"brain", "governance", "cockpit", "studio_brain"},
    "brain": {"governance", "cockpit", "studio_brain"},
    "governance": {"cockpit", "studio_brain"},
    # The project package wires the apps together; no app depends on it.
    "cockpit": {"studio_brain"},
}


def imported_top_levels(path: Path) -> set[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add((node.module.split(".")[0], node.lineno))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downward(package):
    violations = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name, line in imported_top_levels(path):
            if name in FORBIDDEN[package]:
                violations.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not violations, "imports against DESIGN.md's direction:\n" + "\n".join(violations)


def test_the_scan_sees_the_packages():
    # Guard against a vacuous pass: each layer has source files to check.
    for package in FORBIDDEN:
        assert list((ROOT / package).rglob("*.py")), package


def test_the_scan_finds_a_forbidden_import(tmp_path):
    source = tmp_path / "bad.py"
    source.write_text("import os\nfrom cockpit.views import home\nimport brain.models as m\n")
    assert {name for name, _ in imported_top_levels(source)} == {"os", "cockpit", "brain"}
