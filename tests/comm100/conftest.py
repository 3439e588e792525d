"""The Comm100 sandbox running as its own process, reset before each test that uses it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import vendor_sandbox

SANDBOX_KEY = "sandbox-comm100-key"
SANDBOX_SITE = 10000


@dataclass
class Sandbox(vendor_sandbox.Sandbox):
    """A running Comm100 sandbox and its control surface."""

    @property
    def api_base_url(self) -> str:
        return f"{self.url}/v4"


def _command(port: int) -> list[str]:
    program = (
        "import uvicorn; from optibridge.sandbox.comm100 import create_app; "
        f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning')"
    )
    return [sys.executable, "-c", program]


def start_sandbox(log_path: Path) -> Iterator[Sandbox]:
    yield from vendor_sandbox.start(Sandbox, _command, log_path)


@pytest.fixture(scope="module")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    yield from start_sandbox(tmp_path_factory.mktemp("comm100-sandbox") / "sandbox.log")


@pytest.fixture
def sandbox(sandbox_process: Sandbox) -> Sandbox:
    sandbox_process.control("POST", "reset")
    return sandbox_process
