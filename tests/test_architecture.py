"""The import direction of docs/architecture.md, checked on the source.

studio_brain (the project) → cockpit → governance → brain → connectors; never the other way.
connectors/sdk/ is plain Python (no Django), and no app imports the project package: the
apps reach the Celery app through ``shared_task``/``current_app`` and the settings through
``django.conf``. (The embedded runner names ``studio_brain`` only as strings handed to a
subprocess: ``celery -A studio_brain`` and ``DJANGO_SETTINGS_MODULE``; that is no import.)
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
DYNAMIC_IMPORTS = {"import_module", "import_string", "__import__"}


def imported_top_levels(path: Path) -> set[tuple[str, int]]:
    """Top-level package and line of every import, static or by name (``import_module("x.y")``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add((node.module.split(".")[0], node.lineno))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if (
                name in DYNAMIC_IMPORTS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                found.add((first.value.split(".")[0], node.lineno))
    return found


def imported_roots(path: Path) -> set[str]:
    return {name for name, _ in imported_top_levels(path)}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downward(package):
    violations = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name, line in imported_top_levels(path):
            if name in FORBIDDEN[package]:
                violations.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not violations, "imports against the architecture's direction:\n" + "\n".join(violations)


def test_the_connector_sdk_does_not_depend_on_django():
    sdk = sorted((ROOT / "connectors" / "sdk").rglob("*.py"))
    assert sdk
    assert [str(path.relative_to(ROOT)) for path in sdk if "django" in imported_roots(path)] == []


def test_the_scan_sees_the_packages():
    # Guard against a vacuous pass: each layer has source files to check.
    for package in FORBIDDEN:
        assert list((ROOT / package).rglob("*.py")), package


def test_the_scan_finds_a_forbidden_import(tmp_path):
    source = tmp_path / "bad.py"
    source.write_text(
        "import os\nfrom cockpit.views import home\nimport brain.models as m\n"
        "from . import sibling\n"
    )
    assert imported_roots(source) == {"os", "cockpit", "brain"}


def test_the_scan_finds_an_import_by_name(tmp_path):
    source = tmp_path / "sneaky.py"
    source.write_text(
        "import importlib\nfrom django.utils.module_loading import import_string\n"
        'app = importlib.import_module("studio_brain.celery").app\n'
        'settings = import_string("studio_brain.settings.BRAIN")\n'
        'print("studio_brain is only a string here")\n'
    )
    assert ("studio_brain", 3) in imported_top_levels(source)
    assert ("studio_brain", 4) in imported_top_levels(source)
    assert ("studio_brain", 5) not in imported_top_levels(source)
