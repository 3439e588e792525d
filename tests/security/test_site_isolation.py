"""Site isolation (SPEC 2: "no data or credential crosses between sites"; SPEC 4.5: console
calls "can only ever reach the agent's own site").

Every route with a `{site_id}` is in one table. For each, site A's credentials (site-scoped
admin token, agent token, console session, control panel session, webhook token) are sent to
site B: the answer is the one a site that does not exist gets (404, so a credential can't learn
which sites exist; 401 for a webhook token, as SPEC 5.3 says; 403 where the route needs a
deployment admin whatever the site), nothing changes, and nothing of B's shows. B's records,
tokens and writes asked for under A's address are not found either, even by a deployment admin.
A's credential on A is the control: it gets past the check.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import pytest
from fastapi.testclient import TestClient

from optibridge.sandbox.comm100.payloads import ticket_created_trigger
from optibridge.store import backfills
from tests.security.conftest import (
    MISSING_SITE,
    SITE_A,
    SITE_B,
    Bench,
    bearer,
    route_keys,
)
from tests.store.test_sync_log import add_record, add_write
from tests.sync.stack import chat_end_for
from tests.web.ui_client import csrf_token, page, sign_in

pytestmark = pytest.mark.security

Credential = Literal[
    "site admin token",
    "agent token",
    "console session",
    "agent token in the URL",
    "webhook token",
    "control panel session",
]


@dataclass(frozen=True)
class Ids:
    """A site's things that routes name by id."""

    record: int  # a failed sync record
    change: int  # an agent's change made in the console
    token: int  # a token that may be revoked
    write: str  # an Optimove write waiting for its callback
    request_id: str  # Optimove's id of that write
    backfill: int  # a queued backfill


@dataclass
class World:
    bench: Bench
    site_admin: str
    agent: str
    session: str
    webhook: str
    ui: TestClient
    ui_admin: TestClient
    ids: dict[int, Ids] = field(default_factory=dict)
    marks: dict[int, str] = field(default_factory=dict)


def _seed(bench: Bench, site_id: int, mark: str) -> Ids:
    """Data of `site_id` that carries `mark` wherever it can."""
    saved = bench.client.put(
        f"/api/v1/sites/{site_id}/settings",
        json={
            "optimove": {"web_app_url": f"https://{mark}.example.com"},
            "comm100": {"api_base_url": f"https://{mark}.example.com/v4"},
        },
        headers=bench.admin(),
    )
    assert saved.status_code == 200, saved.text
    token = bench.issue(site_id, "admin", label=mark)
    with bench.runtime.unit_of_work() as session:
        write = add_write(session, site_id, state="sent", request_id=f"req-{mark}", payload={})
        common: dict[str, Any] = {"customer_id": mark, "comm100_ids": {"chat_id": mark}}
        record = add_record(
            session, site_id, state="failed", outcome="failed", last_error=mark, **common
        )
        change = add_record(session, site_id, event="console_edit", write_id=write.id, **common)
        since = datetime(2026, 1, 1, tzinfo=UTC)
        backfill = backfills.create(
            session, site_id, "livechat", since, since + timedelta(days=1), {}
        )
        return Ids(record.id, change.id, token.token_id, write.id, f"req-{mark}", backfill.id)


def _signed_in(bench: Bench, token: str) -> TestClient:
    browser = bench.browser()
    assert sign_in(browser, token).status_code == 303
    return browser


@pytest.fixture
def world(bench: Bench) -> World:
    site_admin = bench.issue(SITE_A, "admin").token
    agent = bench.issue(SITE_A, "agent").token
    tab = bench.client.get(f"/console/{SITE_A}/livechat", params={"token": agent})
    found = re.search(r'name="optibridge-session" content="([^"]+)"', tab.text)
    assert found is not None, tab.text
    built = World(
        bench,
        site_admin=site_admin,
        agent=agent,
        session=found.group(1),
        webhook=bench.webhook_token(SITE_A),
        ui=_signed_in(bench, site_admin),
        ui_admin=_signed_in(bench, bench.known.admin_token),
    )
    for site_id in (SITE_A, SITE_B):
        built.marks[site_id] = f"site-{site_id}-{secrets.token_hex(12)}"
        built.ids[site_id] = _seed(bench, site_id, built.marks[site_id])
    return built


# --- the table ------------------------------------------------------------------------------------

Body = Callable[[Ids], dict[str, Any]]


def _chat(_ids: Ids) -> dict[str, Any]:
    return {"channel": "livechat", "context": {"chat_id": "c-1", "visitor": {"id": "v-1"}}}


