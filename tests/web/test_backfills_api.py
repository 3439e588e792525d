"""Backfills in the administration API, in-process (no worker runs here: tests/sync/
test_backfill.py runs them to the end): starting one, what it needs first, reading them, and
the moves an administrator may make, with SPEC 5's errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.web.conftest import Service

SITE = 10000
COMM100 = {
    "api_base_url": "https://api11.comm100.io/v4",
    "agent_email": "agent@example.com",
    "api_key": "sandbox-comm100-key",
}
LIVECHAT = {
    "enabled": True,
    "identification": [{"source": "custom_variable", "name": "customer_id"}],
}
PERIOD = {"since": "2026-03-01T00:00:00Z", "until": "2026-03-02T00:00:00Z"}


def url(path: str = "", site: int = SITE) -> str:
    return f"/api/v1/sites/{site}/backfills{path}"


def make_site(service: Service, site_id: int = SITE, **settings: Any) -> None:
    created = service.client.post(
        "/api/v1/sites", json={"site_id": site_id, "name": "Acme"}, headers=service.admin()
    )
    assert created.status_code == 201, created.text
    document = {"comm100": COMM100, "livechat": LIVECHAT, **settings}
    saved = service.client.put(
        f"/api/v1/sites/{site_id}/settings", json=document, headers=service.admin()
    )
    assert saved.status_code == 200, saved.text


@pytest.fixture
def site(service: Service) -> Service:
    make_site(service)
    return service


def start(service: Service, **body: Any) -> Any:
    return service.client.post(
        url(), json={"channel": "livechat", **PERIOD, **body}, headers=service.admin()
    )


def pointers(response: Any) -> list[str]:
    return [d["pointer"] for d in response.json()["error"]["details"]]


def test_a_backfill_is_queued_at_once(site: Service) -> None:
    response = start(site)

    assert response.status_code == 202, response.text
    backfill = response.json()
    assert backfill["state"] == "queued"
    assert (backfill["channel"], backfill["since"], backfill["until"]) == (
        "livechat",
        "2026-03-01T00:00:00Z",
        "2026-03-02T00:00:00Z",
    )
    counts = [backfill[k] for k in ("total", "done", "skipped", "failed", "in_progress")]
    assert counts == [0, 0, 0, 0, 0]
    assert (backfill["started_at"], backfill["eta_s"], backfill["percent"]) == (None, None, 0)
    listed = site.client.get(url(), headers=site.admin()).json()["items"]
    assert [b["id"] for b in listed] == [backfill["id"]]
    one = site.client.get(url(f"/{backfill['id']}"), headers=site.admin())
    assert one.json() == backfill


def test_the_period_ends_now_at_the_latest(site: Service) -> None:
    before = datetime.now(UTC)

    open_ended = start(site, until=None).json()
    site.client.post(url(f"/{open_ended['id']}/cancel"), headers=site.admin())
    future = start(site, until=(before + timedelta(days=30)).isoformat()).json()

    for backfill in (open_ended, future):
        until = datetime.fromisoformat(backfill["until"])
        assert before <= until <= datetime.now(UTC)


def test_a_naive_time_is_utc(site: Service) -> None:
    response = start(site, since="2026-03-01T00:00:00", until="2026-03-01T12:00:00")

    assert response.json()["since"] == "2026-03-01T00:00:00Z"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"since": "2026-03-02T00:00:00Z"}, "/since"),  # not before until
        ({"since": "2999-01-01T00:00:00Z", "until": None}, "/since"),  # ends now, so empty
        ({"channel": "email"}, "/channel"),
        ({"since": "yesterday"}, "/since"),
        ({"surprise": 1}, "/surprise"),
    ],
)
def test_a_start_it_cant_take_names_the_field(
    site: Service, body: dict[str, Any], pointer: str
) -> None:
    response = start(site, **body)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid"
    assert pointer in pointers(response)


def test_comm100_must_be_connected(service: Service) -> None:
    make_site(service, comm100={"agent_email": "agent@example.com"})

    response = start(service)

    assert response.status_code == 422
    assert set(pointers(response)) == {"/comm100/api_base_url", "/comm100/api_key"}


def test_the_channel_must_be_enabled(site: Service) -> None:
    response = start(site, channel="ticketing")

    assert response.status_code == 422
    assert pointers(response) == ["/ticketing/enabled"]
    assert "not enabled" in response.json()["error"]["details"][0]["message"]


def test_one_backfill_of_a_channel_at_a_time(service: Service) -> None:
    ticketing = {"enabled": True, "identification": [{"source": "contact", "name": "Customer ID"}]}
    make_site(service, ticketing=ticketing)
    first = start(service).json()

    again = start(service)
    other_channel = start(service, channel="ticketing")

    assert again.status_code == 409
    assert f"#{first['id']}" in again.json()["error"]["message"]
    assert other_channel.status_code == 202
    service.client.post(url(f"/{first['id']}/cancel"), headers=service.admin())
    assert start(service).status_code == 202


def test_pause_resume_and_cancel(site: Service) -> None:
    backfill_id = start(site).json()["id"]

    def move(action: str) -> Any:
        return site.client.post(url(f"/{backfill_id}/{action}"), headers=site.admin())

    assert move("pause").json()["state"] == "paused"
    assert move("pause").status_code == 409
    assert move("resume").json()["state"] == "queued"  # it had not started yet
    assert move("resume").status_code == 409
    cancelled = move("cancel")
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["finished_at"] is not None
    refused = move("resume")
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": "conflict",
        "message": "The backfill is cancelled: it can't be resumed any more.",
        "details": [],
    }


def test_an_unknown_backfill_or_site_is_404(site: Service) -> None:
    backfill_id = start(site).json()["id"]
    make_site(site, SITE + 1)

    for path in (url("/999"), url(f"/{backfill_id}", SITE + 1), url("/999/pause")):
        response = (
            site.client.post(path, headers=site.admin())
            if path.endswith("pause")
            else site.client.get(path, headers=site.admin())
        )
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    assert site.client.get(url(site=77), headers=site.admin()).status_code == 404
    assert site.client.get(url(), headers={}).status_code == 401


def test_the_routes_are_documented(site: Service) -> None:
    paths = site.client.get("/openapi.json").json()["paths"]

    started = paths["/api/v1/sites/{site_id}/backfills"]["post"]
    assert {"202", "409", "422"} <= started["responses"].keys()
    for action in ("pause", "resume", "cancel"):
        moved = paths[f"/api/v1/sites/{{site_id}}/backfills/{{backfill_id}}/{action}"]["post"]
        assert "409" in moved["responses"]
    assert "get" in paths["/api/v1/sites/{site_id}/backfills/{backfill_id}"]
