"""The control panel is transport: its modules reach the store and the vendor clients only
through the services (or plain data they return), never by importing them."""

from __future__ import annotations

import ast
from pathlib import Path

import optibridge.web.ui

UI_DIR = Path(optibridge.web.ui.__file__).parent
FORBIDDEN = ("optibridge.store", "optibridge.optimove", "optibridge.comm100")


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_control_panel_module_imports_the_store_or_a_vendor_client() -> None:
    modules = sorted(UI_DIR.glob("*.py"))
    assert len(modules) > 5
    found = {
        f"{path.name}: {name}"
        for path in modules
        for name in _imported(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    }
    assert found == set()