@dataclass(frozen=True)
class Row:
    credentials: tuple[Credential, ...]
    body: Body | None = None
    # What A's credential gets on B; by default the very answer a missing site gets.
    denied: int = 404
    same_as_missing: bool = True
    # False: A's credential may not use this route on A either (a deployment admin's route).
    own_site: bool = True
    # Which of B's things the path (or the callback's `write`) names, if any.
    names: Literal["record", "change", "token", "write", "backfill"] | None = None


ADMIN: tuple[Credential, ...] = ("site admin token",)
CONSOLE: tuple[Credential, ...] = ("agent token", "console session")
UI: tuple[Credential, ...] = ("control panel session",)
API = "/api/v1/sites/{site_id}"

# (method, path template) → row. A route with {site_id} and no row fails
# `test_every_route_of_a_site_is_in_the_table`.
ROWS: dict[tuple[str, str], Row] = {
    # the administration API
    ("GET", API): Row(ADMIN),
    ("DELETE", API): Row(ADMIN, denied=403, own_site=False),
    ("GET", f"{API}/settings"): Row(ADMIN),
    ("PUT", f"{API}/settings"): Row(ADMIN, lambda _: {"livechat": {"enabled": False}}),
    ("POST", f"{API}/optimove/test"): Row(ADMIN),
    ("GET", f"{API}/optimove/attributes"): Row(ADMIN),
    ("GET", f"{API}/webhooks"): Row(ADMIN),
    ("POST", f"{API}/tokens"): Row(ADMIN, lambda _: {"role": "agent"}),
    ("GET", f"{API}/tokens"): Row(ADMIN),
    ("DELETE", f"{API}/tokens/{{token_id}}"): Row(ADMIN, names="token"),
    ("POST", f"{API}/comm100/test"): Row(ADMIN),
    ("GET", f"{API}/comm100/fields"): Row(ADMIN),
    ("GET", f"{API}/comm100/app-manifest"): Row(ADMIN),
    ("GET", f"{API}/comm100/webhooks"): Row(ADMIN),
    ("POST", f"{API}/comm100/webhooks"): Row(ADMIN, lambda _: {"replace_elsewhere": True}),
    ("POST", f"{API}/preview"): Row(ADMIN, lambda _: {"channel": "livechat"}),
    # the sync log
    ("GET", f"{API}/syncs"): Row(ADMIN),
    ("GET", f"{API}/syncs/summary"): Row(ADMIN),
    ("GET", f"{API}/syncs/{{record_id}}"): Row(ADMIN, names="record"),
    ("POST", f"{API}/syncs/{{record_id}}/retry"): Row(ADMIN, names="record"),
    ("POST", f"{API}/syncs/{{record_id}}/restore"): Row(ADMIN, names="record"),
    # backfills
    ("POST", f"{API}/backfills"): Row(
        ADMIN,
        lambda _: {
            "channel": "livechat",
            "since": "2026-01-01T00:00:00Z",
            "until": "2026-01-02T00:00:00Z",
        },
    ),
    ("GET", f"{API}/backfills"): Row(ADMIN),
    ("GET", f"{API}/backfills/{{backfill_id}}"): Row(ADMIN, names="backfill"),
    ("POST", f"{API}/backfills/{{backfill_id}}/pause"): Row(ADMIN, names="backfill"),
    ("POST", f"{API}/backfills/{{backfill_id}}/resume"): Row(ADMIN, names="backfill"),
    ("POST", f"{API}/backfills/{{backfill_id}}/cancel"): Row(ADMIN, names="backfill"),
    # the console API and the tab
    ("POST", f"{API}/console/lookup"): Row(CONSOLE, _chat),
    ("POST", f"{API}/console/refresh"): Row(CONSOLE, _chat),
    ("POST", f"{API}/console/edit"): Row(
        CONSOLE, lambda _: {"channel": "livechat", "customer_id": "C-1", "values": {"EMAIL": "x"}}
    ),
    ("POST", f"{API}/console/create"): Row(CONSOLE, lambda ids: {**_chat(ids), "answers": {}}),
    ("POST", f"{API}/console/create/preview"): Row(
        CONSOLE, lambda ids: {**_chat(ids), "answers": {}}
    ),
    ("GET", f"{API}/console/changes/{{record_id}}"): Row(CONSOLE, names="change"),
    ("GET", "/console/{site_id}/livechat"): Row(("agent token in the URL",)),
    ("GET", "/console/{site_id}/ticketing"): Row(("agent token in the URL",)),
    # webhooks: a wrong token is 401, an unknown site 404 (SPEC 5.3)
    ("POST", "/webhooks/comm100/{site_id}/livechat"): Row(
        ("webhook token",),
        lambda _: chat_end_for("C-1", "ann@example.com"),
        denied=401,
        same_as_missing=False,
    ),
    ("POST", "/webhooks/comm100/{site_id}/ticketing"): Row(
        ("webhook token",),
        lambda _: ticket_created_trigger(7, str(uuid.uuid4()), "contact"),
        denied=401,
        same_as_missing=False,
    ),
    ("POST", "/callbacks/optimove/{site_id}"): Row(
        ("webhook token",),
        lambda ids: {"isSuccess": True, "requestId": ids.request_id, "errors": []},
        denied=401,
        same_as_missing=False,
        names="write",
    ),
    # the control panel
    ("GET", "/ui/sites/{site_id}"): Row(UI),
    ("POST", "/ui/sites/{site_id}/optimove"): Row(
        UI, lambda _: {"base_url": "https://api4.optimove.net", "api_key": "k" * 32}
    ),
    ("POST", "/ui/sites/{site_id}/comm100"): Row(
        UI,
        lambda _: {
            "api_base_url": "https://api11.comm100.io/v4",
            "agent_email": "a@example.com",
            "api_key": "k" * 32,
        },
    ),
    ("POST", "/ui/sites/{site_id}/settings"): Row(UI, lambda _: {"op": "save"}),
    ("POST", "/ui/sites/{site_id}/preview"): Row(UI, lambda _: {"preview_channel": "livechat"}),
    ("POST", "/ui/sites/{site_id}/comm100-sign-in"): Row(UI, lambda _: {"action": "off"}),
    ("GET", "/ui/sites/{site_id}/comm100-app/manifest.json"): Row(UI),
    ("POST", "/ui/sites/{site_id}/comm100-app/manifest-with-token"): Row(UI, lambda _: {}),
    ("POST", "/ui/sites/{site_id}/comm100/webhooks"): Row(
        UI, lambda _: {"replace_elsewhere": "on"}
    ),
    ("GET", "/ui/sites/{site_id}/syncs"): Row(UI),
    ("POST", "/ui/sites/{site_id}/syncs/{record_id}/retry"): Row(UI, names="record"),
    ("GET", "/ui/sites/{site_id}/syncs/{record_id}/restore"): Row(UI, names="record"),
    ("POST", "/ui/sites/{site_id}/syncs/{record_id}/restore"): Row(UI, names="record"),
    ("POST", "/ui/sites/{site_id}/backfills"): Row(
        UI, lambda _: {"channel": "livechat", "since": "2026-01-01T00:00"}
    ),
    ("POST", "/ui/sites/{site_id}/backfills/{backfill_id}"): Row(
        UI, lambda _: {"action": "pause"}, names="backfill"
    ),
}


