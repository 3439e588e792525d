"""`optibridge serve` says at start, in its structured log, when OPTIBRIDGE_PUBLIC_URL is unset:
the webhook URLs it shows then use its own local address, which Comm100 can't reach. The
control panel's webhook section says so too."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import free_port, optibridge_command, running_process
from tests.web.ui_client import csrf_token, page

pytestmark = pytest.mark.integration

SITE = 10000
WARNING = "webhooks-no-public-url"


@dataclass
class Serve:
    url: str
    log: Path
    admin_token: str

    def log_entries(self) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def webhook_warning(self) -> str | None:
        """The warning of site 10000's webhook section, as a signed-in administrator sees it."""
        with httpx.Client(base_url=self.url, timeout=10) as http:
            admin = {"Authorization": f"Bearer {self.admin_token}"}
            http.post("/api/v1/sites", json={"site_id": SITE, "name": "Acme"}, headers=admin)
            login = page(http.get("/ui/login"))
            form = {"csrf_token": csrf_token(login), "token": self.admin_token, "next": "/ui/sites"}
            assert http.post("/ui/login", data=form).status_code == 303
            site = page(http.get(f"/ui/sites/{SITE}"))
        return site.by_id(WARNING).text() if site.has_id(WARNING) else None


@contextmanager
def serving(tmp_path: Path, **env: str) -> Iterator[Serve]:
    """`optibridge serve` (JSON logs, no worker) until the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    environment = {"OPTIBRIDGE_DATA_DIR": str(tmp_path), "OPTIBRIDGE_LOG_FORMAT": "json", **env}
    argv = optibridge_command("serve", "--port", str(port), "--no-worker")
    with running_process(argv, ready_url=f"{url}/healthz", log_path=log, env=environment):
        printed = re.search(r"Admin token \(shown once, keep it safe\): (\S+)", log.read_text())
        assert printed, log.read_text()
        yield Serve(url, log, printed.group(1))


def test_without_a_public_url_serve_warns_at_start_and_so_does_the_control_panel(
    tmp_path: Path,
) -> None:
    with serving(tmp_path) as serve:
        entries = serve.log_entries()
        on_page = serve.webhook_warning()
    warnings = [entry for entry in entries if entry["event"] == "no_public_url"]
    assert len(warnings) == 1, entries
    warning = warnings[0]
    assert warning["level"] == "warning"
    assert warning["webhook_base"] == serve.url
    assert warning["hint"].startswith("OPTIBRIDGE_PUBLIC_URL is not set")
    assert "can't reach a local address" in warning["hint"]
    assert entries.index(warning) < [entry["event"] for entry in entries].index("listening")
    assert serve.admin_token not in json.dumps(warning)
    assert on_page is not None
    assert f"these URLs start with {serve.url}" in on_page
    assert "Comm100 can't reach" in on_page


def test_with_a_public_url_serve_warns_about_nothing(tmp_path: Path) -> None:
    with serving(tmp_path, OPTIBRIDGE_PUBLIC_URL="https://bridge.example.com") as serve:
        events = [entry["event"] for entry in serve.log_entries()]
        on_page = serve.webhook_warning()
    assert "listening" in events
    assert "no_public_url" not in events
    assert on_page is None
