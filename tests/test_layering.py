"""The apps' dependency direction: core <- ticketing <- live <- demo (docs/architecture.md).

A static check over the source, lazy imports inside functions included, so a
shortcut from the ground floor upwards fails here rather than in a review.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The project's entry points in core name the apps only as strings (settings, urls)
# or through routing.py (asgi.py): wiring, not a dependency of core's code.
ABOVE_CORE = {"ticketing", "live", "consumers", "demo"}


def imported_top_levels(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_imports_no_app_above_it():
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_top_levels(path) & ABOVE_CORE)
        for path in (ROOT / "core").rglob("*.py")
        if imported_top_levels(path) & ABOVE_CORE
    }
    assert offenders == {}
