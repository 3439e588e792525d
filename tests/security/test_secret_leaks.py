"""No secret leaks. With secrets whose values the test chose (admin token, OPTIBRIDGE_SECRET_KEY,
both vendors' API keys, site-scoped admin and agent tokens, webhook tokens, console sessions,
and wrong keys typed into connection tests), every route of the app is driven, route by route
from one table, through its success and error paths (bad input, wrong or revoked tokens, failed
connection tests, Optimove faults, a worker processing the events), with both vendors' sandboxes
running as their own processes. Then every answer (status, headers, body), every log line
(structlog and stdlib), the sync log API's output and every database row are searched for each
secret in every encoding it could take (plain, URL-encoded, hex, base64 at any alignment).

A secret shows only where the API means to hand it over, and these exceptions are asserted
narrowly: an issued token in the one answer that issued it; a site's webhook token inside its
webhook URLs (admin API and the site's control panel page, SPEC 5.2/5.3); a console session in
the tab page that issued it (SPEC 4.5: the page hands its script a session, not the token).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from optibridge.logs import configure_logging
from optibridge.sandbox.comm100.payloads import ticket_created_trigger
from optibridge.store.models import OptimoveCallLog, OptimoveWrite, SyncRecord
from optibridge.sync.worker import Worker
from tests.comm100.conftest import start_sandbox as start_comm100_sandbox
from tests.console.test_api import chat, settings, visitor
from tests.optimove.conftest import start_sandbox as start_optimove_sandbox
from tests.security.conftest import (
    PUBLIC_URL,
    SITE_A,
    SITE_B,
    Bench,
    KnownSecrets,
    RouteKey,
    bearer,
    fresh_secret,
    route_keys,
    running_bench,
    secrets_in,
)
from tests.sync.stack import chat_end_for
from tests.web.ui_client import csrf_token, form_values, page

# The service runs in-process; both vendor sandboxes are processes of their own.
pytestmark = [pytest.mark.security, pytest.mark.integration]

SITE_C, SITE_D = 30000, 40000  # C is deleted through the API, D created in the control panel
API = "/api/v1/sites/{site_id}"
SESSION_META = re.compile(r'name="optibridge-session" content="([^"]+)"')


# --- capturing logs -------------------------------------------------------------------------------


@dataclass
class Logs:
    structured: io.StringIO = field(default_factory=io.StringIO)
    records: list[str] = field(default_factory=list)

    def text(self) -> str:
        return self.structured.getvalue() + "\n".join(self.records)


class _Keep(logging.Handler):
    def __init__(self, logs: Logs) -> None:
        super().__init__(logging.DEBUG)
        self.logs = logs

    def emit(self, record: logging.LogRecord) -> None:
        message = self.format(record)  # with the traceback, if any
        # The test's own requests: their URLs carry webhook tokens as Comm100's do. Not ours.
        if record.name == "httpx" and "://testserver" in message:
            return
        self.logs.records.append(f"{record.name}: {message}")


@contextlib.contextmanager
def captured_logs() -> Iterator[Logs]:
    """The service's logs as production writes them (JSON, every level), and every stdlib
    record; the previous logging set-up comes back afterwards."""
    saved = structlog.get_config()
    access = logging.getLogger("uvicorn.access")
    access_disabled = access.disabled
    logs = Logs()
    with contextlib.redirect_stderr(logs.structured):
        configure_logging("json", "debug")
    root = logging.getLogger()
    level = root.level
    handler = _Keep(logs)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield logs
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        structlog.configure(**saved)
        access.disabled = access_disabled


# --- the drive ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    step: RouteKey | None
    answered_by: RouteKey | None
    request: str
    status: int
    headers: str
    body: str

    @property
    def text(self) -> str:
        return f"{self.status}\n{self.headers}\n{self.body}"


@dataclass
class Drive:
    bench: Bench
    optimove: httpx.Client
    comm100: httpx.Client
    logs: Logs
    customer: str = ""
    secrets: dict[str, str] = field(default_factory=dict)
    issued: dict[str, int] = field(default_factory=dict)  # token → the exchange that issued it
    sessions: dict[str, int] = field(default_factory=dict)  # console session → its tab page
    exchanges: list[Exchange] = field(default_factory=list)
    driven: dict[RouteKey, set[RouteKey]] = field(default_factory=dict)
    step: RouteKey | None = None
    records: dict[int, list[int]] = field(default_factory=dict)  # site → its sync records
    failed: int = 0  # a record of site A that failed
    restorable: int = 0  # a record of site A that updated a customer
    backfill: int = 0  # a backfill of site A
    browser: TestClient | None = None  # the control panel, signed in as the deployment admin

    @property
    def known(self) -> KnownSecrets:
        return self.bench.known

    def call(self, method: str, url: str, expect: int | set[int], **kwargs: Any) -> httpx.Response:
        """One request (no redirect followed), its answer recorded; `expect`: its status."""
        client: TestClient = kwargs.pop("client", None) or self.bench.client
        hits = self.bench.recorder.hits
        before = len(hits)
        response: httpx.Response = client.request(method, url, follow_redirects=False, **kwargs)
        answered_by = hits[before][0] if len(hits) > before else None
        if self.step is not None and answered_by is not None:
            self.driven.setdefault(self.step, set()).add(answered_by)
        self.exchanges.append(
            Exchange(
                self.step,
                answered_by,
                f"{method} {url.split('?')[0]}",
                response.status_code,
                "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items()),
                response.content.decode("utf-8", "replace"),
            )
        )
        wanted = {expect} if isinstance(expect, int) else expect
        assert response.status_code in wanted, (method, url, response.text[:500])
        return response

    def admin(self) -> dict[str, str]:
        return bearer(self.known.admin_token)

    def token(self, name: str) -> str:
        return self.secrets[name]

    def webhook_url(self, site_id: int, channel: str, token: str | None = None) -> str:
        token = token or self.bench.webhook_token(site_id)
        return f"/webhooks/comm100/{site_id}/{channel}?token={token}"

    def ui(self, method: str, url: str, expect: int | set[int], **kwargs: Any) -> httpx.Response:
        assert self.browser is not None
        return self.call(method, url, expect, client=self.browser, **kwargs)

    def ui_form(self, url: str, data: dict[str, str], expect: int | set[int]) -> httpx.Response:
        assert self.browser is not None
        token = csrf_token(page(self.ui("GET", "/ui/sites", 200)))
        return self.ui("POST", url, expect, data={"csrf_token": token, **data})

    def work(self) -> None:
        """What the background worker would do now: process every record that is due."""
        while Worker(self.bench.runtime).run_once():
            pass

    def relay_callbacks(self) -> None:
        """Deliver what Optimove would have POSTed to our CallbackURL (the sandbox holds it)."""
        with self.bench.runtime.unit_of_work(read_only=True) as session:
            sent = session.scalar(select(func.count()).where(OptimoveWrite.state == "sent"))
        deadline = time.monotonic() + 10
        while True:
            callbacks = self.optimove.get("/_sandbox/callbacks").json()
            if len(callbacks) >= (sent or 0) or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.optimove.delete("/_sandbox/callbacks").raise_for_status()
        for callback in callbacks:
            url = httpx.URL(callback["url"])
            assert str(url).startswith(PUBLIC_URL)
            self.call("POST", f"{url.path}?{url.query.decode()}", 200, json=callback["body"])

    def faults(self, **faults: float) -> None:
        defaults = {"error_rate": 0.0, "rate_429": 0.0}
        self.optimove.put("/_sandbox/faults", json={**defaults, **faults}).raise_for_status()


Step = Callable[[Drive], None]
DRIVES: dict[RouteKey, Step] = {}


def drives(method: str, path: str) -> Callable[[Step], Step]:
    """Register a step of the drive for one route; steps run in the order they are defined."""

    def register(step: Step) -> Step:
        assert (method, path) not in DRIVES, (method, path)
        DRIVES[(method, path)] = step
        return step

    return register


def _settings(drive: Drive) -> dict[str, Any]:
    document = settings(str(drive.optimove.base_url), str(drive.comm100.base_url))
    document["optimove"]["api_key"] = drive.known.optimove_key
    document["comm100"]["api_key"] = drive.known.comm100_key
    return document


# --- operations -----------------------------------------------------------------------------------


@drives("GET", "/healthz")
def _healthz(drive: Drive) -> None:
    drive.call("GET", "/healthz", 200)


@drives("GET", "/readyz")
def _readyz(drive: Drive) -> None:
    drive.call("GET", "/readyz", 200)


# --- sites, settings, tokens ----------------------------------------------------------------------


@drives("POST", "/api/v1/sites")
def _create_sites(drive: Drive) -> None:
    for site_id in (SITE_A, SITE_B, SITE_C):
        drive.call(
            "POST",
            "/api/v1/sites",
            201,
            json={"site_id": site_id, "name": "S"},
            headers=drive.admin(),
        )
    body = {"site_id": 1, "name": "x"}
    drive.call("POST", "/api/v1/sites", 401, json=body)
    # A token that starts with the admin token, as a typo would: it must not be echoed.
    typo = bearer(drive.known.admin_token + "x")
    drive.call("POST", "/api/v1/sites", 401, json=body, headers=typo)
    drive.call(
        "POST", "/api/v1/sites", 409, json={"site_id": SITE_A, "name": "S"}, headers=drive.admin()
    )
    drive.call(
        "POST", "/api/v1/sites", 422, json={"site_id": -1, "name": " "}, headers=drive.admin()
    )
    drive.call(
        "POST",
        "/api/v1/sites",
        400,
        content=b'{"site_id": 1, "name": "' + drive.known.admin_token.encode(),
        headers={**drive.admin(), "Content-Type": "application/json"},
    )


@drives("GET", "/api/v1/sites")
def _list_sites(drive: Drive) -> None:
    drive.call("GET", "/api/v1/sites", 200, headers=drive.admin())
    drive.call("GET", "/api/v1/sites", 401, headers={"Authorization": "Basic eDp5"})


@drives("PUT", f"{API}/settings")
def _write_settings(drive: Drive) -> None:
    for site_id in (SITE_A, SITE_B):
        url = API.format(site_id=site_id) + "/settings"
        drive.call("PUT", url, 200, json=_settings(drive), headers=drive.admin())
    url = API.format(site_id=SITE_A) + "/settings"
    invalid = _settings(drive)
    invalid["optimove"].update(api_key=drive.token("typed Optimove key"), base_url="ftp://x")
    invalid["comm100"]["api_key"] = drive.token("typed Comm100 key")
    invalid["optimove"]["customer_url_template"] = "no id here"
    drive.call("PUT", url, 422, json=invalid, headers=drive.admin())
    drive.call("PUT", url, 422, json={"optimove": {"api_key": 42}}, headers=drive.admin())
    drive.call(
        "PUT",
        url,
        400,
        content=b'{"optimove": {"api_key": "' + drive.token("typed Optimove key").encode(),
        headers={**drive.admin(), "Content-Type": "application/json"},
    )
    # The masked key read back keeps the stored one.
    masked = drive.call("GET", url, 200, headers=drive.admin()).json()
    drive.call("PUT", url, 200, json=masked, headers=drive.admin())


@drives("GET", f"{API}/settings")
def _read_settings(drive: Drive) -> None:
    for site_id in (SITE_A, SITE_B, SITE_C):
        drive.call("GET", API.format(site_id=site_id) + "/settings", 200, headers=drive.admin())
    drive.call("GET", API.format(site_id=77) + "/settings", 404, headers=drive.admin())


@drives("POST", f"{API}/tokens")
def _issue_tokens(drive: Drive) -> None:
    url = API.format(site_id=SITE_A) + "/tokens"
    for name, role in (
        ("site admin token", "admin"),
        ("agent token", "agent"),
        ("revoked token", "agent"),
    ):
        issued = drive.call(
            "POST", url, 201, json={"role": role, "label": name}, headers=drive.admin()
        )
        token = issued.json()["token"]
        drive.secrets[name] = token
        drive.issued[token] = len(drive.exchanges) - 1
    drive.call("POST", url, 422, json={"role": "root"}, headers=drive.admin())
    agent = bearer(drive.token("agent token"))
    drive.call("POST", url, 403, json={"role": "admin"}, headers=agent)


@drives("GET", f"{API}/tokens")
def _list_tokens(drive: Drive) -> None:
    url = API.format(site_id=SITE_A) + "/tokens"
    drive.call("GET", url, 200, headers=drive.admin())
    drive.call("GET", url, 200, headers=bearer(drive.token("site admin token")))


@drives("DELETE", f"{API}/tokens/{{token_id}}")
def _revoke_token(drive: Drive) -> None:
    url = API.format(site_id=SITE_A) + "/tokens"
    listed = drive.call("GET", url, 200, headers=drive.admin()).json()
    [revoked] = [token["id"] for token in listed if token["label"] == "revoked token"]
    drive.call("DELETE", f"{url}/{revoked}", 204, headers=drive.admin())
    drive.call("DELETE", f"{url}/{revoked}", 404, headers=drive.admin())
    drive.call("GET", "/api/v1/sites", 401, headers=bearer(drive.token("revoked token")))


@drives("GET", API)
def _get_site(drive: Drive) -> None:
    drive.call(
        "GET", API.format(site_id=SITE_A), 200, headers=bearer(drive.token("site admin token"))
    )
    drive.call(
        "GET", API.format(site_id=SITE_B), 404, headers=bearer(drive.token("site admin token"))
    )
    drive.call("GET", API.format(site_id=SITE_A), 403, headers=bearer(drive.token("agent token")))


@drives("GET", f"{API}/webhooks")
def _webhook_urls(drive: Drive) -> None:
    for site_id in (SITE_A, SITE_B):
        drive.call("GET", API.format(site_id=site_id) + "/webhooks", 200, headers=drive.admin())


# --- the vendor connections -----------------------------------------------------------------------


@drives("POST", f"{API}/optimove/test")
def _test_optimove(drive: Drive) -> None:
    url = API.format(site_id=SITE_A) + "/optimove/test"
    drive.call("POST", url, 200, headers=drive.admin())
    wrong = {"api_key": drive.token("typed Optimove key")}
    drive.call("POST", url, 502, json=wrong, headers=drive.admin())
    unreachable = {"base_url": "http://127.0.0.1:9", "api_key": drive.token("typed Optimove key")}
    drive.call("POST", url, {502, 504}, json=unreachable, headers=drive.admin())
    drive.call("POST", url, 422, json={"base_url": "not a url"}, headers=drive.admin())
    drive.call("POST", API.format(site_id=SITE_C) + "/optimove/test", 422, headers=drive.admin())
    drive.faults(error_rate=1.0)
    drive.call("POST", url, 502, headers=drive.admin())
    drive.faults(rate_429=1.0)
    drive.call("POST", url, 502, headers=drive.admin())
    drive.faults()


@drives("GET", f"{API}/optimove/attributes")
def _attributes(drive: Drive) -> None:
    url = API.format(site_id=SITE_A) + "/optimove/attributes"
    drive.call("GET", url, 200, headers=drive.admin())
    drive.faults(error_rate=1.0)
    drive.call("GET", url, 502, params={"refresh": True}, headers=drive.admin())
    drive.faults()
    drive.call("GET", url, 200, params={"refresh": True}, headers=drive.admin())
    drive.call(
        "GET", API.format(site_id=SITE_C) + "/optimove/attributes", 422, headers=drive.admin()
    )


@drives("POST", f"{API}/comm100/test")
def _test_comm100(drive: Drive) -> None:
    url = API.format(site_id=SITE_A) + "/comm100/test"
    drive.call("POST", url, 200, headers=drive.admin())
    wrong = {"api_key": drive.token("typed Comm100 key")}
    drive.call("POST", url, 502, json=wrong, headers=drive.admin())
    unreachable = {
        "api_base_url": "http://127.0.0.1:9/v4",
        "agent_email": "agent@example.com",
        "api_key": drive.token("typed Comm100 key"),
    }
    drive.call("POST", url, {502, 504}, json=unreachable, headers=drive.admin())
    drive.call("POST", API.format(site_id=SITE_C) + "/comm100/test", 422, headers=drive.admin())
    drive.comm100.put("/_sandbox/faults", json={"error_rate": 1.0}).raise_for_status()
    drive.call("POST", url, 502, headers=drive.admin())
    drive.comm100.put("/_sandbox/faults", json={"error_rate": 0.0}).raise_for_status()


@drives("GET", f"{API}/comm100/fields")
def _comm100_fields(drive: Drive) -> None:
    url = API.format(site_id=SITE_A) + "/comm100/fields"
    drive.call("GET", url, 200, headers=drive.admin())
    drive.call("GET", url, 200, params={"refresh": True}, headers=drive.admin())
    drive.call("GET", API.format(site_id=SITE_C) + "/comm100/fields", 200, headers=drive.admin())


def _comm100_sandbox(drive: Drive, knob: str, value: Any) -> None:
    drive.comm100.put(f"/_sandbox/{knob}", json=value).raise_for_status()


@drives("GET", f"{API}/comm100/webhooks")
def _comm100_webhooks(drive: Drive) -> None:
    url = API.format(site_id=SITE_A) + "/comm100/webhooks"
    # Comm100 holds site A's URL at an older address: the answer names it by origin only.
    older = webhook_urls(drive, SITE_A)[0].replace(PUBLIC_URL, "http://old.example.com")
    _comm100_sandbox(
        drive, "webhooks", [{"siteId": SITE_A, "event": "chatEnds", "targetUrl": older}]
    )
    drive.call("GET", url, 200, headers=drive.admin())
    drive.call("GET", url, 200, headers=bearer(drive.token("site admin token")))
    drive.call("GET", url, 403, headers=bearer(drive.token("agent token")))
    drive.call("GET", API.format(site_id=SITE_C) + "/comm100/webhooks", 422, headers=drive.admin())
    drive.call("GET", API.format(site_id=77) + "/comm100/webhooks", 404, headers=drive.admin())
    _comm100_sandbox(drive, "faults", {"error_rate": 1.0})
    drive.call("GET", url, 502, headers=drive.admin())
    _comm100_sandbox(drive, "faults", {"error_rate": 0.0})


@drives("POST", f"{API}/comm100/webhooks")
def _register_comm100_webhooks(drive: Drive) -> None:
    url = API.format(site_id=SITE_A) + "/comm100/webhooks"
    _comm100_sandbox(drive, "behaviour", {"manage_integration": False})
    drive.call("POST", url, 403, headers=drive.admin())
    drive.call("GET", url, 403, headers=drive.admin())
    _comm100_sandbox(drive, "behaviour", {"manage_integration": True})
    drive.call("POST", url, 200, headers=drive.admin())  # the older one repointed, one created
    drive.call("POST", url, 200, json={"replace_elsewhere": True}, headers=drive.admin())
    drive.call("POST", url, 422, json={"replace_elsewhere": "yes"}, headers=drive.admin())
    drive.call(
        "POST",
        url,
        400,
        content=b'{"replace_elsewhere": ' + drive.known.admin_token.encode(),
        headers={**drive.admin(), "Content-Type": "application/json"},
    )
    drive.call("POST", API.format(site_id=SITE_C) + "/comm100/webhooks", 422, headers=drive.admin())
    registered = drive.comm100.get("/_sandbox/webhooks").json()
    assert {w["targetUrl"] for w in registered} == {webhook_urls(drive, SITE_A)[0]}


# --- the agent console ----------------------------------------------------------------------------


def _tab(drive: Drive, channel: str) -> None:
    url = f"/console/{SITE_A}/{channel}"
    agent = drive.token("agent token")
    shown = drive.call(
        "GET", url, 200, params={"token": agent, "siteId": str(SITE_A), "agentId": "7"}
    )
    found = SESSION_META.search(shown.text)
    assert found is not None
    drive.sessions[found.group(1)] = len(drive.exchanges) - 1
    drive.call("GET", url, 401, params={"token": drive.token("revoked token")})
    drive.call("GET", url, 401, params={"token": drive.known.admin_token + "x"})
    drive.call("GET", url, 401, params={"token": found.group(1)})  # a session is no token
    drive.call("GET", url, 400, params={"token": agent, "siteId": str(SITE_B)})
    drive.call("GET", f"/console/{SITE_B}/{channel}", 404, params={"token": agent})


@drives("GET", "/console/{site_id}/livechat")
def _livechat_tab(drive: Drive) -> None:
    _tab(drive, "livechat")


@drives("GET", "/console/{site_id}/ticketing")
def _ticketing_tab(drive: Drive) -> None:
    _tab(drive, "ticketing")


@drives("GET", f"{API}/comm100/app-manifest")
def _app_manifest(drive: Drive) -> None:
    for site_id in (SITE_A, SITE_B):
        url = API.format(site_id=site_id) + "/comm100/app-manifest"
        drive.call("GET", url, 200, headers=drive.admin())
    drive.call("GET", API.format(site_id=77) + "/comm100/app-manifest", 404, headers=drive.admin())
    drive.call("GET", API.format(site_id=SITE_A) + "/comm100/app-manifest", 401)


@drives("GET", "/auth/comm100/start")
def _sign_in_start(drive: Drive) -> None:
    # Sign-in is not set up in the drive's settings: refused, saying so, for both flows.
    tab = f"/console/{SITE_A}/livechat"
    drive.call(
        "GET",
        "/auth/comm100/start",
        409,
        params={"site_id": SITE_A, "next": tab, "nonce": "n" * 32},
    )
    drive.call("GET", "/auth/comm100/start", 303, params={"site_id": SITE_A, "next": "/ui/sites"})
    drive.call(
        "GET",
        "/auth/comm100/start",
        422,
        params={"site_id": SITE_A, "next": "https://evil.example/"},
    )
    drive.call("GET", "/auth/comm100/start", 422, params={"site_id": "x", "next": tab})


@drives("GET", "/auth/comm100/callback")
def _sign_in_callback(drive: Drive) -> None:
    code = drive.token("Comm100 sign-in code")
    drive.call("GET", "/auth/comm100/callback", 400, params={"code": code, "state": "forged"})
    drive.call("GET", "/auth/comm100/callback", 400, params={"code": code})


@drives("GET", "/console/static/{name}")
def _console_files(drive: Drive) -> None:
    drive.call("GET", "/console/static/console.js", 200)
    drive.call("GET", "/console/static/secret.key", 404)


def _console(
    drive: Drive, action: str, body: dict[str, Any], expect: int | set[int], **kw: Any
) -> httpx.Response:
    headers = kw.pop("headers", None) or bearer(drive.token("agent token"))
    return drive.call(
        "POST", f"/api/v1/sites/{SITE_A}/console/{action}", expect, json=body, headers=headers
    )


@drives("POST", f"{API}/console/lookup")
def _lookup(drive: Drive) -> None:
    session = bearer(next(iter(drive.sessions)))
    _console(drive, "lookup", chat(visitor(drive.customer)), 200)
    _console(drive, "lookup", chat(visitor(drive.customer)), 200, headers=session)
    _console(drive, "lookup", chat(visitor(None)), 200)  # unidentified
    _console(drive, "lookup", chat(visitor(drive.customer)), 401, headers=bearer("obs_forged"))
    _console(
        drive,
        "lookup",
        chat(visitor(drive.customer)),
        401,
        headers=bearer(drive.token("revoked token")),
    )
    _console(drive, "lookup", {"channel": "livechat"}, 422)
    drive.call(
        "POST",
        f"/api/v1/sites/{SITE_B}/console/lookup",
        404,
        json=chat(visitor(drive.customer)),
        headers=bearer(drive.token("agent token")),
    )
    big = {"channel": "livechat", "context": {"chat_id": "x" * 70_000}}
    _console(drive, "lookup", big, 413)


@drives("POST", f"{API}/console/refresh")
def _refresh(drive: Drive) -> None:
    _console(drive, "refresh", chat(visitor(drive.customer)), 200)
    drive.faults(error_rate=1.0)
    stale = _console(drive, "refresh", chat(visitor(drive.customer)), 200)
    assert stale.json()["stale"] is True
    _console(drive, "refresh", chat(visitor(f"C-{uuid.uuid4().hex[:8]}")), {502, 504})
    drive.faults()


@drives("POST", f"{API}/console/edit")
def _edit(drive: Drive) -> None:
    body = {
        "channel": "livechat",
        "customer_id": drive.customer,
        "context": visitor(drive.customer),
    }
    _console(drive, "edit", {**body, "values": {"DATE_OF_BIRTH": "not a date"}}, 422)
    _console(drive, "edit", {**body, "values": {"NO_SUCH": "x"}}, 422)
    _console(drive, "edit", {**body, "values": {"PHONE": "+1 202 555 0199"}}, 200)
    _console(drive, "edit", {**body, "values": {"PHONE": "+1 202 555 0100"}}, 409)  # under way


@drives("POST", f"{API}/console/create")
def _create(drive: Drive) -> None:
    _console(
        drive, "create", chat(visitor(f"C-{uuid.uuid4().hex[:8]}", email="new@example.com")), 200
    )
    _console(drive, "create", chat(visitor(drive.customer)), 409)
    _console(drive, "create", chat(visitor(None)), 422)


@drives("POST", f"{API}/console/create/preview")
def _create_preview(drive: Drive) -> None:
    _console(drive, "create/preview", chat(visitor("C-new", email="new@example.com")), 200)
    _console(drive, "create/preview", chat(visitor(None)), 422)


@drives("GET", f"{API}/console/changes/{{record_id}}")
def _change_status(drive: Drive) -> None:
    agent = bearer(drive.token("agent token"))
    with drive.bench.runtime.unit_of_work(read_only=True) as session:
        changes = list(
            session.scalars(
                select(SyncRecord.id).where(
                    SyncRecord.event.in_(["console_edit", "console_create"])
                )
            )
        )
    assert changes
    for record_id in changes:
        drive.call("GET", f"/api/v1/sites/{SITE_A}/console/changes/{record_id}", 200, headers=agent)
    drive.call("GET", f"/api/v1/sites/{SITE_A}/console/changes/999999", 404, headers=agent)


# --- webhooks and the worker ----------------------------------------------------------------------


@drives("POST", "/webhooks/comm100/{site_id}/livechat")
def _livechat_webhook(drive: Drive) -> None:
    known = chat_end_for(drive.customer, "ann@example.com")
    drive.call("POST", drive.webhook_url(SITE_A, "livechat"), 202, json=known)
    drive.call("POST", drive.webhook_url(SITE_A, "livechat"), 202, json=known)  # duplicate
    new = chat_end_for(f"C-{uuid.uuid4().hex[:8]}", "new@example.com")
    drive.call("POST", drive.webhook_url(SITE_B, "livechat"), 202, json=new)
    drive.call("POST", drive.webhook_url(SITE_A, "livechat", "wrong-token"), 401, json=known)
    drive.call(
        "POST",
        drive.webhook_url(SITE_A, "livechat", drive.bench.webhook_token(SITE_B)),
        401,
        json=known,
    )
    drive.call("POST", f"/webhooks/comm100/{SITE_A}/livechat", 401, json=known)
    drive.call("POST", drive.webhook_url(SITE_A, "livechat"), 400, content=b"{not json")
    drive.call("POST", drive.webhook_url(SITE_A, "livechat"), 400, json=["not", "an", "event"])
    drive.call("POST", drive.webhook_url(77, "livechat", "x"), 404, json=known)
    drive.call("POST", drive.webhook_url(SITE_A, "livechat"), 413, content=b"x" * (1024 * 1024 + 1))


@drives("POST", "/webhooks/comm100/{site_id}/ticketing")
def _ticketing_webhook(drive: Drive) -> None:
    contact = str(uuid.uuid4())
    drive.comm100.put(
        f"/_sandbox/contacts/{contact}",
        json={
            "name": "Ann Lee",
            "lastName": "Lee",
            "customFields": [{"name": "Customer ID", "value": drive.customer}],
            "contactIdentities": [{"contactIdentityType": "Email", "value": "ann@example.com"}],
        },
    ).raise_for_status()
    ticket = ticket_created_trigger(4242, contact, "contact", site_id=SITE_A)
    drive.call("POST", drive.webhook_url(SITE_A, "ticketing"), 202, json=ticket)
    visitor_ticket = ticket_created_trigger(4243, str(uuid.uuid4()), "visitor", site_id=SITE_A)
    drive.call("POST", drive.webhook_url(SITE_A, "ticketing"), 202, json=visitor_ticket)
    drive.call("POST", drive.webhook_url(SITE_A, "ticketing", "wrong"), 401, json=ticket)
    drive.call("POST", drive.webhook_url(SITE_A, "ticketing"), 400, json=[1, 2])


@drives("POST", "/callbacks/optimove/{site_id}")
def _callbacks(drive: Drive) -> None:
    drive.work()
    drive.relay_callbacks()
    url = f"/callbacks/optimove/{SITE_A}"
    token = drive.bench.webhook_token(SITE_A)
    result = {"isSuccess": True, "requestId": "nobody", "errors": []}
    drive.call("POST", f"{url}?token={token}", 200, json=result)
    drive.call("POST", f"{url}?token={token}", 400, content=b"<html>")
    drive.call("POST", f"{url}?token=wrong", 401, json=result)
    # Optimove failing: the next event's record fails (one attempt here), with its reason.
    drive.faults(error_rate=1.0)
    failing = chat_end_for(f"C-{uuid.uuid4().hex[:8]}", "other@example.com")
    accepted = drive.call("POST", drive.webhook_url(SITE_A, "livechat"), 202, json=failing)
    drive.work()
    drive.faults()
    drive.failed = accepted.json()["id"]


# --- the sync log ---------------------------------------------------------------------------------


@drives("GET", f"{API}/syncs")
def _list_syncs(drive: Drive) -> None:
    for site_id in (SITE_A, SITE_B):
        url = API.format(site_id=site_id) + "/syncs"
        cursor: str | None = None
        drive.records[site_id] = []
        while True:
            params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            listed = drive.call("GET", url, 200, params=params, headers=drive.admin()).json()
            drive.records[site_id] += [item["id"] for item in listed["items"]]
            cursor = listed["next_cursor"]
            if cursor is None:
                break
    url = API.format(site_id=SITE_A) + "/syncs"
    drive.call("GET", url, 200, params={"outcome": "failed"}, headers=drive.admin())
    drive.call("GET", url, 422, params={"outcome": "exploded"}, headers=drive.admin())
    drive.call("GET", url, 400, params={"cursor": "forged"}, headers=drive.admin())
    drive.call("GET", url, 403, headers=bearer(drive.token("agent token")))


@drives("GET", f"{API}/syncs/summary")
def _summary(drive: Drive) -> None:
    drive.call("GET", API.format(site_id=SITE_A) + "/syncs/summary", 200, headers=drive.admin())


@drives("GET", f"{API}/syncs/{{record_id}}")
def _sync_details(drive: Drive) -> None:
    for site_id, records in drive.records.items():
        for record_id in records:
            url = API.format(site_id=site_id) + f"/syncs/{record_id}"
            drive.call("GET", url, 200, headers=drive.admin())
    drive.call("GET", API.format(site_id=SITE_A) + "/syncs/999999", 404, headers=drive.admin())


@drives("POST", f"{API}/syncs/{{record_id}}/retry")
def _retry(drive: Drive) -> None:
    url = API.format(site_id=SITE_A) + "/syncs/{}/retry"
    drive.call("POST", url.format(drive.failed), 200, headers=drive.admin())
    drive.call("POST", url.format(drive.failed), 409, headers=drive.admin())
    drive.call("POST", url.format(999999), 404, headers=drive.admin())
    drive.work()


@drives("POST", f"{API}/syncs/{{record_id}}/restore")
def _restore(drive: Drive) -> None:
    customer = f"C-{uuid.uuid4().hex[:8]}"
    drive.optimove.put(f"/_sandbox/customers/{customer}", json={"EMAIL": ""}).raise_for_status()
    chat = chat_end_for(customer, "restore@example.com")
    accepted = drive.call("POST", drive.webhook_url(SITE_A, "livechat"), 202, json=chat)
    drive.work()
    drive.relay_callbacks()
    url = API.format(site_id=SITE_A) + "/syncs/{}/restore"
    updated = accepted.json()["id"]
    drive.call("POST", url.format(updated), 202, headers=drive.admin())
    drive.call("POST", url.format(updated), 409, headers=drive.admin())  # under way, or undone
    drive.call("POST", url.format(drive.failed), 409, headers=drive.admin())  # wrote nothing
    drive.call("POST", url.format(999999), 404, headers=drive.admin())
    agent = bearer(drive.token("agent token"))
    drive.call("POST", url.format(updated), 403, headers=agent)
    drive.relay_callbacks()


@drives("POST", f"{API}/preview")
def _preview(drive: Drive) -> None:
    url = API.format(site_id=SITE_A) + "/preview"
    settings_url = API.format(site_id=SITE_A) + "/settings"
    drive.call("POST", url, 200, json={"channel": "livechat"}, headers=drive.admin())
    drive.call("POST", url, 200, json={"channel": "ticketing", "limit": 5}, headers=drive.admin())
    masked = drive.call("GET", settings_url, 200, headers=drive.admin()).json()
    masked["livechat"]["on_chat_end"] = {"update": "overwrite", "no_match": "auto_create"}
    body = {"settings": masked, "channel": "livechat"}
    drive.call("POST", url, 200, json=body, headers=drive.admin())
    # A key typed into the settings that is not the saved one: refused, never echoed.
    typed = {
        **masked,
        "optimove": {**masked["optimove"], "api_key": drive.token("typed Optimove key")},
    }
    drive.call("POST", url, 422, json={**body, "settings": typed}, headers=drive.admin())
    drive.call("POST", url, 422, json={**body, "limit": 500}, headers=drive.admin())
    drive.call("POST", url, 403, json=body, headers=bearer(drive.token("agent token")))
    drive.call("POST", API.format(site_id=77) + "/preview", 404, json=body, headers=drive.admin())


# --- backfills -----------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@drives("POST", f"{API}/backfills")
def _start_backfill(drive: Drive) -> None:
    now = datetime.now(UTC)
    past_chat = {
        "startTime": _iso(now - timedelta(hours=2)),
        "endTime": _iso(now - timedelta(hours=1)),
        "preChatEmail": "ann@example.com",
        "visitor": {
            "id": str(uuid.uuid4()),
            "customVariables": [{"name": "customer_id", "value": drive.customer}],
        },
    }
    drive.comm100.put("/_sandbox/chats/9001", json=past_chat).raise_for_status()
    url = API.format(site_id=SITE_A) + "/backfills"
    body = {"channel": "livechat", "since": _iso(now - timedelta(days=1))}
    drive.backfill = drive.call("POST", url, 202, json=body, headers=drive.admin()).json()["id"]
    drive.call("POST", url, 409, json=body, headers=drive.admin())
    drive.call("POST", url, 422, json={**body, "channel": "fax"}, headers=drive.admin())
    drive.call(
        "POST", API.format(site_id=SITE_C) + "/backfills", 422, json=body, headers=drive.admin()
    )
    drive.call("POST", url, 403, json=body, headers=bearer(drive.token("agent token")))
    drive.call(
        "POST",
        url,
        400,
        content=b'{"channel": ' + drive.known.admin_token.encode(),
        headers={**drive.admin(), "Content-Type": "application/json"},
    )


@drives("POST", f"{API}/backfills/{{backfill_id}}/pause")
def _pause_backfill(drive: Drive) -> None:
    url = API.format(site_id=SITE_A) + f"/backfills/{drive.backfill}/pause"
    drive.call("POST", url, 200, headers=drive.admin())
    drive.call("POST", url, 409, headers=drive.admin())


@drives("POST", f"{API}/backfills/{{backfill_id}}/resume")
def _resume_backfill(drive: Drive) -> None:
    url = API.format(site_id=SITE_A) + f"/backfills/{drive.backfill}/resume"
    drive.call("POST", url, 200, headers=drive.admin())
    drive.call("POST", url, 409, headers=drive.admin())
    drive.work()  # the chat listed from Comm100 and replayed


@drives("GET", f"{API}/backfills")
def _list_backfills(drive: Drive) -> None:
    url = API.format(site_id=SITE_A) + "/backfills"
    listed = drive.call("GET", url, 200, headers=drive.admin()).json()["items"]
    assert [b["id"] for b in listed] == [drive.backfill]
    drive.call("GET", url, 422, params={"limit": 0}, headers=drive.admin())


@drives("GET", f"{API}/backfills/{{backfill_id}}")
def _get_backfill(drive: Drive) -> None:
    url = API.format(site_id=SITE_A) + "/backfills/{}"
    backfill = drive.call("GET", url.format(drive.backfill), 200, headers=drive.admin()).json()
    assert backfill["total"] == 1
    drive.call("GET", url.format(999999), 404, headers=drive.admin())


@drives("POST", f"{API}/backfills/{{backfill_id}}/cancel")
def _cancel_backfill(drive: Drive) -> None:
    url = API.format(site_id=SITE_A) + f"/backfills/{drive.backfill}/cancel"
    drive.call("POST", url, 200, headers=drive.admin())
    drive.call("POST", url, 409, headers=drive.admin())


# --- the control panel ----------------------------------------------------------------------------


@drives("GET", "/ui")
def _ui_root(drive: Drive) -> None:
    drive.call("GET", "/ui", 303)


@drives("GET", "/ui/")
def _ui_slash(drive: Drive) -> None:
    drive.call("GET", "/ui/", 303)


@drives("GET", "/ui/login")
def _login_page(drive: Drive) -> None:
    drive.call("GET", "/ui/login", 200, params={"next": "/ui/sites"})


@drives("POST", "/ui/login")
def _login(drive: Drive) -> None:
    drive.browser = drive.bench.browser()
    for token, expect in (
        (drive.known.admin_token + "x", 401),
        (drive.token("agent token"), 403),
        (drive.token("revoked token"), 401),
        (drive.known.admin_token, 303),
    ):
        form = csrf_token(page(drive.ui("GET", "/ui/login", 200)))
        drive.ui("POST", "/ui/login", expect, data={"csrf_token": form, "token": token})
    drive.call(
        "POST",
        "/ui/login",
        403,
        data={"token": drive.known.admin_token},
        client=drive.bench.browser(),
    )
    site_admin = drive.bench.browser()
    form = csrf_token(page(drive.call("GET", "/ui/login", 200, client=site_admin)))
    drive.call(
        "POST",
        "/ui/login",
        303,
        data={"csrf_token": form, "token": drive.token("site admin token")},
        client=site_admin,
    )
    drive.call("GET", f"/ui/sites/{SITE_A}", 200, client=site_admin)


@drives("GET", "/ui/sites")
def _sites_page(drive: Drive) -> None:
    drive.ui("GET", "/ui/sites", 200)
    drive.call("GET", "/ui/sites", 303)  # not signed in


@drives("POST", "/ui/sites")
def _ui_create_site(drive: Drive) -> None:
    drive.ui_form("/ui/sites", {"site_id": str(SITE_D), "name": "Delta"}, 303)
    drive.ui_form("/ui/sites", {"site_id": "ten", "name": ""}, 422)
    drive.ui("POST", "/ui/sites", 403, data={"site_id": "5", "name": "x"})
    drive.ui("POST", "/ui/sites", 415, json={"site_id": 5})


@drives("GET", "/ui/sites/{site_id}")
def _site_page(drive: Drive) -> None:
    for site_id in (SITE_A, SITE_B, SITE_D):
        drive.ui("GET", f"/ui/sites/{site_id}", 200)
    drive.ui("GET", f"/ui/sites/{SITE_A}", 200, params={"refresh": "true"})
    drive.faults(error_rate=1.0)
    drive.ui("GET", f"/ui/sites/{SITE_A}", 200, params={"refresh": "true"})
    drive.faults()
    drive.ui("GET", "/ui/sites/77", 404)


@drives("POST", "/ui/sites/{site_id}/optimove")
def _ui_connect_optimove(drive: Drive) -> None:
    url = f"/ui/sites/{SITE_D}/optimove"
    base = str(drive.optimove.base_url)
    drive.ui_form(url, {"base_url": base, "api_key": drive.token("typed Optimove key")}, 502)
    drive.ui_form(url, {"base_url": base, "api_key": drive.known.optimove_key}, 303)
    drive.faults(error_rate=1.0)
    drive.ui_form(url, {"base_url": base, "api_key": ""}, 502)
    drive.faults()
    drive.ui_form(url, {"base_url": "", "api_key": drive.token("typed Optimove key")}, 422)


@drives("POST", "/ui/sites/{site_id}/comm100")
def _ui_connect_comm100(drive: Drive) -> None:
    url = f"/ui/sites/{SITE_D}/comm100"
    values = {"api_base_url": f"{drive.comm100.base_url}/v4", "agent_email": "agent@example.com"}
    drive.comm100.put("/_sandbox/sites", json=[SITE_A, SITE_B, SITE_D]).raise_for_status()
    drive.ui_form(url, {**values, "api_key": drive.token("typed Comm100 key")}, 502)
    drive.ui_form(url, {**values, "api_key": drive.known.comm100_key}, 303)
    drive.ui_form(url, {"api_base_url": "", "agent_email": "", "api_key": "k"}, 422)


@drives("POST", "/ui/sites/{site_id}/comm100/webhooks")
def _ui_register_comm100_webhooks(drive: Drive) -> None:
    url = f"/ui/sites/{SITE_A}/comm100/webhooks"
    _comm100_sandbox(drive, "behaviour", {"manage_integration": False})
    drive.ui_form(url, {}, 403)  # the site page again, saying why
    _comm100_sandbox(drive, "behaviour", {"manage_integration": True})
    drive.ui_form(url, {"replace_elsewhere": "on"}, 303)
    drive.ui_form(f"/ui/sites/{SITE_C}/comm100/webhooks", {}, 422)
    drive.ui("POST", url, 403, data={"csrf_token": "stale"})


@drives("POST", "/ui/sites/{site_id}/backfills")
def _ui_start_backfill(drive: Drive) -> None:
    url = f"/ui/sites/{SITE_A}/backfills"
    since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    drive.ui_form(url, {"channel": "livechat", "since": since}, 303)
    drive.ui_form(url, {"channel": "livechat", "since": "yesterday"}, 303)  # said in a flash
    drive.ui("GET", f"/ui/sites/{SITE_A}/syncs", 200)  # the card, its bar and its message
    drive.ui("POST", url, 403, data={"csrf_token": "stale", "channel": "livechat"})


@drives("POST", "/ui/sites/{site_id}/backfills/{backfill_id}")
def _ui_move_backfill(drive: Drive) -> None:
    backfill_id = drive.call(
        "GET", API.format(site_id=SITE_A) + "/backfills", 200, headers=drive.admin()
    ).json()["items"][0]["id"]
    url = f"/ui/sites/{SITE_A}/backfills/{backfill_id}"
    drive.ui_form(url, {"action": "pause"}, 303)
    drive.ui_form(url, {"action": "explode"}, 303)
    drive.ui_form(url, {"action": "cancel"}, 303)
    drive.ui_form(f"/ui/sites/{SITE_A}/backfills/999999", {"action": "pause"}, 404)


@drives("POST", "/ui/sites/{site_id}/comm100-sign-in")
def _ui_comm100_sign_in(drive: Drive) -> None:
    url = f"/ui/sites/{SITE_D}/comm100-sign-in"
    secret = drive.token("typed OAuth client secret")
    values = {"platform_url": "https://dash11.comm100.io", "oauth_client_id": "optibridge"}
    drive.ui_form(url, values, 422)  # no secret stored yet
    drive.ui_form(url, {**values, "oauth_client_secret": secret}, 303)
    drive.ui("GET", f"/ui/sites/{SITE_D}", 200)  # the card shows the secret masked only


@drives("GET", "/ui/sites/{site_id}/comm100-app/manifest.json")
def _ui_manifest(drive: Drive) -> None:
    drive.ui("GET", f"/ui/sites/{SITE_D}/comm100-app/manifest.json", 200)
    drive.ui("GET", f"/ui/sites/{SITE_A}/comm100-app/manifest.json", 200)
    drive.ui("GET", "/ui/sites/77/comm100-app/manifest.json", 404)


@drives("POST", "/ui/sites/{site_id}/comm100-app/manifest-with-token")
def _ui_manifest_with_token(drive: Drive) -> None:
    drive.ui_form(f"/ui/sites/{SITE_A}/comm100-app/manifest-with-token", {}, 200)
    drive.ui_form(f"/ui/sites/{SITE_D}/comm100-app/manifest-with-token", {}, 200)  # signed in


@drives("POST", "/ui/sites/{site_id}/settings")
def _ui_save_settings(drive: Drive) -> None:
    assert drive.browser is not None
    document = page(drive.ui("GET", f"/ui/sites/{SITE_A}", 200))
    values = form_values(document.by_id("settings-form"))
    del values["csrf_token"]
    url = f"/ui/sites/{SITE_A}/settings"
    drive.ui_form(url, values, 303)
    drive.ui_form(url, {**values, "op": "add:livechat.field_mapping"}, 200)
    drive.ui_form(url, {**values, "op": "explode"}, 400)
    drive.ui_form(url, {**values, "optimove.customer_url_template": "nothing"}, 422)


@drives("POST", "/ui/sites/{site_id}/preview")
def _ui_preview(drive: Drive) -> None:
    document = page(drive.ui("GET", f"/ui/sites/{SITE_A}", 200))
    values = form_values(document.by_id("settings-form"))
    del values["csrf_token"]
    url = f"/ui/sites/{SITE_A}/preview"
    for channel in ("livechat", "ticketing"):
        drive.ui_form(url, {**values, "op": "preview", "preview_channel": channel}, 200)
    invalid = {**values, "optimove.customer_url_template": "nothing", "preview_channel": "livechat"}
    drive.ui_form(url, invalid, 422)
    drive.ui_form(url, {**values, "preview_channel": "email"}, 422)
    drive.ui_form("/ui/sites/77/preview", {**values, "preview_channel": "livechat"}, 404)


@drives("GET", "/ui/sites/{site_id}/syncs")
def _ui_sync_log(drive: Drive) -> None:
    for site_id in (SITE_A, SITE_B):
        drive.ui("GET", f"/ui/sites/{site_id}/syncs", 200)
    drive.ui("GET", f"/ui/sites/{SITE_A}/syncs", 200, params={"outcome": "failed", "cursor": "x"})
    drive.ui("GET", f"/ui/sites/{SITE_A}/syncs", 422, params={"since": "yesterday"})


@drives("POST", "/ui/sites/{site_id}/syncs/{record_id}/retry")
def _ui_retry(drive: Drive) -> None:
    drive.faults(error_rate=1.0)
    failing = chat_end_for(f"C-{uuid.uuid4().hex[:8]}", "third@example.com")
    accepted = drive.call("POST", drive.webhook_url(SITE_A, "livechat"), 202, json=failing)
    drive.work()
    drive.faults()
    record_id = accepted.json()["id"]
    url = f"/ui/sites/{SITE_A}/syncs/{record_id}/retry"
    drive.ui_form(url, {"next": f"/ui/sites/{SITE_A}/syncs"}, 303)
    drive.ui_form(url, {"next": "https://evil.example.com/"}, 303)  # not failed any more
    drive.ui_form(f"/ui/sites/{SITE_A}/syncs/999999/retry", {}, 404)
    drive.work()


@drives("GET", "/ui/sites/{site_id}/syncs/{record_id}/restore")
def _ui_confirm_restore(drive: Drive) -> None:
    customer = f"C-{uuid.uuid4().hex[:8]}"
    drive.optimove.put(f"/_sandbox/customers/{customer}", json={"EMAIL": ""}).raise_for_status()
    chat = chat_end_for(customer, "undo@example.com")
    accepted = drive.call("POST", drive.webhook_url(SITE_A, "livechat"), 202, json=chat)
    drive.work()
    drive.relay_callbacks()
    drive.restorable = accepted.json()["id"]
    url = f"/ui/sites/{SITE_A}/syncs/{{}}/restore"
    drive.ui("GET", url.format(drive.restorable), 200, params={"next": f"/ui/sites/{SITE_A}/syncs"})
    drive.ui("GET", url.format(drive.failed), 409)
    drive.ui("GET", url.format(999999), 404)


@drives("POST", "/ui/sites/{site_id}/syncs/{record_id}/restore")
def _ui_restore(drive: Drive) -> None:
    url = f"/ui/sites/{SITE_A}/syncs/{drive.restorable}/restore"
    drive.ui_form(url, {"next": f"/ui/sites/{SITE_A}/syncs"}, 303)
    drive.relay_callbacks()
    drive.ui_form(url, {"next": f"/ui/sites/{SITE_A}/syncs"}, 303)  # refused: undone already
    drive.ui("GET", f"/ui/sites/{SITE_A}/syncs", 200)  # the flash message, and the restore
    drive.ui_form(f"/ui/sites/{SITE_A}/syncs/999999/restore", {}, 404)


@drives("GET", "/ui/{path:path}")
def _ui_not_found(drive: Drive) -> None:
    drive.ui("GET", "/ui/no/such/page", 404)


@drives("GET", "/ui/static")
def _ui_static(drive: Drive) -> None:
    drive.call("GET", "/ui/static/optibridge.css", 200)
    drive.call("GET", "/ui/static/../../secret.key", 404)


@drives("POST", "/ui/logout")
def _logout(drive: Drive) -> None:
    drive.ui("POST", "/ui/logout", 403, data={"csrf_token": "stale"})
    drive.ui_form("/ui/logout", {}, 303)
    drive.ui("GET", "/ui/login", 200)  # shows the flash message


# --- deleting, documentation, metrics -------------------------------------------------------------


@drives("DELETE", API)
def _delete_site(drive: Drive) -> None:
    drive.call(
        "DELETE", API.format(site_id=SITE_C), 403, headers=bearer(drive.token("site admin token"))
    )
    drive.call("DELETE", API.format(site_id=SITE_C), 204, headers=drive.admin())
    drive.call("DELETE", API.format(site_id=SITE_C), 404, headers=drive.admin())


@drives("GET", "/openapi.json")
def _openapi(drive: Drive) -> None:
    drive.call("GET", "/openapi.json", 200)


@drives("GET", "/docs")
def _docs(drive: Drive) -> None:
    drive.call("GET", "/docs", 200)


@drives("GET", "/docs-assets")
def _docs_assets(drive: Drive) -> None:
    drive.call("GET", "/docs-assets/swagger-ui.css", 200)
    drive.call("GET", "/docs-assets/../../secret.key", 404)


@drives("GET", "/docs/oauth2-redirect")
def _docs_redirect(drive: Drive) -> None:
    drive.call("GET", "/docs/oauth2-redirect", 200)


@drives("GET", "/metrics")
def _metrics(drive: Drive) -> None:
    drive.call("GET", "/metrics", 200)


# --- running it once for the module ---------------------------------------------------------------


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drive]:
    data_dir: Path = tmp_path_factory.mktemp("secret-leaks")
    known = KnownSecrets()
    with (
        captured_logs() as logs,
        running_bench(
            data_dir,
            known=known,
            offline=False,
            optimove_rate_limit=100_000,
            optimove_rate_window_s=1.0,
            sync_max_attempts=1,
        ) as bench,
        contextlib.contextmanager(start_optimove_sandbox)(data_dir / "optimove.log") as vendor,
        contextlib.contextmanager(start_comm100_sandbox)(data_dir / "comm100.log") as contacts,
        httpx.Client(base_url=vendor.url, timeout=30) as optimove,
        httpx.Client(base_url=contacts.url, timeout=30) as comm100,
    ):
        optimove.post("/_sandbox/reset").raise_for_status()
        optimove.put("/_sandbox/keys", json=[known.optimove_key]).raise_for_status()
        optimove.put("/_sandbox/limits", json={"requests": 100_000}).raise_for_status()
        faults = {"callback_delay_ms": 10, "callback_drop_rate": 1.0}
        optimove.put("/_sandbox/faults", json=faults).raise_for_status()
        comm100.post("/_sandbox/reset").raise_for_status()
        comm100.put("/_sandbox/keys", json=[known.comm100_key]).raise_for_status()
        comm100.put("/_sandbox/sites", json=[SITE_A, SITE_B]).raise_for_status()

        running = Drive(bench, optimove, comm100, logs)
        running.customer = f"C-{uuid.uuid4().hex[:8]}"
        optimove.put(
            f"/_sandbox/customers/{running.customer}",
            json={"EMAIL": "ann@example.com", "PHONE": None, "FIRST_NAME": "Ann"},
        ).raise_for_status()
        running.secrets.update(
            {
                "typed Optimove key": fresh_secret("typed-optimove"),
                "typed Comm100 key": fresh_secret("typed-comm100"),
                "Comm100 sign-in code": fresh_secret("sign-in-code"),
                "typed OAuth client secret": fresh_secret("oauth-secret"),
            }
        )
        for route, step in DRIVES.items():
            running.step = route
            step(running)
        running.step = None
        yield running


def all_secrets(drive: Drive) -> dict[str, str]:
    known = drive.known
    everything = {
        "admin token": known.admin_token,
        "OPTIBRIDGE_SECRET_KEY": known.secret_key,
        "Optimove API key": known.optimove_key,
        "Comm100 API key": known.comm100_key,
        **drive.secrets,
    }
    for site_id in (SITE_A, SITE_B, SITE_D):
        everything[f"webhook token of {site_id}"] = drive.bench.webhook_token(site_id)
    for number, session in enumerate(drive.sessions):
        everything[f"console session {number}"] = session
    return everything


# --- what the API hands over by design ------------------------------------------------------------

# The admin API's list of webhook URLs, and the site's control panel page, which shows them: as
# read, or as shown again by a form of that page which was not saved (with what was typed).
WEBHOOK_LISTINGS = {("GET", f"{API}/webhooks"), ("GET", "/ui/sites/{site_id}")}
SITE_PAGE_FORMS = {
    ("POST", f"/ui/sites/{{site_id}}/{form}")
    for form in (
        "optimove",
        "comm100",
        "settings",
        "preview",
        "comm100-sign-in",
        "comm100/webhooks",
    )
}
TAB_PAGES = {("GET", "/console/{site_id}/livechat"), ("GET", "/console/{site_id}/ticketing")}
SYNC_LOG = {("GET", f"{API}/syncs"), ("GET", f"{API}/syncs/{{record_id}}")}


def webhook_urls(drive: Drive, site_id: int) -> list[str]:
    query = f"?token={drive.bench.webhook_token(site_id)}"
    return [
        f"{PUBLIC_URL}/webhooks/comm100/{site_id}/livechat{query}",
        f"{PUBLIC_URL}/webhooks/comm100/{site_id}/ticketing{query}",
        f"{PUBLIC_URL}/callbacks/optimove/{site_id}{query}",
    ]


def without_what_it_hands_over(drive: Drive, index: int, exchange: Exchange) -> str:
    """The exchange's text without the secrets it is meant to show, each only in the one place
    it is meant to be: the issued token in the `token` field of the answer that issued it, a
    site's webhook URLs in the answers that list them, a console session in the meta tag of the
    tab page that issued it."""
    text = exchange.text
    for token, issuer in drive.issued.items():
        if issuer == index:
            text = text.replace(f'"token":"{token}"', '"token":"[issued]"')
    if exchange.answered_by in WEBHOOK_LISTINGS | SITE_PAGE_FORMS:
        for site_id in (SITE_A, SITE_B, SITE_D):
            for url in webhook_urls(drive, site_id):
                text = text.replace(url, "[webhook URL]")
    if exchange.answered_by in TAB_PAGES:
        for session, issuer in drive.sessions.items():
            if issuer == index:
                meta = f'name="optibridge-session" content="{session}"'
                text = text.replace(meta, "[console session]")
    return text


# --- the tests ------------------------------------------------------------------------------------


def test_every_route_is_in_the_drive_table(drive: Drive) -> None:
    assert route_keys(drive.bench.recorder.app) == set(DRIVES)


def test_every_answer_of_the_service_is_searched(drive: Drive) -> None:
    assert len(drive.bench.recorder.hits) == len(drive.exchanges)


def test_every_route_is_exercised_by_its_own_step(drive: Drive) -> None:
    not_reached = [route for route in DRIVES if route not in drive.driven.get(route, set())]
    assert not_reached == []


def test_the_drive_went_through_the_error_paths(drive: Drive) -> None:
    statuses = {exchange.status for exchange in drive.exchanges}
    assert {200, 201, 202, 204, 303, 400, 401, 403, 404, 409, 413, 415, 422, 502} <= statuses
    with drive.bench.runtime.unit_of_work(read_only=True) as session:
        errors = session.scalar(select(func.count()).where(SyncRecord.last_error.is_not(None)))
        calls = session.scalar(select(func.count()).select_from(OptimoveCallLog))
    assert errors  # records that failed, with their reason
    assert calls  # and the Optimove calls made for records


def test_no_answer_shows_a_secret_beyond_what_it_hands_over(drive: Drive) -> None:
    secrets = all_secrets(drive)
    leaks = [
        (exchange.request, exchange.status, found)
        for index, exchange in enumerate(drive.exchanges)
        if (found := secrets_in(without_what_it_hands_over(drive, index, exchange), secrets))
    ]
    assert leaks == []


def test_an_issued_token_is_shown_once_in_the_answer_that_issued_it(drive: Drive) -> None:
    assert len(drive.issued) == 3
    for token, issuer in drive.issued.items():
        showing = [i for i, exchange in enumerate(drive.exchanges) if token in exchange.text]
        assert showing == [issuer]
        assert drive.exchanges[issuer].answered_by == ("POST", f"{API}/tokens")


def test_a_webhook_token_shows_only_in_its_sites_webhook_urls(drive: Drive) -> None:
    for site_id in (SITE_A, SITE_B):
        token = drive.bench.webhook_token(site_id)
        showing = {exchange.answered_by for exchange in drive.exchanges if token in exchange.text}
        assert WEBHOOK_LISTINGS <= showing <= WEBHOOK_LISTINGS | SITE_PAGE_FORMS, site_id


def test_a_console_session_shows_only_in_the_tab_page_that_issued_it(drive: Drive) -> None:
    assert len(drive.sessions) == 2
    for session, issuer in drive.sessions.items():
        showing = [i for i, exchange in enumerate(drive.exchanges) if session in exchange.text]
        assert showing == [issuer]


def test_no_log_line_carries_a_secret(drive: Drive) -> None:
    logs = drive.logs.text()
    assert '"event": "request"' in logs  # the access log was captured
    assert "record_failed" in logs  # and the worker's
    assert secrets_in(logs, all_secrets(drive)) == []


def test_the_sync_log_shows_no_secret(drive: Drive) -> None:
    shown = [exchange for exchange in drive.exchanges if exchange.answered_by in SYNC_LOG]
    details = {exchange.request for exchange in shown if exchange.status == 200}
    every_record = [record for records in drive.records.values() for record in records]
    assert len(every_record) >= 8
    assert len(details) >= len(every_record)
    secrets = all_secrets(drive)
    assert [exchange.request for exchange in shown if secrets_in(exchange.text, secrets)] == []


def test_no_database_row_carries_a_secret(drive: Drive) -> None:
    rows = drive.bench.rows()
    assert rows["sync_records"]
    assert rows["optimove_calls"]
    assert rows["optimove_writes"]
    leaks = {
        table: found
        for table, table_rows in rows.items()
        if (found := secrets_in(repr(table_rows), all_secrets(drive)))
    }
    assert leaks == {}
