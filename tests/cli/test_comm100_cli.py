"""`optibridge comm100 webhooks status|register --site N` as an operator runs them, against the
Comm100 sandbox running as its own process."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from optibridge.config import Config
from optibridge.runtime import Runtime
from optibridge.services.settings import save_document
from optibridge.services.sites import create_site
from optibridge.store.migrate import upgrade_to_head
from optibridge.sync.sites import get_site, webhook_token
from tests.comm100.conftest import SANDBOX_KEY, Sandbox, start_sandbox
from tests.support.processes import command_env, optibridge_command

SITE = 10000
PUBLIC = "https://bridge.example.com"
THEIRS = "https://crm.example/in?key=theirs-0123456789"


@pytest.fixture(scope="module")
def comm100_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    yield from start_sandbox(tmp_path_factory.mktemp("comm100") / "sandbox.log")


@pytest.fixture
def comm100(comm100_process: Sandbox) -> Sandbox:
    comm100_process.control("POST", "reset")
    return comm100_process


@pytest.fixture
def token(tmp_path: Path, comm100: Sandbox) -> str:
    """Site 10000 connected to the sandbox, in the data directory the commands use; its
    webhook token."""
    runtime = Runtime.start(Config(data_dir=tmp_path, allow_private_urls=True))
    try:
        upgrade_to_head(runtime.engine)
        with runtime.unit_of_work() as session:
            create_site(session, runtime.box, SITE, "Acme")
        save_document(
            runtime,
            SITE,
            {
                "comm100": {
                    "api_base_url": comm100.api_base_url,
                    "agent_email": "agent@example.com",
                    "api_key": SANDBOX_KEY,
                }
            },
        )
        with runtime.unit_of_work(read_only=True) as session:
            return webhook_token(runtime.box, get_site(session, SITE))
    finally:
        runtime.close()


def run(
    tmp_path: Path, *args: str, public_url: str | None = PUBLIC
) -> subprocess.CompletedProcess[str]:
    env = command_env(
        OPTIBRIDGE_DATA_DIR=str(tmp_path),
        OPTIBRIDGE_ALLOW_PRIVATE_URLS="1",  # the sandbox listens on 127.0.0.1
        COLUMNS="200",
    )
    if public_url is not None:
        env["OPTIBRIDGE_PUBLIC_URL"] = public_url
    return subprocess.run(
        optibridge_command("comm100", "webhooks", *args),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=60,
        check=False,
    )


def test_status_shows_each_needed_webhook_and_fails_until_both_are_registered(
    tmp_path: Path, comm100: Sandbox, token: str
) -> None:
    comm100.control("PUT", "webhooks", [{"siteId": SITE, "event": "chatEnds", "targetUrl": THEIRS}])

    result = run(tmp_path, "status", "--site", str(SITE))

    assert result.returncode == 3, result.stderr
    lines = result.stdout.splitlines()
    assert any("chatEnds" in line and "elsewhere" in line for line in lines)
    assert any("offlineMessageIsSubmitted" in line and "missing" in line for line in lines)
    assert "https://crm.example" in result.stdout
    assert "theirs-0123456789" not in result.stdout
    assert '"When a ticket is created"' in result.stdout
    assert token not in result.stdout + result.stderr


def test_register_creates_what_is_missing_and_status_then_succeeds(
    tmp_path: Path, comm100: Sandbox, token: str
) -> None:
    registered = run(tmp_path, "register", "--site", str(SITE))
    again = run(tmp_path, "register", "--site", str(SITE))
    status = run(tmp_path, "status", "--site", str(SITE))

    assert registered.returncode == 0, registered.stderr
    assert "Chat Ended: registered." in registered.stdout
    assert "Offline Message Submitted: registered." in registered.stdout
    assert "nothing to change" in again.stdout
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("registered") >= 2
    ours = f"{PUBLIC}/webhooks/comm100/{SITE}/livechat?token={token}"
    assert [(w["event"], w["targetUrl"]) for w in comm100.control("GET", "webhooks")] == [
        ("chatEnds", ours),
        ("offlineMessageIsSubmitted", ours),
    ]
    for result in (registered, again, status):
        assert token not in result.stdout + result.stderr


def test_register_replaces_other_webhooks_only_when_asked(
    tmp_path: Path, comm100: Sandbox, token: str
) -> None:
    comm100.control("PUT", "webhooks", [{"siteId": SITE, "event": "chatEnds", "targetUrl": THEIRS}])

    kept = run(tmp_path, "register", "--site", str(SITE))
    replaced = run(tmp_path, "register", "--site", str(SITE), "--replace-elsewhere")

    assert kept.returncode == replaced.returncode == 0
    assert "left in place" in kept.stdout
    assert "removed the webhook to https://crm.example" in replaced.stdout
    assert THEIRS not in {w["targetUrl"] for w in comm100.control("GET", "webhooks")}


def test_without_manage_integration_the_command_says_so(
    tmp_path: Path, comm100: Sandbox, token: str
) -> None:
    comm100.control("PUT", "behaviour", {"manage_integration": False})

    result = run(tmp_path, "register", "--site", str(SITE))

    assert result.returncode == 1
    assert "Manage Integration permission" in result.stderr
    assert token not in result.stdout + result.stderr


def test_the_public_address_is_needed_and_may_be_given(
    tmp_path: Path, comm100: Sandbox, token: str
) -> None:
    missing = run(tmp_path, "status", "--site", str(SITE), public_url=None)
    given = run(tmp_path, "register", "--site", str(SITE), "--public-url", PUBLIC, public_url=None)

    assert missing.returncode == 1
    assert "OPTIBRIDGE_PUBLIC_URL" in missing.stderr
    assert given.returncode == 0, given.stderr


def test_an_unknown_or_unconnected_site_is_a_clear_error(tmp_path: Path, token: str) -> None:
    unknown = run(tmp_path, "status", "--site", "77")
    run_time = Runtime.start(Config(data_dir=tmp_path))
    try:
        with run_time.unit_of_work() as session:
            create_site(session, run_time.box, 20000, "Not connected")
    finally:
        run_time.close()
    unconnected = run(tmp_path, "register", "--site", "20000")

    assert unknown.returncode == 1
    assert "77" in unknown.stderr
    assert unconnected.returncode == 1
    assert "Comm100 is not connected yet." in unconnected.stderr
    assert "/comm100/api_key" in unconnected.stderr
