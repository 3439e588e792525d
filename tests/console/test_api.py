"""The console API and the tab page (SPEC 4.5, 5.4), in-process, against both sandboxes running
as their own processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from optibridge.app import create_app
from optibridge.config import Config
from optibridge.optimove.client import bucket_for_api_key
from optibridge.runtime import Runtime
from optibridge.store.limiter import LimiterBusy
from optibridge.store.migrate import upgrade_to_head
from optibridge.store.models import OptimoveCallLog, SyncRecord
from tests.support.processes import free_port, optibridge_command, running_process
from tests.web.conftest import ADMIN_TOKEN, SANDBOX_KEY

SITE, OTHER_SITE = 10000, 20000
COMM100_KEY = "sandbox-comm100-key"
CONTACT = "6f1c2a9e-0000-4000-8000-00000000c0de"


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def comm100_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("comm100") / "comm100.log"
    argv = optibridge_command("sandbox", "comm100", "--port", str(port))
    with running_process(argv, ready_url=f"{base}/_sandbox/requests", log_path=log_path):
        yield base


@pytest.fixture
def comm100(comm100_sandbox: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=comm100_sandbox, timeout=10) as control:
        control.post("/_sandbox/reset").raise_for_status()
        control.put("/_sandbox/sites", json=[SITE, OTHER_SITE]).raise_for_status()
        yield control


@pytest.fixture
def optimove(sandbox: httpx.Client) -> httpx.Client:
    """The Optimove sandbox: quick to apply writes, its callbacks relayed by the tests."""
    faults = {"callback_delay_ms": 10, "callback_drop_rate": 1.0}
    sandbox.put("/_sandbox/faults", json=faults).raise_for_status()
    return sandbox


class Console:
    """The service in-process, two configured sites, and an agent token for each."""

    def __init__(
        self, client: TestClient, runtime: Runtime, optimove: httpx.Client, comm100_url: str
    ) -> None:
        self.client = client
        self.runtime = runtime
        self.optimove = optimove
        self.comm100_url = comm100_url
        self.tokens: dict[int, str] = {}

    # --- set-up

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def configure(self, site_id: int, **sections: Any) -> None:
        document = settings(str(self.optimove.base_url), self.comm100_url)
        for name, section in sections.items():
            document[name] = {**document[name], **section}
        saved = self.client.put(
            f"/api/v1/sites/{site_id}/settings", json=document, headers=self.admin()
        )
        assert saved.status_code == 200, saved.text

    def agent(self, site_id: int = SITE) -> dict[str, str]:
        if site_id not in self.tokens:
            issued = self.client.post(
                f"/api/v1/sites/{site_id}/tokens", json={"role": "agent"}, headers=self.admin()
            )
            assert issued.status_code == 201, issued.text
            self.tokens[site_id] = issued.json()["token"]
        return {"Authorization": f"Bearer {self.tokens[site_id]}"}

    def customer(self, **attributes: str | None) -> str:
        customer_id = f"C-{uuid.uuid4().hex[:8]}"
        seeded = self.optimove.put(f"/_sandbox/customers/{customer_id}", json=attributes)
        seeded.raise_for_status()
        return customer_id

    # --- the API

    def post(
        self, path: str, body: dict[str, Any], site_id: int = SITE, **kwargs: Any
    ) -> httpx.Response:
        headers = kwargs.pop("headers", None) or self.agent(site_id)
        response: httpx.Response = self.client.post(
            f"/api/v1/sites/{site_id}/console/{path}", json=body, headers=headers, **kwargs
        )
        return response

    def lookup(self, context: dict[str, Any], *, refresh: bool = False) -> dict[str, Any]:
        response = self.post("refresh" if refresh else "lookup", chat(context))
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        return view

    def change(self, record_id: int) -> dict[str, Any]:
        response = self.client.get(
            f"/api/v1/sites/{SITE}/console/changes/{record_id}", headers=self.agent()
        )
        assert response.status_code == 200, response.text
        status: dict[str, Any] = response.json()
        return status

    # --- Optimove

    def optimove_calls(self, since: float, method: str | None = None) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = self.optimove.get(
            "/_sandbox/requests", params={"since": since}
        ).json()
        return [c for c in calls if method is None or c["method"] == method]

    def relay_callbacks(self, expected: int = 1) -> None:
        """Deliver what Optimove would have POSTed to our CallbackURL."""
        deadline = time.monotonic() + 10
        while True:
            callbacks = self.optimove.get("/_sandbox/callbacks").json()
            if len(callbacks) >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert len(callbacks) >= expected, callbacks
        self.optimove.delete("/_sandbox/callbacks").raise_for_status()
        for callback in callbacks:
            url = urlsplit(callback["url"])
            answer = self.client.post(f"{url.path}?{url.query}", json=callback["body"])
            assert answer.status_code == 200, answer.text

    def records(self, event: str | None = None) -> list[SyncRecord]:
        with self.runtime.unit_of_work(read_only=True) as session:
            query = select(SyncRecord).order_by(SyncRecord.id)
            if event is not None:
                query = query.where(SyncRecord.event == event)
            return list(session.scalars(query))


def settings(optimove_url: str, comm100_url: str) -> dict[str, Any]:
    def mapping(field: str, source: str, name: str, shown: bool = True) -> dict[str, Any]:
        return {
            "optimove_field": field,
            "comm100_field": {"source": source, "name": name},
            "show_in_console": shown,
        }

    return {
        "optimove": {
            "base_url": optimove_url,
            "api_key": SANDBOX_KEY,
            "web_app_url": "https://acme.optimove.net",
        },
        "comm100": {
            "api_base_url": f"{comm100_url}/v4",
            "agent_email": "agent@example.com",
            "api_key": COMM100_KEY,
        },
        "livechat": {
            "enabled": True,
            "field_mapping": [
                mapping("EMAIL", "system", "email"),
                mapping("PHONE", "system", "phone"),
                mapping("FIRST_NAME", "prechat", "First Name"),
                mapping("DATE_OF_BIRTH", "prechat", "Birthday"),
                mapping("COUNTRY", "system", "country", shown=False),
            ],
            "identification": [{"source": "custom_variable", "name": "customer_id"}],
            "on_chat_end": {"update": "fill_empty", "no_match": "agent_create"},
        },
        "ticketing": {
            "enabled": True,
            "field_mapping": [
                mapping("EMAIL", "identity", "Email"),
                mapping("LAST_NAME", "contact", "lastName"),
            ],
            "identification": [{"source": "contact", "name": "Customer ID"}],
            "on_ticket_created": {"update": "overwrite", "no_match": "never"},
        },
    }


@pytest.fixture
def console(
    database_url: str, tmp_path: Path, optimove: httpx.Client, comm100: httpx.Client
) -> Iterator[Console]:
    with running_console(database_url, tmp_path, optimove, comm100) as service:
        yield service


@contextmanager
def running_console(
    database_url: str,
    tmp_path: Path,
    optimove: httpx.Client,
    comm100: httpx.Client,
    **settings: Any,
) -> Iterator[Console]:
    """The service in-process (`settings`: more of its configuration), both sites configured."""
    config = Config(
        data_dir=tmp_path,
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        allow_private_urls=True,
        public_url="https://bridge.example.com",
        **settings,
    )
    runtime = Runtime.start(config)
    upgrade_to_head(runtime.engine)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        service = Console(client, runtime, optimove, str(comm100.base_url))
        for site_id in (SITE, OTHER_SITE):
            created = client.post(
                "/api/v1/sites", json={"site_id": site_id, "name": "Acme"}, headers=service.admin()
            )
            assert created.status_code == 201, created.text
            service.configure(site_id)
        yield service
    runtime.close()


def chat(context: dict[str, Any]) -> dict[str, Any]:
    return {"channel": "livechat", "context": context}


def visitor(
    customer_id: str | None = None, visitor_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    variables = [{"name": "customer_id", "value": customer_id}] if customer_id else []
    return {
        "chat_id": str(uuid.uuid4()),
        "visitor": {"id": visitor_id or str(uuid.uuid4()), "custom_variables": variables, **fields},
    }


def messages(response: httpx.Response) -> dict[str, str]:
    return {d["pointer"]: d["message"] for d in response.json()["error"]["details"]}


# --- authentication and site isolation -----------------------------------------------------------


def test_the_console_api_needs_a_token(console: Console) -> None:
    response = console.post("lookup", chat(visitor("C1")), headers={"X-Nothing": "1"})
    assert response.status_code == 401
    assert "agent token" in response.json()["error"]["message"]


def test_an_agent_token_of_one_site_gets_404_for_another(console: Console) -> None:
    customer = console.customer(EMAIL="ann@example.com")
    response = console.post("lookup", chat(visitor(customer)), OTHER_SITE, headers=console.agent())
    assert response.status_code == 404
    assert response.json()["error"]["message"] == (
        "This tab's site is not set up in optibridge: ask your administrator to check the"
        " Optimove app's address in Comm100."
    )
    record_id = console.lookup(visitor(customer))["record_id"]
    other = console.client.get(
        f"/api/v1/sites/{OTHER_SITE}/console/changes/{record_id}", headers=console.agent()
    )
    assert other.status_code == 404


def test_a_change_of_another_site_is_not_found_even_with_that_sites_token(
    console: Console,
) -> None:
    customer = console.customer(EMAIL="ann@example.com")
    change = console.post(
        "edit", {"channel": "livechat", "customer_id": customer, "values": {"PHONE": "1"}}
    ).json()
    response = console.client.get(
        f"/api/v1/sites/{OTHER_SITE}/console/changes/{change['record_id']}",
        headers=console.agent(OTHER_SITE),
    )
    assert response.status_code == 404


def test_an_agent_token_can_not_use_the_administration_api(console: Console) -> None:
    response = console.client.get(f"/api/v1/sites/{SITE}/settings", headers=console.agent())
    assert response.status_code == 403


# --- the tab page --------------------------------------------------------------------------------


def tab(console: Console, channel: str = "livechat", **params: str) -> httpx.Response:
    query = {"siteId": str(SITE), "agentId": "7", **params}
    response: httpx.Response = console.client.get(f"/console/{SITE}/{channel}", params=query)
    return response


def session_of(page: httpx.Response) -> str:
    found = re.search(r'name="optibridge-session" content="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


@pytest.mark.parametrize("channel", ["livechat", "ticketing"])
def test_the_tab_hands_its_script_a_session_instead_of_the_token(
    console: Console, channel: str
) -> None:
    token = console.agent()["Authorization"].removeprefix("Bearer ")
    page = tab(console, channel, token=token)
    assert page.status_code == 200
    assert token not in page.text
    assert f'data-channel="{channel}"' in page.text
    session = session_of(page)
    customer = console.customer(EMAIL="ann@example.com")
    headers = {"Authorization": f"Bearer {session}"}
    if channel == "livechat":
        view = console.post("lookup", chat(visitor(customer)), headers=headers)
        assert view.status_code == 200, view.text
        assert view.json()["customer_id"] == customer
    other = console.post("lookup", chat(visitor(customer)), OTHER_SITE, headers=headers)
    assert other.status_code == 404


def test_the_tab_is_embeddable_by_comm100_and_this_service_only(console: Console) -> None:
    page = tab(console, token=console.agent()["Authorization"].removeprefix("Bearer "))
    policy = page.headers["content-security-policy"]
    ancestors = next(p for p in policy.split("; ") if p.startswith("frame-ancestors")).split()[1:]
    comm100_origin = console.comm100_url.rstrip("/")
    assert ancestors == ["'self'", "https://*.comm100.com", "https://*.comm100.io", comm100_origin]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "x-frame-options" not in page.headers
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text  # no inline script: the CSP would block it


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({}, 401, "ask your administrator to set up Comm100 sign-in"),
        ({"token": "obg_not-a-real-token"}, 401, "not valid"),
        ({"token": "obg_not-a-real-token"}, 401, "ask your administrator for a new one"),
        ({"token": "x", "siteId": "99999"}, 400, "another site"),
    ],
)
def test_the_tab_explains_why_it_can_not_open(
    console: Console, params: dict[str, str], status: int, says: str
) -> None:
    page = tab(console, **params)
    assert page.status_code == status
    assert says in page.text
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]


def test_the_tab_takes_an_agent_token_never_a_session_in_its_address(console: Console) -> None:
    token = console.agent()["Authorization"].removeprefix("Bearer ")
    session = session_of(tab(console, token=token))
    page = tab(console, token=session)
    assert page.status_code == 401


def test_the_tab_with_another_sites_token_is_not_found(console: Console) -> None:
    token = console.agent(OTHER_SITE)["Authorization"].removeprefix("Bearer ")
    page = tab(console, token=token)
    assert page.status_code == 404
    assert f"Site {SITE} is not set up" in page.text


def test_the_tabs_script_and_stylesheet_are_served(console: Console) -> None:
    script = console.client.get("/console/static/console.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "agentconsole.currentChat" in script.text
    assert console.client.get("/console/static/console.css").status_code == 200
    assert console.client.get("/console/static/secret.key").status_code == 404


# --- lookup --------------------------------------------------------------------------------------


def test_a_returning_customer_is_shown_with_labels_values_and_a_link(console: Console) -> None:
    customer = console.customer(EMAIL="ann@example.com", FIRST_NAME="Ann", COUNTRY="GB")
    view = console.lookup(visitor(customer))
    assert view["status"] == "matched"
    assert view["customer_id"] == customer
    assert view["customer_url"] == f"https://acme.optimove.net/#/customer/{customer}"
    assert view["message"] == "Found in Optimove by the visitor's customer ID."
    shown = [(f["field"], f["label"], f["value"]) for f in view["fields"]]
    assert shown == [  # in the mapping's order; COUNTRY is not marked show_in_console
        ("EMAIL", "Email", "ann@example.com"),
        ("PHONE", "Phone", None),
        ("FIRST_NAME", "First name", "Ann"),
        ("DATE_OF_BIRTH", "Date of birth", None),
    ]
    assert not view["stale"]


def test_a_lookup_reads_the_cache_and_refresh_reads_optimove(console: Console) -> None:
    customer = console.customer(EMAIL="ann@example.com")
    console.lookup(visitor(customer))
    since = time.time()
    console.lookup(visitor(customer))
    assert console.optimove_calls(since, "GET") == []
    console.optimove.put(f"/_sandbox/customers/{customer}", json={"EMAIL": "new@example.com"})
    view = console.lookup(visitor(customer), refresh=True)
    assert [c["path"] for c in console.optimove_calls(since, "GET")] == [
        f"/Customers/{customer}/Attributes"
    ]
    assert view["fields"][0]["value"] == "new@example.com"


def test_every_lookup_is_in_the_sync_log_with_its_read(console: Console) -> None:
    customer = console.customer(EMAIL="ann@example.com")
    context = visitor(customer)
    record_id = console.lookup(context)["record_id"]
    detail = console.client.get(
        f"/api/v1/sites/{SITE}/syncs/{record_id}", headers=console.admin()
    ).json()
    assert detail["event"] == "console_lookup"
    assert detail["agent"] is None  # a bare agent token names no agent
    assert detail["channel"] == "livechat"
    assert (detail["state"], detail["outcome"]) == ("done", "unchanged")
    assert detail["customer_id"] == customer
    assert detail["comm100_ids"]["chat_id"] == context["chat_id"]
    assert [c["endpoint"] for c in detail["calls"]] == ["GET Customers/{customer_id}/Attributes"]


def test_the_agent_id_from_the_tab_is_recorded(console: Console) -> None:
    token = console.agent()["Authorization"].removeprefix("Bearer ")
    session = session_of(tab(console, token=token, agentId="agent-42"))
    customer = console.customer(EMAIL="ann@example.com")
    looked = console.post(
        "lookup", chat(visitor(customer)), headers={"Authorization": f"Bearer {session}"}
    )
    [record] = console.records("console_lookup")
    assert record.comm100_ids["agent_id"] == "agent-42"
    assert record.comm100_ids["agent_source"] == "tab_address"
    detail = console.client.get(
        f"/api/v1/sites/{SITE}/syncs/{looked.json()['record_id']}", headers=console.admin()
    ).json()
    # Only named by the tab's address: shown, but never as verified.
    assert detail["agent"] == {"agent_id": "agent-42", "email": None, "verified": False}


def test_an_unidentified_chat_names_the_missing_fields(console: Console) -> None:
    view = console.lookup(visitor(None, email="ann@example.com"))
    assert view["status"] == "unidentified"
    assert view["message"] == (
        "This chat doesn't say who the customer is: it has no customer ID. You can create the"
        " customer by entering their customer ID."
    )
    assert [m["key"] for m in view["missing"]] == ["custom_variable:customer_id"]
    offer = view["create"]
    assert offer["allowed"]
    assert [a["label"] for a in offer["asks"]] == ["customer ID"]
    assert [(p["field"], p["value"]) for p in offer["preview"]] == [("EMAIL", "ann@example.com")]
    assert [r.outcome for r in console.records("console_lookup")] == ["unidentified"]


def test_no_match_offers_creation_when_agents_may_create(console: Console) -> None:
    view = console.lookup(visitor("C-nobody"))
    assert view["status"] == "no_match"
    assert view["message"] == (
        "No Optimove customer has the id C-nobody. You can create customer C-nobody: you will be"
        " asked to confirm."
    )
    assert view["create"]["allowed"]
    assert view["create"]["customer_id"] == "C-nobody"
    assert view["create"]["asks"] == []


def test_no_match_says_when_creation_is_not_allowed(console: Console) -> None:
    console.configure(SITE, livechat={"on_chat_end": {"update": "none", "no_match": "never"}})
    view = console.lookup(visitor("C-nobody"))
    assert view["status"] == "no_match"
    assert not view["create"]["allowed"]
    assert view["message"].endswith(
        "not allowed for Live Chat on this site: if this customer should be in Optimove, ask"
        " your administrator."
    )


def test_a_returning_visitor_is_recognised_without_the_id(console: Console) -> None:
    customer = console.customer(EMAIL="ann@example.com")
    visitor_id = str(uuid.uuid4())
    console.lookup(visitor(customer, visitor_id))
    view = console.lookup(visitor(None, visitor_id))
    assert view["status"] == "matched"
    assert view["customer_id"] == customer
    assert view["message"] == "Recognised from an earlier conversation, and found in Optimove."


def test_a_channel_that_is_not_enabled_says_so(console: Console) -> None:
    console.configure(SITE, livechat={"enabled": False})
    view = console.lookup(visitor("C1"))
    assert view["status"] == "disabled"
    assert "not enabled for Live Chat" in view["message"]


def test_optimove_down_shows_the_last_known_data_marked_stale(console: Console) -> None:
    customer = console.customer(EMAIL="ann@example.com")
    first = console.lookup(visitor(customer))
    console.optimove.put("/_sandbox/faults", json={"error_rate": 1.0}).raise_for_status()
    view = console.lookup(visitor(customer), refresh=True)
    assert view["status"] == "matched"
    assert view["stale"]
    read_at = datetime.fromisoformat(first["fetched_at"])
    assert abs(datetime.fromisoformat(view["fetched_at"]) - read_at) < timedelta(seconds=1)
    assert "Showing the last known data" in view["notice"]
    assert view["fields"][0]["value"] == "ann@example.com"
    record = console.records("console_lookup")[-1]
    assert (record.state, record.outcome) == ("failed", "failed")


def test_optimove_down_with_nothing_known_says_so(console: Console) -> None:
    console.optimove.put("/_sandbox/faults", json={"error_rate": 1.0}).raise_for_status()
    response = console.post("lookup", chat(visitor("C-unknown")))
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "optimove_unavailable"
    assert error["message"] == "Optimove can't be reached right now; try again in a moment."
    [record] = console.records("console_lookup")
    assert (record.state, record.outcome) == ("failed", "failed")
    assert "answered HTTP 5" in (record.last_error or "")  # the details are in the sync log
    with console.runtime.unit_of_work(read_only=True) as session:
        calls = session.scalars(
            select(OptimoveCallLog).where(OptimoveCallLog.record_id == record.id)
        ).all()
    assert f"after {len(calls)} attempts" in (record.last_error or "")  # each one listed
    assert {call.status for call in calls} <= {500, 503}


def use_up_the_window(runtime: Runtime) -> None:
    """Every slot of the window taken: by agents (live events leave them spare slots)."""
    bucket = bucket_for_api_key(SANDBOX_KEY)
    try:
        while True:
            runtime.limiter.acquire(bucket, max_wait_s=0, priority="agent")
    except LimiterBusy:
        return


def test_an_agent_never_waits_for_a_busy_optimove_budget(console: Console) -> None:
    use_up_the_window(console.runtime)  # other work took the whole budget
    response = console.post("lookup", chat(visitor("C-whoever")))
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "busy"
    assert "try again in" in error["message"]


# --- edit ----------------------------------------------------------------------------------------


def edit(console: Console, customer: str, **values: str | None) -> httpx.Response:
    return console.post(
        "edit",
        {
            "channel": "livechat",
            "customer_id": customer,
            "values": values,
            "context": visitor(customer),
        },
    )


def test_an_edit_is_written_at_once_and_confirmed_by_optimoves_callback(
    console: Console,
) -> None:
    customer = console.customer(EMAIL="ann@example.com", PHONE=None)
    console.lookup(visitor(customer))
    response = edit(console, customer, PHONE="+1 202 555 0199", EMAIL="ann@example.com")
    assert response.status_code == 200, response.text
    change = response.json()
    assert change["status"] == "sent"
    assert change["changes"] == [{"field": "PHONE", "old": None, "new": "+1 202 555 0199"}]
    assert console.change(change["record_id"])["status"] == "sent"

    console.relay_callbacks()
    confirmed = console.change(change["record_id"])
    assert confirmed["status"] == "confirmed"
    assert confirmed["message"] == "Optimove confirmed: customer changed."
    since = time.time()
    view = console.lookup(visitor(customer))
    assert view["fields"][1]["value"] == "+1 202 555 0199"
    assert console.optimove_calls(since) == []  # the confirmed write kept the cache current
    record = console.records("console_edit")[0]
    assert (record.state, record.outcome) == ("done", "updated")


def test_an_edit_with_text_that_cant_be_stored_is_written_with_it_replaced(
    console: Console,
) -> None:
    """A lone surrogate and NUL (legal JSON escapes) become U+FFFD at the door: the edit is
    written, and the agent's change and the sync log read back as text."""
    customer = console.customer(EMAIL="ann@example.com", PHONE=None)
    body = {
        "channel": "livechat",
        "customer_id": customer,
        "values": {"PHONE": "+1 \ud800 555\u0000"},
        "context": visitor(customer),
    }
    response = console.client.post(
        f"/api/v1/sites/{SITE}/console/edit",
        content=json.dumps(body).encode(),  # the escapes \\ud800 and \\u0000, as sent
        headers={**console.agent(), "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    change = response.json()
    assert change["changes"] == [{"field": "PHONE", "old": None, "new": "+1 \ufffd 555\ufffd"}]
    assert console.change(change["record_id"])["status"] == "sent"
    listed = console.client.get(f"/api/v1/sites/{SITE}/syncs", headers=console.admin())
    assert listed.status_code == 200, listed.text


def test_a_console_body_nested_too_deep_is_a_400(console: Console) -> None:
    response = console.client.post(
        f"/api/v1/sites/{SITE}/console/lookup",
        content=b'{"context":' * 500 + b"{}" + b"}" * 500,
        headers={**console.agent(), "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "more than 64 levels deep" in response.json()["error"]["message"]


def test_a_change_optimove_refuses_is_reported_as_failed(console: Console) -> None:
    customer = console.customer(EMAIL="ann@example.com")
    console.optimove.put("/_sandbox/faults", json={"callback_delay_ms": 300}).raise_for_status()
    change = edit(console, customer, PHONE="+1 555").json()
    console.optimove.delete(f"/_sandbox/customers/{customer}").raise_for_status()
    console.relay_callbacks()
    status = console.change(change["record_id"])
    assert status["status"] == "failed"
    assert status["message"] == (
        "Optimove did not apply the change: INVALID_CUSTOMER (PHONE): the customer does not"
        " exist in Optimove (an update never creates one). Nothing was changed: try again, and"
        " if it fails again, ask your administrator (the sync log has the details)."
    )


def test_an_edit_converts_values_to_the_attributes_type(console: Console) -> None:
    customer = console.customer(EMAIL="ann@example.com")
    response = edit(console, customer, DATE_OF_BIRTH="1 March 1990")
    assert response.status_code == 200, response.text
    assert response.json()["changes"][0]["new"] == "1990-03-01"


def test_an_edit_is_validated_and_every_problem_named(console: Console) -> None:
    customer = console.customer(EMAIL="ann@example.com")
    console.lookup(visitor(customer))  # learns the attributes' types
    response = edit(console, customer, DATE_OF_BIRTH="31.02.1990", PHONE="1")
    assert response.status_code == 422
    assert "there is no such day" in messages(response)["/values/DATE_OF_BIRTH"]

    response = edit(console, customer, COUNTRY="GB", EMAIL=" ", AGE="3")
    assert response.status_code == 422
    assert messages(response) == {
        "/values/COUNTRY": "is not a field this tab can edit",
        "/values/EMAIL": "enter a value (the console can't empty a field)",
        "/values/AGE": "is not a field this tab can edit",
    }
    assert console.optimove_calls(0, "POST") == []
    assert [r.outcome for r in console.records("console_edit")] == ["unchanged", "unchanged"]


def test_an_edit_that_changes_nothing_writes_nothing(console: Console) -> None:
    customer = console.customer(EMAIL="ann@example.com")
    response = edit(console, customer, EMAIL="ann@example.com")
    assert response.json()["status"] == "unchanged"
    assert console.optimove_calls(0, "POST") == []


def test_an_edit_waits_for_another_write_to_the_same_customer(console: Console) -> None:
    customer = console.customer(EMAIL="ann@example.com")
    assert edit(console, customer, PHONE="1").json()["status"] == "sent"
    second = edit(console, customer, PHONE="2")
    assert second.status_code == 409
    assert "Another change to customer" in second.json()["error"]["message"]
    console.relay_callbacks()
    assert edit(console, customer, PHONE="2").json()["status"] == "sent"


def test_an_edit_of_a_customer_optimove_no_longer_has_is_refused(console: Console) -> None:
    response = edit(console, "C-gone", PHONE="1")
    assert response.status_code == 409
    assert "not in Optimove" in response.json()["error"]["message"]


def test_a_failed_write_is_reported_and_recorded(console: Console) -> None:
    customer = console.customer(EMAIL="ann@example.com")
    console.lookup(visitor(customer))  # cached: the write is the first call
    console.optimove.put("/_sandbox/faults", json={"error_rate": 1.0}).raise_for_status()
    response = edit(console, customer, PHONE="1")
    assert response.status_code == 502
    record = console.records("console_edit")[0]
    assert (record.state, record.outcome) == ("failed", "failed")
    assert "HTTP 5" in (record.last_error or "")


# --- create --------------------------------------------------------------------------------------


def test_an_agent_creates_an_unidentified_visitor_by_entering_the_id(console: Console) -> None:
    visitor_id = str(uuid.uuid4())
    context = visitor(None, visitor_id, email="new@example.com")
    new_id = f"C-{uuid.uuid4().hex[:8]}"
    response = console.post(
        "create", {**chat(context), "answers": {"custom_variable:customer_id": new_id}}
    )
    assert response.status_code == 200, response.text
    change = response.json()
    assert (change["status"], change["customer_id"]) == ("sent", new_id)
    assert change["changes"] == [{"field": "EMAIL", "old": None, "new": "new@example.com"}]
    console.relay_callbacks()
    assert console.change(change["record_id"])["status"] == "confirmed"
    assert console.optimove.get(f"/_sandbox/customers/{new_id}").json() == {
        "EMAIL": "new@example.com"
    }
    view = console.lookup(context)  # the visitor is linked to the new customer
    assert (view["status"], view["customer_id"]) == ("matched", new_id)


def test_a_no_match_customer_is_created_with_its_id(console: Console) -> None:
    new_id = f"C-{uuid.uuid4().hex[:8]}"
    response = console.post("create", chat(visitor(new_id, phone="+44 1")))
    assert response.status_code == 200, response.text
    upserts = console.optimove_calls(0, "PUT")
    assert [c["path"] for c in upserts] == ["/Customers/UpsertCustomer"]
    record = console.records("console_create")[0]
    assert record.customer_id == new_id
    assert record.state == "awaiting_callback"


def test_the_preview_shows_the_id_the_customer_will_get_and_writes_nothing(
    console: Console,
) -> None:
    context = visitor(None, email="new@example.com")
    since = time.time()
    response = console.post(
        "create/preview",
        {**chat(context), "answers": {"custom_variable:customer_id": "  Ann@Example.COM "}},
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["customer_id"] == "ann@example.com"  # as create will make it
    assert preview["message"] == "Create customer ann@example.com in Optimove?"
    assert [(f["field"], f["value"]) for f in preview["fields"]] == [("EMAIL", "new@example.com")]
    assert [c for c in console.optimove_calls(since) if "Customers" in c["path"]] == []
    assert console.records() == []


def test_the_preview_is_refused_as_creation_would_be(console: Console) -> None:
    console.configure(SITE, livechat={"on_chat_end": {"update": "none", "no_match": "never"}})
    response = console.post("create/preview", chat(visitor("C-new")))
    assert response.status_code == 403
    assert response.json()["error"]["message"].endswith("ask your administrator.")


def test_the_preview_asks_for_the_missing_id(console: Console) -> None:
    response = console.post("create/preview", chat(visitor(None)))
    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        "Enter the customer ID: it identifies the customer in Optimove."
    )


def test_a_revoked_agent_token_says_what_to_do(console: Console) -> None:
    headers = console.agent()
    listed = console.client.get(f"/api/v1/sites/{SITE}/tokens", headers=console.admin()).json()
    for token in listed:
        console.client.delete(f"/api/v1/sites/{SITE}/tokens/{token['id']}", headers=console.admin())
    response = console.post("lookup", chat(visitor("C1")), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == (
        "The agent token in this tab's address is not valid (it may have been revoked): ask your"
        " administrator for a new one, then reopen the Optimove tab."
    )


def test_a_session_of_a_revoked_token_says_what_to_do(console: Console) -> None:
    token = console.agent()["Authorization"].removeprefix("Bearer ")
    session = session_of(tab(console, token=token))
    listed = console.client.get(f"/api/v1/sites/{SITE}/tokens", headers=console.admin()).json()
    for issued in listed:
        console.client.delete(
            f"/api/v1/sites/{SITE}/tokens/{issued['id']}", headers=console.admin()
        )
    response = console.post(
        "lookup", chat(visitor("C1")), headers={"Authorization": f"Bearer {session}"}
    )
    assert response.status_code == 401
    assert "revoked: ask your administrator for a new one" in response.json()["error"]["message"]
    assert "reopen the Optimove tab" in response.json()["error"]["message"]


def test_creation_is_refused_by_the_server_when_the_policy_is_never(console: Console) -> None:
    console.configure(SITE, livechat={"on_chat_end": {"update": "none", "no_match": "never"}})
    response = console.post("create", chat(visitor("C-new")))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "creation_not_allowed"
    assert console.optimove_calls(0, "PUT") == []


def test_creating_a_customer_that_exists_is_refused(console: Console) -> None:
    customer = console.customer(EMAIL="ann@example.com")
    response = console.post("create", chat(visitor(customer)))
    assert response.status_code == 409
    assert "already exists" in response.json()["error"]["message"]


def test_creation_without_the_identification_asks_for_it(console: Console) -> None:
    response = console.post("create", chat(visitor(None)))
    assert response.status_code == 422
    assert messages(response) == {"/answers": "enter the customer ID"}
    response = console.post("create", {**chat(visitor(None)), "answers": {"system:email": "x"}})
    assert messages(response) == {
        "/answers/system:email": "is not a field this site identifies customers by"
    }


def test_an_account_without_upsert_gets_a_plain_reason(console: Console) -> None:
    console.optimove.put("/_sandbox/behaviour", json={"upsert_enabled": False})
    response = console.post("create", chat(visitor("C-new")))
    assert response.status_code == 502
    assert "does not offer UpsertCustomer" in response.json()["error"]["message"]
    assert console.records("console_create")[0].state == "failed"


# --- ticketing ----------------------------------------------------------------------------------


def ticket(requester_type: str, requester_id: str = CONTACT) -> dict[str, Any]:
    return {
        "channel": "ticketing",
        "context": {"ticket_id": 4711, "requester": {"type": requester_type, "id": requester_id}},
    }


def test_a_ticket_by_a_contact_shows_its_customer(console: Console, comm100: httpx.Client) -> None:
    customer = console.customer(EMAIL="ann@example.com", LAST_NAME="Lovelace")
    comm100.put(
        f"/_sandbox/contacts/{CONTACT}",
        json={
            "name": "Ann",
            "lastName": "Lovelace",
            "customFields": [{"name": "Customer ID", "value": customer}],
            "contactIdentities": [{"contactIdentityType": "Email", "value": "ann@example.com"}],
        },
    ).raise_for_status()
    response = console.post("lookup", ticket("contact"))
    assert response.status_code == 200, response.text
    view = response.json()
    assert (view["status"], view["customer_id"]) == ("matched", customer)
    assert [f["value"] for f in view["fields"]] == ["ann@example.com", "Lovelace"]
    record = console.records("console_lookup")[0]
    assert record.channel == "ticketing"
    assert record.comm100_ids["ticket_id"] == "4711"


def test_a_ticket_by_a_visitor_needs_a_contact_first(console: Console) -> None:
    view = console.post("lookup", ticket("visitor", str(uuid.uuid4()))).json()
    assert view["status"] == "needs_contact"
    assert "Convert the visitor into a Comm100 contact first" in view["message"]
    console.configure(SITE, ticketing={"on_ticket_created": {"no_match": "agent_create"}})
    response = console.post("create", ticket("visitor", str(uuid.uuid4())))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "needs_contact"


def test_a_body_over_64_kib_is_refused(console: Console) -> None:
    context = visitor("C1", name="x" * 70_000)
    response = console.post("lookup", chat(context))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


# --- the document ------------------------------------------------------------------------------


def test_the_console_api_is_documented(console: Console) -> None:
    document = console.client.get("/openapi.json").json()
    base = "/api/v1/sites/{site_id}/console"
    for path in ("lookup", "refresh", "edit", "create", "changes/{record_id}"):
        assert f"{base}/{path}" in document["paths"]
    assert "ConsoleBearer" in document["components"]["securitySchemes"]


def test_no_record_keeps_a_call_without_its_record(console: Console) -> None:
    customer = console.customer(EMAIL="ann@example.com")
    console.lookup(visitor(customer), refresh=True)
    with console.runtime.unit_of_work(read_only=True) as session:
        calls = list(session.scalars(select(OptimoveCallLog)))
    assert calls
    assert all(call.record_id is not None for call in calls)