def test_every_route_of_a_site_is_in_the_table(bench: Bench) -> None:
    with_site = {key for key in route_keys(bench.recorder.app) if "{site_id}" in key[1]}
    assert with_site == set(ROWS)


# --- sending -------------------------------------------------------------------------------------


def _credential_value(world: World, credential: Credential, *, deployment_admin: bool) -> str:
    if deployment_admin:
        return world.bench.known.admin_token
    return {
        "site admin token": world.site_admin,
        "agent token": world.agent,
        "console session": world.session,
        "agent token in the URL": world.agent,
        "webhook token": world.webhook,
    }[credential]


def send(
    world: World,
    method: str,
    template: str,
    row: Row,
    credential: Credential,
    site_id: int,
    ids: Ids,
    *,
    deployment_admin: bool = False,
) -> httpx.Response:
    """The row's request with A's `credential` (or a deployment admin's) to `site_id`'s
    address, naming the things in `ids`."""
    named = {"record": ids.change if row.names == "change" else ids.record, "token": ids.token}
    path = template.format(
        site_id=site_id,
        record_id=named["record"],
        token_id=named["token"],
        backfill_id=ids.backfill,
    )
    body = row.body(ids) if row.body is not None else None
    response: httpx.Response
    if credential == "control panel session":
        browser = world.ui_admin if deployment_admin else world.ui
        if method == "GET":
            response = browser.get(path, follow_redirects=False)
            return response
        token = csrf_token(page(browser.get("/ui/sites")))
        response = browser.post(
            path, data={"csrf_token": token, **(body or {})}, follow_redirects=False
        )
        return response
    client = world.bench.client
    value = _credential_value(world, credential, deployment_admin=deployment_admin)
    if credential in ("agent token in the URL", "webhook token"):
        params = {"token": value}
        if row.names == "write":
            params["write"] = ids.write
        response = client.request(method, path, params=params, json=body)
        return response
    response = client.request(method, path, headers=bearer(value), json=body)
    return response


def shown(response: httpx.Response) -> str:
    """All an answer shows: its headers and its body."""
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.multi_items())
    return f"{headers}\n{response.text}"


