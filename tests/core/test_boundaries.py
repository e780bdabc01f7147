"""core/ must stay free of Qt, torch and the other packages; trainer/ free of Qt."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "core": ("PySide6", "PyQt5", "PyQt6", "torch", "torchvision", "lookalike.app", "lookalike.trainer"),
    "trainer": ("PySide6", "PyQt5", "PyQt6", "lookalike.app"),
}


def imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_stay_inside_their_boundary(package):
    bad = []
    for f in (ROOT / package).rglob("*.py"):
        for name in imports(f):
            if any(name == x or name.startswith(x + ".") for x in FORBIDDEN[package]):
                bad.append(f"{f.relative_to(ROOT)}: {name}")
    assert bad == []
