"""The import rules of README's "Layout and import rules": dependencies run downwards only.

Every module of each package is parsed (not imported) and each of its imports, at the top or
inside a function, is checked against the packages it may use.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"pushconsole", "push", "sms", "accounts", "lib"}
MAY_IMPORT = {
    "lib": set(),
    "accounts": {"lib"},
    "sms": {"accounts", "lib"},
    "push": {"sms", "accounts", "lib"},
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """Our top-level packages imported by the module at ``path``, with their line numbers."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in OURS:
                found.add((top, node.lineno))
    return found


def violations(package: str) -> list[str]:
    allowed = MAY_IMPORT[package] | {package}
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for top, line in sorted(imported_packages(path)):
            if top not in allowed:
                out.append(f"{path.relative_to(ROOT)}:{line} imports {top}")
    return out


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_a_package_imports_only_the_packages_below_it(package):
    assert violations(package) == []


def test_the_rule_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from push.models import Push\n    import sms.models\n")
    assert imported_packages(module) == {("push", 2), ("sms", 3)}