def _answer(response: httpx.Response, site_id: int) -> tuple[int, str, str]:
    """What a caller learns from an answer (its status, what it says, whom it lets embed it),
    with the site id it asked for taken out."""
    if response.headers.get("content-type", "").startswith("application/json"):
        error = response.json().get("error", {})
        said = f"{error.get('code')}: {error.get('message')}"
    else:
        said = " ".join(h.text() for h in page(response).find_all("h1"))
        said += " " + " ".join(p.text() for p in page(response).find_all("p"))
    policy = response.headers.get("content-security-policy", "")
    return response.status_code, said.replace(str(site_id), "{site}"), policy


# --- the test -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "template"), sorted(ROWS), ids=[" ".join(k) for k in sorted(ROWS)]
)
def test_a_credential_of_site_a_reaches_nothing_of_site_b(
    world: World, method: str, template: str
) -> None:
    row = ROWS[(method, template)]
    bench = world.bench
    a, b = world.ids[SITE_A], world.ids[SITE_B]
    mark_b = world.marks[SITE_B]
    for credential in row.credentials:
        what = f"{credential}: {method} {template}"

        before = bench.rows()
        on_b = send(world, method, template, row, credential, SITE_B, b)
        assert on_b.status_code == row.denied, (what, on_b.text[:300])
        assert mark_b not in shown(on_b), what
        assert bench.rows() == before, f"{what} changed site B"
        if row.same_as_missing:
            missing = send(world, method, template, row, credential, MISSING_SITE, b)
            assert _answer(on_b, SITE_B) == _answer(missing, MISSING_SITE), what

        if row.names is not None:  # B's things asked for under A's address
            # A deployment admin reaches every site, but B's things only at B's address.
            admins = (False,) if credential == "webhook token" else (False, True)
            for deployment_admin in admins:
                before = bench.rows()
                foreign = send(
                    world,
                    method,
                    template,
                    row,
                    credential,
                    SITE_A,
                    b,
                    deployment_admin=deployment_admin,
                )
                if row.names == "write":
                    assert foreign.json() == {"settled": False}, what
                else:
                    assert foreign.status_code == 404, (what, foreign.text[:300])
                assert mark_b not in shown(foreign), what
                assert bench.rows() == before, f"{what} changed B's data through A"
        assert bench.outbound == [], f"{what} called a vendor"

        if row.own_site:  # the control: the same credential works on its own site
            own = send(world, method, template, row, credential, SITE_A, a)
            assert own.status_code not in (401, 403, 404), (what, own.text[:300])
            assert mark_b not in shown(own), what


# --- what A's lists and counts hold ---------------------------------------------------------------


def test_the_lists_and_counts_of_site_a_hold_only_its_own_items(world: World) -> None:
    client, headers = world.bench.client, bearer(world.site_admin)
    a, b = world.ids[SITE_A], world.ids[SITE_B]
    api = f"/api/v1/sites/{SITE_A}"

    sites = client.get("/api/v1/sites", headers=headers).json()
    assert [site["site_id"] for site in sites] == [SITE_A]
    records = {item["id"] for item in client.get(f"{api}/syncs", headers=headers).json()["items"]}
    assert {a.record, a.change} <= records
    assert not records & {b.record, b.change}
    tokens = {token["id"] for token in client.get(f"{api}/tokens", headers=headers).json()}
    assert a.token in tokens
    assert b.token not in tokens
    summary = client.get(f"{api}/syncs/summary", headers=headers).json()
    assert summary["total"] == len(records)
    listed = client.get(f"{api}/backfills", headers=headers).json()["items"]
    assert [backfill["id"] for backfill in listed] == [a.backfill]

    mark_b = world.marks[SITE_B]
    for path in ("/ui/sites", f"/ui/sites/{SITE_A}", f"/ui/sites/{SITE_A}/syncs"):
        shown = world.ui.get(path)
        assert shown.status_code == 200, path
        assert mark_b not in shown.text, path
        assert f"/ui/sites/{SITE_B}" not in shown.text, path


@pytest.mark.parametrize("channel", ["livechat", "ticketing"])
@pytest.mark.parametrize("token", [None, "obg_not-a-token"], ids=["no token", "a wrong token"])
def test_a_refused_tab_page_tells_nothing_about_the_site(
    world: World, channel: str, token: str | None
) -> None:
    """Not even whom it lets embed it: the site's Comm100 host (in its settings) shows only
    once the caller is known to belong to the site."""
    params = {"token": token} if token else {}
    answers = {
        site_id: world.bench.client.get(f"/console/{site_id}/{channel}", params=params)
        for site_id in (SITE_B, MISSING_SITE)
    }
    assert answers[SITE_B].status_code == 401
    assert _answer(answers[SITE_B], SITE_B) == _answer(answers[MISSING_SITE], MISSING_SITE)
    assert world.marks[SITE_B] not in shown(answers[SITE_B])
