"""A vendor sandbox running as its own process, and its control surface (`/_sandbox/…`).

`tests/comm100/conftest.py` and `tests/optimove/conftest.py` start theirs with `start()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.processes import free_port, running_process


@dataclass
class Sandbox:
    """A running vendor sandbox and its control surface."""

    url: str

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.url}/_sandbox/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None

    def requests(self) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = self.control("GET", "requests")
        return log


SandboxT = TypeVar("SandboxT", bound=Sandbox)


def start(
    sandbox: Callable[[str], SandboxT], command: Callable[[int], list[str]], log_path: Path
) -> Iterator[SandboxT]:
    """Run `command(port)` on a free port until the generator closes; yields it once it answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running_process(command(port), ready_url=f"{url}/_sandbox/limits", log_path=log_path):
        yield sandbox(url)
