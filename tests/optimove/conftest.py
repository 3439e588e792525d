"""The Optimove sandbox running as its own process, reset before each test that uses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import vendor_sandbox
from tests.support.processes import optibridge_command

SANDBOX_KEY = "sandbox-optimove-key"

Sandbox = vendor_sandbox.Sandbox


def _command(port: int) -> list[str]:
    return optibridge_command("sandbox", "optimove", "--port", str(port))


def start_sandbox(log_path: Path) -> Iterator[Sandbox]:
    yield from vendor_sandbox.start(Sandbox, _command, log_path)


@pytest.fixture(scope="module")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    yield from start_sandbox(tmp_path_factory.mktemp("sandbox") / "sandbox.log")


@pytest.fixture
def sandbox(sandbox_process: Sandbox) -> Sandbox:
    sandbox_process.control("POST", "reset")
    return sandbox_process
