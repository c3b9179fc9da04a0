"""One canonical JSON (docs/adr/0006-canonical-json.md): only ``connectors/sdk/canonical.py``
turns values into canonical JSON or hashes JSON; everything else imports it.

A module breaks the rule when it
- passes the canonical separators ``(",", ":")`` to ``json.dumps``/``json.dump``/``JSONEncoder``
  (that is a second canonical encoder, whatever its other options);
- hashes JSON by hand: calls ``json.dumps``/``JSONEncoder`` in a function (or at module
  level) that also hashes with ``hashlib``;
- defines its own ``canonical_json``/``canonical_hash``/``canonical_text``/``content_hash``.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("brain", "governance", "connectors", "cockpit", "scripts")
THE_MODULE = Path("connectors/sdk/canonical.py")
ENCODERS = frozenset({"dumps", "dump", "JSONEncoder"})
# The canonical module's own names: another definition of one is a second implementation.
API = frozenset({"canonical_json", "canonical_hash", "canonical_text", "content_hash"})


def _called_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _is_compact_separators(node: ast.expr) -> bool:
    try:
        return ast.literal_eval(node) == (",", ":")
    except ValueError:
        return False


def _scopes(tree: ast.Module) -> list[list[ast.AST]]:
    """The nodes of each function, and the module's own nodes outside any function."""
    functions = [
        node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    inside = {id(inner) for function in functions for inner in ast.walk(function)}
    top = [node for node in ast.walk(tree) if id(node) not in inside]
    return [top, *[list(ast.walk(function)) for function in functions]]


def _uses_hashlib(nodes: list[ast.AST]) -> bool:
    return any(
        (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "hashlib"
        )
        or (isinstance(node, ast.Name) and node.id in {"sha256", "sha1", "md5", "blake2b"})
        for node in nodes
    )


def canonical_json_violations(source: str) -> list[str]:
    tree = ast.parse(source)
    found = set()
    for nodes in _scopes(tree):
        hashes_here = _uses_hashlib(nodes)
        for node in nodes:
            if isinstance(node, ast.Call) and _called_name(node) in ENCODERS:
                if any(
                    k.arg == "separators" and _is_compact_separators(k.value) for k in node.keywords
                ):
                    found.add(f"line {node.lineno}: a second canonical encoder")
                if hashes_here:
                    found.add(f"line {node.lineno}: JSON encoded next to hashlib")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in API:
            found.add(f"line {node.lineno}: defines {node.name}")
    return sorted(found)


def _sources() -> list[Path]:
    paths = []
    for package in PACKAGES:
        paths.extend(sorted((ROOT / package).rglob("*.py")))
    return paths


def test_only_the_canonical_module_encodes_or_hashes_canonical_json():
    violations = [
        f"{path.relative_to(ROOT)} {problem}"
        for path in _sources()
        if path.relative_to(ROOT) != THE_MODULE
        for problem in canonical_json_violations(path.read_text(encoding="utf-8"))
    ]
    assert not violations, "canonical JSON outside connectors/sdk/canonical.py:\n" + "\n".join(
        violations
    )


def test_the_canonical_module_is_the_one_that_does_it_and_imports_no_django():
    source = (ROOT / THE_MODULE).read_text(encoding="utf-8")
    assert canonical_json_violations(source)  # the scan recognises the real encoder
    tree = ast.parse(source)
    roots = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert roots <= {
        "__future__",
        "datetime",
        "hashlib",
        "json",
        "math",
        "uuid",
        "decimal",
        "typing",
    }


@pytest.mark.parametrize(
    "source",
    [
        'import json\njson.dumps(v, sort_keys=True, separators=(",", ":"))\n',
        "import hashlib, json\nhashlib.sha256(json.dumps(v).encode())\n",
        "from json import JSONEncoder\nimport hashlib\n"
        "def f(v):\n    return hashlib.sha256(JSONEncoder(sort_keys=True).encode(v).encode())\n",
        "def canonical_json(v):\n    return b''\n",
        "def content_hash(v):\n    return ''\n",
    ],
)
def test_the_scan_catches_a_second_canonical_json(source):
    assert canonical_json_violations(source)


def test_json_and_hashing_in_separate_functions_are_not_flagged():
    source = (
        "import hashlib, json\n"
        "def state_file(v):\n    return json.dumps(v, indent=2, sort_keys=True)\n"
        "def port_seed(text):\n    return hashlib.sha256(text.encode()).hexdigest()\n"
    )
    assert canonical_json_violations(source) == []


def test_pretty_output_for_people_is_not_flagged():
    source = "import json\nprint(json.dumps(v, indent=2, sort_keys=True))\n"
    assert canonical_json_violations(source) == []
