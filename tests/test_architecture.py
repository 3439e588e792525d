"""The layout's rules (docs/architecture.md), checked by reading every module's imports.

Who may import whom: the pure core (`domain/`) imports nothing of ours but the foundation; vendor
packages know no database and no engine; the engine (`sync/`) never calls up into `services/`,
`console/` or `web/`; the console is a client of the engine (no vendor package, no store); `web/`
is transport (no store, no vendor types); the sandboxes share no code with the product. And no
module imports itself back through others (no circles).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "optibridge"

# Modules every layer may import: they import nothing of ours but each other.
FOUNDATION = {"errors", "safe_text", "secret_box", "logs", "listening"}
VENDORS = {"vendor_http", "comm100", "optimove"}


@dataclass(frozen=True)
class Import:
    module: str  # the importer, dotted, without the "optibridge." prefix
    target: str  # what it imports, likewise (a module, or a module's name)
    line: int

    @property
    def package(self) -> str:
        return self.module.split(".")[0]

    @property
    def target_package(self) -> str:
        return self.target.split(".")[0]


def modules() -> dict[str, Path]:
    found = {}
    for path in SOURCE.rglob("*.py"):
        dotted = ".".join(path.relative_to(SOURCE).with_suffix("").parts)
        found[dotted.removesuffix(".__init__").removesuffix("__init__")] = path
    return found


def imports() -> Iterator[Import]:
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "optibridge":
                    for alias in node.names:
                        yield Import(module, alias.name, node.lineno)
                elif node.module.startswith("optibridge."):
                    target = node.module.removeprefix("optibridge.")
                    for alias in node.names:
                        yield Import(module, f"{target}.{alias.name}", node.lineno)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("optibridge."):
                        yield Import(module, alias.name.removeprefix("optibridge."), node.lineno)


ALL = list(imports())


def offending(importers: set[str], forbidden: set[str]) -> list[str]:
    return [
        f"{i.module}:{i.line} imports {i.target}"
        for i in ALL
        if i.package in importers and i.target_package in forbidden
    ]


def test_the_foundation_imports_nothing_of_ours_but_itself() -> None:
    assert [
        f"{i.module}:{i.line} imports {i.target}"
        for i in ALL
        if i.package in FOUNDATION and i.target_package not in FOUNDATION
    ] == []


def test_the_domain_is_pure() -> None:
    allowed = {"domain", *FOUNDATION}
    assert [
        f"{i.module}:{i.line} imports {i.target}"
        for i in ALL
        if i.package == "domain" and i.target_package not in allowed
    ] == []


def test_vendor_packages_know_no_database_no_engine_and_no_caller() -> None:
    allowed = {*VENDORS, "domain", "ssrf_guard", *FOUNDATION}
    assert [
        f"{i.module}:{i.line} imports {i.target}"
        for i in ALL
        if i.package in VENDORS and i.target_package not in allowed
    ] == []


def test_the_store_knows_no_engine_no_vendor_and_no_caller() -> None:
    assert offending({"store"}, {*VENDORS, "sync", "services", "console", "web", "runtime"}) == []


def test_the_engine_never_calls_up() -> None:
    assert offending({"sync"}, {"services", "console", "web", "app", "cli", "demo"}) == []


def test_the_console_is_a_client_of_the_engine() -> None:
    """No vendor package, no repository: what the tab needs from Optimove and Comm100, and from
    the database, the engine (`sync/`) does."""
    assert offending({"console"}, {*VENDORS, "store"}) == []


def test_web_is_transport() -> None:
    assert offending({"web"}, {*VENDORS, "store", "console"}) == []


def test_services_never_reach_into_the_console_or_the_transport() -> None:
    assert offending({"services"}, {"console", "web", "app", "cli"}) == []


def test_the_sandboxes_share_no_code_with_the_product() -> None:
    inside = [
        f"{i.module}:{i.line} imports {i.target}"
        for i in ALL
        if i.package == "sandbox" and i.target_package != "sandbox"
    ]
    from_outside = [
        f"{i.module}:{i.line} imports {i.target}"
        for i in ALL
        if i.target_package == "sandbox" and i.package not in ("sandbox", "app", "cli", "demo")
    ]
    assert (inside, from_outside) == ([], [])


def test_no_module_imports_itself_back_through_others() -> None:
    known = modules()
    graph: dict[str, set[str]] = {module: set() for module in known}
    for i in ALL:
        target = i.target if i.target in known else i.target.rsplit(".", 1)[0]
        if target in known and target != i.module:
            graph[i.module].add(target)
    assert strongly_connected(graph) == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    circles: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        circles.append(sorted(component))
    return circles


def test_the_circle_finder_finds_a_circle() -> None:
    """The check above can fail: a circle of three, and one of two beside it, are found."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": {"d"}, "f": {"a"}}
    assert sorted(strongly_connected(graph)) == [["a", "b", "c"], ["d", "e"]]


@pytest.mark.parametrize("path", sorted(SOURCE.rglob("*.py")), ids=lambda p: p.name)
def test_no_file_is_over_600_lines_without_a_reason_at_its_top(path: Path) -> None:
    text = path.read_text()
    if text.count("\n") <= 600:
        return
    head = text[:1500].lower()
    assert "over 600 lines" in head or "one file because" in head, path
