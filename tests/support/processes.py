"""Start real server processes for integration tests and wait until they answer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def optibridge_command(*args: str) -> list[str]:
    """The installed CLI, run with this interpreter so tests need no PATH set up."""
    return [sys.executable, "-m", "optibridge", *args]


def python_path() -> dict[str, str]:
    """PYTHONPATH as the tests have it, for a command run with an environment of its own: a
    checkout tested without being installed (`PYTHONPATH=src`) runs its own code."""
    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


@contextmanager
def running_process(
    argv: list[str],
    *,
    ready_url: str,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    timeout_s: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `argv` until the block ends; wait until `ready_url` answers any HTTP status."""
    full_env = {**os.environ, **(env or {})}
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(argv, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_answering(process, ready_url, timeout_s, log_path)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if log_path:
            log.close()  # type: ignore[union-attr]


def _wait_until_answering(
    process: subprocess.Popen[bytes], url: str, timeout_s: float, log_path: Path | None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log_path.read_text() if log_path else "(output not captured)"
            raise RuntimeError(f"process exited with {process.returncode} before {url}:\n{output}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")
