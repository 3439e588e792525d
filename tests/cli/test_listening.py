"""Where a server command listens: a taken port, a bad port or host is one line naming the
option to change, before any start-up work; `make run PORT= HOST=` chooses the address."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from optibridge.listening import CannotListen, bind_listener, served_url
from tests.support.processes import (
    command_env,
    free_port,
    optibridge_command,
    running_process,
)

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else is listening on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_a_free_port_is_bound_and_listened_on() -> None:
    port = free_port()
    listener = bind_listener("127.0.0.1", port)
    try:
        assert listener.getsockname() == ("127.0.0.1", port)
    finally:
        listener.close()


def test_a_taken_port_names_the_option_to_change(taken_port: int) -> None:
    with pytest.raises(CannotListen) as refused:
        bind_listener("127.0.0.1", taken_port)
    assert str(refused.value) == (
        f"port {taken_port} on 127.0.0.1 is already in use: choose another with --port N "
        "(make run PORT=N)"
    )


@pytest.mark.parametrize("port", [0, -1, 65536, 99999])
def test_a_number_that_is_no_port_is_refused(port: int) -> None:
    with pytest.raises(CannotListen, match=r"^--port .* is not a port number \(1 to 65535\)$"):
        bind_listener("127.0.0.1", port)


@pytest.mark.parametrize("host", ["no-such-host.invalid", "bad\udc80host", ""])
def test_a_host_that_is_not_this_machines_is_refused(host: str) -> None:
    with pytest.raises(CannotListen, match="--host"):
        bind_listener(host or "256.1.1.1", free_port())


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("0.0.0.0", "http://127.0.0.1:8000"),
        ("::", "http://127.0.0.1:8000"),
        ("::1", "http://[::1]:8000"),
        ("bridge.internal", "http://bridge.internal:8000"),
    ],
)
def test_the_url_a_server_is_reached_at_on_this_machine(host: str, url: str) -> None:
    assert served_url(host, 8000) == url


@pytest.mark.integration
@pytest.mark.parametrize(
    "command",
    [["demo", "--data-dir", "{tmp}"], ["serve"], ["sandbox", "optimove"], ["sandbox", "comm100"]],
    ids=["demo", "serve", "sandbox optimove", "sandbox comm100"],
)
def test_every_server_command_says_in_one_line_that_its_port_is_taken(
    taken_port: int, tmp_path: Path, command: list[str]
) -> None:
    argv = optibridge_command(*[part.format(tmp=tmp_path) for part in command])
    finished = subprocess.run(
        [*argv, "--port", str(taken_port)],
        capture_output=True,
        text=True,
        timeout=60,
        env=command_env(OPTIBRIDGE_DATA_DIR=str(tmp_path), COLUMNS="80"),
        check=False,
    )
    assert finished.returncode == 1
    assert finished.stdout == ""
    assert finished.stderr.splitlines() == [
        f"error: port {taken_port} on 127.0.0.1 is already in use: choose another with --port N "
        "(make run PORT=N)"
    ]


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_listens_where_port_and_host_say(tmp_path: Path) -> None:
    port = free_port()
    argv = ["make", "-C", str(REPOSITORY), "run", f"PORT={port}", "HOST=127.0.0.1"]
    argv.append(f"DATA_DIR={tmp_path}")
    url = f"http://127.0.0.1:{port}"
    with running_process(argv, ready_url=f"{url}/healthz", log_path=tmp_path / "run.log"):
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    assert (tmp_path / "optibridge.db").exists()  # DATA_DIR was used, not ./var
