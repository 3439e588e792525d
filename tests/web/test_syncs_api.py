"""The sync log API of SPEC 5.2, over HTTP, on SQLite and PostgreSQL.

Records are seeded through the ORM the way the worker leaves them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from optibridge.app import create_app
from optibridge.config import Config
from optibridge.runtime import Runtime
from optibridge.store.migrate import upgrade_to_head
from optibridge.store.models import SyncRecord
from tests.store.test_sync_log import add_call, add_record, add_write
from tests.web.conftest import ADMIN_TOKEN, Service

SITE = 10000
OTHER_SITE = 20000


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[Service]:
    """The service in-process on each database, with sites 10000 and 20000."""
    config = Config(data_dir=tmp_path, database_url=database_url, admin_token=ADMIN_TOKEN)
    runtime = Runtime.start(config)
    upgrade_to_head(runtime.engine)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        service = Service(client, runtime, tmp_path / "optibridge.db")
        for site_id in (SITE, OTHER_SITE):
            created = client.post(
                "/api/v1/sites", json={"site_id": site_id, "name": "Acme"}, headers=service.admin()
            )
            assert created.status_code == 201, created.text
        yield service
    runtime.close()


def seed(service: Service, site_id: int = SITE, **fields: Any) -> int:
    with service.runtime.unit_of_work() as session:
        return add_record(session, site_id, **fields).id


def syncs(
    service: Service, params: dict[str, Any] | None = None, site_id: int = SITE
) -> httpx.Response:
    response: httpx.Response = service.client.get(
        f"/api/v1/sites/{site_id}/syncs", params=params, headers=service.admin()
    )
    return response


def messages(response: httpx.Response) -> str:
    return " ".join(detail["message"] for detail in response.json()["error"]["details"])


def record_row(service: Service, record_id: int) -> SyncRecord:
    with service.runtime.unit_of_work() as session:
        record = session.get(SyncRecord, record_id)
        assert record is not None
        return record


# --- listing ---------------------------------------------------------------------------------


def test_an_item_says_what_happened_to_an_event(service: Service) -> None:
    record_id = seed(
        service,
        outcome="updated",
        customer_id="C-1",
        changes=[{"field": "EMAIL", "old": None, "new": "ann@example.com"}],
        last_error="first attempt: Optimove timed out",
        attempts=2,
    )
    response = syncs(service)
    assert response.status_code == 200
    [item] = response.json()["items"]
    assert item["id"] == record_id
    assert item["channel"] == "livechat"
    assert item["event"] == "chat_ended"
    assert item["state"] == "done"
    assert item["outcome"] == "updated"
    assert item["reason"] == "fill_empty: 1 empty field filled"
    assert item["customer_id"] == "C-1"
    assert item["comm100_ids"] == {"chat_id": "chat-1", "visitor_id": "visitor-1"}
    assert item["changes"] == [{"field": "EMAIL", "old": None, "new": "ann@example.com"}]
    assert item["attempts"] == 2
    assert item["error"] == "first attempt: Optimove timed out"
    assert datetime.fromisoformat(item["received_at"]).tzinfo is not None
    assert response.json()["next_cursor"] is None


def test_an_item_names_its_event_in_words(service: Service) -> None:
    seed(service, event="chat_ended")
    seed(service, event="console_edit", comm100_ids={"agent_id": "a-7"})
    seed(service, event="chat_transferred", outcome="skipped")
    names = [item["event_name"] for item in syncs(service).json()["items"]]
    assert names == ["Chat transferred", "Agent edited the customer", "Chat ended"]


def test_what_agents_only_looked_at_is_left_out_of_the_log(service: Service) -> None:
    chat = seed(service)
    seed(service, event="console_lookup", outcome="unchanged")
    assert [item["id"] for item in syncs(service).json()["items"]] == [chat]


def test_agents_views_are_listed_when_asked_for(service: Service) -> None:
    chat = seed(service)
    view = seed(service, event="console_lookup", outcome="unchanged")
    listed = syncs(service, {"include_views": "true"}).json()["items"]
    assert [item["id"] for item in listed] == [view, chat]
    assert listed[0]["event_name"] == "Agent viewed the customer"
    by_event = syncs(service, {"event": "console_lookup"}).json()["items"]
    assert [item["id"] for item in by_event] == [view]


def test_an_agents_change_is_in_the_log_by_default(service: Service) -> None:
    change = seed(service, event="console_edit", comm100_ids={"agent_id": "a-7"})
    assert [item["id"] for item in syncs(service).json()["items"]] == [change]


def test_a_cursor_belongs_to_its_choice_of_views(service: Service) -> None:
    for _ in range(3):
        seed(service)
    cursor = syncs(service, {"limit": 1}).json()["next_cursor"]
    response = syncs(service, {"limit": 1, "cursor": cursor, "include_views": "true"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("fields", "retryable"),
    [
        ({"state": "failed", "outcome": "failed"}, True),
        ({"state": "done", "outcome": "updated"}, False),
        ({"state": "failed", "outcome": "failed", "event": "console_lookup"}, False),
        ({"state": "failed", "outcome": "failed", "event": "console_edit"}, False),
    ],
)
def test_an_item_says_whether_a_retry_can_help(
    service: Service, fields: dict[str, Any], retryable: bool
) -> None:
    seed(service, **fields)
    [item] = syncs(service, {"include_views": "true"}).json()["items"]
    assert item["retryable"] is retryable


def test_records_are_listed_newest_first(service: Service) -> None:
    ids = [seed(service) for _ in range(3)]
    assert [item["id"] for item in syncs(service).json()["items"]] == ids[::-1]


@pytest.mark.parametrize(
    ("params", "matching"),
    [
        ({"outcome": "failed"}, {"outcome": "failed", "state": "failed"}),
        ({"channel": "ticketing"}, {"channel": "ticketing", "event": "ticket_created"}),
        ({"customer_id": "C-2"}, {"customer_id": "C-2"}),
        ({"event": "chat_started"}, {"event": "chat_started", "outcome": "skipped"}),
        ({"state": "awaiting_callback"}, {"state": "awaiting_callback", "outcome": "pending"}),
    ],
)
def test_a_filter_keeps_only_the_matching_records(
    service: Service, params: dict[str, str], matching: dict[str, Any]
) -> None:
    seed(service)
    match = seed(service, **matching)
    seed(service)
    assert [item["id"] for item in syncs(service, params).json()["items"]] == [match]


def test_filters_combine(service: Service) -> None:
    seed(service, outcome="failed", state="failed", channel="livechat")
    seed(service, outcome="updated", channel="ticketing", event="ticket_created")
    match = seed(service, outcome="failed", state="failed", channel="ticketing")
    response = syncs(service, {"outcome": "failed", "channel": "ticketing"})
    assert [item["id"] for item in response.json()["items"]] == [match]


def test_a_period_selects_by_time_received(service: Service) -> None:
    noon = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    seed(service, received_at=noon - timedelta(minutes=1))
    inside = seed(service, received_at=noon)
    seed(service, received_at=noon + timedelta(hours=1))
    response = syncs(service, {"since": "2026-03-01T12:00:00Z", "until": "2026-03-01T13:00:00Z"})
    assert [item["id"] for item in response.json()["items"]] == [inside]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"outcome": "lost"}, "outcome"),
        ({"channel": "email"}, "channel"),
        ({"state": "received"}, "state"),
        ({"since": "yesterday"}, "since"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
    ],
)
def test_an_invalid_parameter_is_a_422_naming_it(
    service: Service, params: dict[str, str], named: str
) -> None:
    response = syncs(service, params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"
    assert f"'{named}'" in messages(response)


def test_an_outcome_filter_lists_the_outcomes_it_accepts(service: Service) -> None:
    response = syncs(service, {"outcome": "lost"})
    assert "needs_contact" in messages(response)


def test_a_period_that_ends_before_it_starts_is_a_422(service: Service) -> None:
    response = syncs(service, {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"})
    assert response.status_code == 422
    assert "since must be earlier than until" in messages(response)


# --- paging ----------------------------------------------------------------------------------


def test_paging_through_120_records_visits_each_once(service: Service) -> None:
    with service.runtime.unit_of_work() as session:
        seeded = {add_record(session).id for _ in range(120)}
    seen: list[int] = []
    pages: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 50} | ({"cursor": cursor} if cursor else {})
        page = syncs(service, params).json()
        seen.extend(item["id"] for item in page["items"])
        pages.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [50, 50, 20]
    assert seen == sorted(seeded, reverse=True)


def test_records_arriving_while_paging_do_not_shift_the_pages(service: Service) -> None:
    ids = [seed(service) for _ in range(4)]
    first = syncs(service, {"limit": 2}).json()
    seed(service)  # newer than everything listed: belongs before page one, not in page two
    second = syncs(service, {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [item["id"] for item in second["items"]] == [ids[1], ids[0]]


def test_a_tampered_cursor_is_a_400(service: Service) -> None:
    for _ in range(3):
        seed(service)
    cursor = syncs(service, {"limit": 1}).json()["next_cursor"]
    token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    version, last_id, digest, checksum = token.split(".")
    forged = f"{version}.{int(last_id) + 1000}.{digest}.{checksum}"
    tampered = base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")
    for bad in (tampered, "not-a-cursor", cursor[:-2]):
        response = syncs(service, {"limit": 1, "cursor": bad})
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "bad_request"
        assert "cursor" in response.json()["error"]["message"]


def test_a_cursor_is_refused_with_other_filters(service: Service) -> None:
    for _ in range(3):
        seed(service)
    cursor = syncs(service, {"limit": 1}).json()["next_cursor"]
    response = syncs(service, {"limit": 1, "cursor": cursor, "outcome": "failed"})
    assert response.status_code == 400
    assert "other filters" in response.json()["error"]["message"]


# --- site isolation and access ---------------------------------------------------------------


def test_a_site_sees_only_its_own_records(service: Service) -> None:
    mine = seed(service, SITE)
    theirs = seed(service, OTHER_SITE)
    assert [item["id"] for item in syncs(service, site_id=SITE).json()["items"]] == [mine]
    assert [item["id"] for item in syncs(service, site_id=OTHER_SITE).json()["items"]] == [theirs]
    detail = service.client.get(f"/api/v1/sites/{SITE}/syncs/{theirs}", headers=service.admin())
    assert detail.status_code == 404
    retry = service.client.post(
        f"/api/v1/sites/{SITE}/syncs/{theirs}/retry", headers=service.admin()
    )
    assert retry.status_code == 404


def test_a_site_scoped_admin_token_cannot_read_another_sites_log(service: Service) -> None:
    issued = service.client.post(
        f"/api/v1/sites/{OTHER_SITE}/tokens", json={"role": "admin"}, headers=service.admin()
    ).json()["token"]
    response = service.client.get(
        f"/api/v1/sites/{SITE}/syncs", headers={"Authorization": f"Bearer {issued}"}
    )
    assert response.status_code == 404


def test_an_agent_token_cannot_read_the_log(service: Service) -> None:
    issued = service.client.post(
        f"/api/v1/sites/{SITE}/tokens", json={"role": "agent"}, headers=service.admin()
    ).json()["token"]
    response = service.client.get(
        f"/api/v1/sites/{SITE}/syncs", headers={"Authorization": f"Bearer {issued}"}
    )
    assert response.status_code == 403


def test_the_log_needs_a_token(service: Service) -> None:
    assert service.client.get(f"/api/v1/sites/{SITE}/syncs").status_code == 401


def test_the_log_of_an_unknown_site_is_404(service: Service) -> None:
    response = syncs(service, site_id=424242)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- detail ----------------------------------------------------------------------------------


def test_the_detail_shows_the_calls_made_and_their_confirmation(service: Service) -> None:
    with service.runtime.unit_of_work() as session:
        write = add_write(
            session, state="confirmed", request_id="req-7", sent_at=1772366400.0, settled_at=None
        )
        record = add_record(session)  # a batch names its write on each record's call
        add_call(session, record, at=datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))
        add_call(
            session,
            record,
            at=datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC),
            endpoint="POST Customers/UpdateCustomerAttributes",
            request_id="req-7",
            write_id=write.id,
            detail="1 customer, 1 attribute",
        )
        record_id, write_id = record.id, write.id
    response = service.client.get(
        f"/api/v1/sites/{SITE}/syncs/{record_id}", headers=service.admin()
    )
    assert response.status_code == 200
    detail = response.json()
    assert detail["id"] == record_id
    assert detail["changes"] == [{"field": "EMAIL", "old": None, "new": "ann@example.com"}]
    read, written = detail["calls"]
    assert (read["endpoint"], read["status"], read["confirmed"]) == (
        "GET Customers/{customer_id}/Attributes",
        200,
        None,
    )
    assert written["endpoint"] == "POST Customers/UpdateCustomerAttributes"
    assert (written["request_id"], written["confirmed"]) == ("req-7", True)
    assert written["detail"] == "1 customer, 1 attribute"
    assert written["duration_ms"] == 42.0
    assert detail["write"]["id"] == write_id
    assert (detail["write"]["kind"], detail["write"]["state"]) == ("update", "confirmed")
    assert detail["write"]["request_id"] == "req-7"
    assert detail["write"]["sent_at"] == "2026-03-01T12:00:00Z"
    assert detail["write"]["settled_at"] is None
    assert detail["write"]["result"] == {"isSuccess": True, "requestId": "req-1"}


def test_a_write_reported_failed_shows_as_not_confirmed(service: Service) -> None:
    with service.runtime.unit_of_work() as session:
        write = add_write(session, state="failed")
        record = add_record(session, outcome="failed", state="failed")
        add_call(
            session, record, endpoint="POST Customers/UpdateCustomerAttributes", write_id=write.id
        )
        record_id = record.id
    detail = service.client.get(f"/api/v1/sites/{SITE}/syncs/{record_id}", headers=service.admin())
    assert [call["confirmed"] for call in detail.json()["calls"]] == [False]


def test_a_record_without_calls_has_an_empty_list_and_no_write(service: Service) -> None:
    record_id = seed(service, outcome="skipped", changes=[])
    detail = service.client.get(f"/api/v1/sites/{SITE}/syncs/{record_id}", headers=service.admin())
    assert (detail.json()["calls"], detail.json()["write"]) == ([], None)


def test_an_unknown_record_is_404(service: Service) -> None:
    response = service.client.get(f"/api/v1/sites/{SITE}/syncs/999999", headers=service.admin())
    assert response.status_code == 404
    assert "999999" in response.json()["error"]["message"]


# --- retry -----------------------------------------------------------------------------------


def test_retrying_a_failed_record_queues_it_again(service: Service) -> None:
    record_id = seed(
        service, state="failed", outcome="failed", attempts=5, last_error="HTTP 503 five times"
    )
    response = service.client.post(
        f"/api/v1/sites/{SITE}/syncs/{record_id}/retry", headers=service.admin()
    )
    assert response.status_code == 200
    item = response.json()
    assert (item["state"], item["outcome"], item["attempts"]) == ("queued", None, 0)
    assert item["error"] == "HTTP 503 five times"
    record = record_row(service, record_id)
    assert record.next_attempt_at <= datetime.now(UTC).timestamp()
    assert record.claimed_by is None


@pytest.mark.parametrize("state", ["queued", "working", "awaiting_callback", "done"])
def test_retrying_a_record_that_is_not_failed_is_a_conflict(service: Service, state: str) -> None:
    record_id = seed(service, state=state, attempts=1)
    response = service.client.post(
        f"/api/v1/sites/{SITE}/syncs/{record_id}/retry", headers=service.admin()
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert state in response.json()["error"]["message"]
    assert record_row(service, record_id).state == state


def test_a_retry_that_could_overwrite_a_later_write_needs_force(service: Service) -> None:
    old = seed(service, state="failed", outcome="failed", customer_id="C-7")
    newer = seed(service, state="done", outcome="updated", customer_id="C-7")
    url = f"/api/v1/sites/{SITE}/syncs/{old}/retry"
    refused = service.client.post(url, headers=service.admin())
    assert refused.status_code == 409
    assert f"Record {newer}" in refused.json()["error"]["message"]
    assert record_row(service, old).state == "failed"
    forced = service.client.post(url, params={"force": True}, headers=service.admin())
    assert forced.status_code == 200
    assert record_row(service, old).state == "queued"


def test_a_later_event_that_wrote_nothing_does_not_block_a_retry(service: Service) -> None:
    old = seed(service, state="failed", outcome="failed", customer_id="C-8")
    seed(service, state="done", outcome="unchanged", customer_id="C-8")
    response = service.client.post(
        f"/api/v1/sites/{SITE}/syncs/{old}/retry", headers=service.admin()
    )
    assert response.status_code == 200


def test_retrying_an_unknown_record_is_404(service: Service) -> None:
    response = service.client.post(
        f"/api/v1/sites/{SITE}/syncs/999999/retry", headers=service.admin()
    )
    assert response.status_code == 404


# --- summary ---------------------------------------------------------------------------------


def test_the_summary_counts_each_outcome_over_the_last_hours(service: Service) -> None:
    now = datetime.now(UTC)
    for outcome in ("created", "updated", "updated", "failed"):
        seed(service, outcome=outcome)
    seed(service, outcome=None, state="queued")
    seed(service, outcome="failed", received_at=now - timedelta(hours=3))
    seed(service, OTHER_SITE, outcome="created")
    response = service.client.get(
        f"/api/v1/sites/{SITE}/syncs/summary", params={"hours": 2}, headers=service.admin()
    )
    assert response.status_code == 200
    summary = response.json()
    assert summary["hours"] == 2
    assert summary["total"] == 5
    assert summary["in_progress"] == 1
    assert summary["outcomes"] == {
        "created": 1,
        "updated": 2,
        "unchanged": 0,
        "no_match": 0,
        "unidentified": 0,
        "needs_contact": 0,
        "skipped": 0,
        "failed": 1,
        "pending": 0,
    }


def test_the_summary_counts_agents_views_apart(service: Service) -> None:
    seed(service, outcome="updated")
    seed(service, event="console_lookup", outcome="unchanged")
    seed(service, event="console_lookup", outcome="failed", state="failed")
    summary = service.client.get(
        f"/api/v1/sites/{SITE}/syncs/summary", headers=service.admin()
    ).json()
    assert (summary["total"], summary["agent_views"]) == (1, 2)
    assert summary["outcomes"]["unchanged"] == 0
    assert summary["outcomes"]["failed"] == 0


def test_the_summary_covers_a_day_by_default(service: Service) -> None:
    seed(service, received_at=datetime.now(UTC) - timedelta(hours=23))
    seed(service, received_at=datetime.now(UTC) - timedelta(hours=25))
    summary = service.client.get(
        f"/api/v1/sites/{SITE}/syncs/summary", headers=service.admin()
    ).json()
    assert (summary["hours"], summary["total"]) == (24, 1)


def test_a_summary_period_out_of_range_is_a_422(service: Service) -> None:
    response = service.client.get(
        f"/api/v1/sites/{SITE}/syncs/summary", params={"hours": 0}, headers=service.admin()
    )
    assert response.status_code == 422
    assert "'hours'" in messages(response)


# --- the OpenAPI document --------------------------------------------------------------------


def test_the_openapi_document_describes_the_sync_log(service: Service) -> None:
    paths = service.client.get("/openapi.json").json()["paths"]
    listing = paths["/api/v1/sites/{site_id}/syncs"]["get"]
    assert {
        "outcome",
        "channel",
        "customer_id",
        "event",
        "state",
        "since",
        "until",
        "include_views",
        "limit",
        "cursor",
    } <= {parameter["name"] for parameter in listing["parameters"]}
    assert {"200", "401", "403", "404", "422"} <= set(listing["responses"])
    assert "409" in paths["/api/v1/sites/{site_id}/syncs/{record_id}/retry"]["post"]["responses"]
    assert "/api/v1/sites/{site_id}/syncs/summary" in paths
    assert "/api/v1/sites/{site_id}/syncs/{record_id}" in paths


def test_an_agents_failed_view_is_not_retried_and_says_why(service: Service) -> None:
    record_id = seed(service, state="failed", outcome="failed", event="console_lookup")
    response = service.client.post(
        f"/api/v1/sites/{SITE}/syncs/{record_id}/retry", headers=service.admin()
    )
    assert response.status_code == 409
    message = response.json()["error"]["message"]
    assert "view of a customer" in message
    assert "nothing to retry" in message
    assert "change" not in message.split(":")[0]  # not called an agent's change


def test_an_agents_console_change_is_not_retried_from_the_log(service: Service) -> None:
    record_id = seed(service, state="failed", outcome="failed", event="console_edit")
    response = service.client.post(
        f"/api/v1/sites/{SITE}/syncs/{record_id}/retry", headers=service.admin()
    )
    assert response.status_code == 409
    assert "console" in response.json()["error"]["message"]


# --- restore (the writes themselves: tests/sync/test_restore.py) ------------------------------


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"outcome": "created"}, "restore_of_creation"),
        (
            {"event": "console_create", "outcome": "pending", "state": "awaiting_callback"},
            "restore_of_creation",
        ),
        ({"outcome": "pending", "state": "awaiting_callback"}, "restore_not_settled"),
        ({"outcome": None, "state": "queued", "changes": []}, "restore_not_settled"),
        ({"outcome": "unchanged", "changes": []}, "nothing_to_restore"),
        ({"outcome": "failed", "state": "failed"}, "nothing_to_restore"),
    ],
)
def test_a_record_that_cant_be_restored_is_refused_before_anything_is_read(
    service: Service, fields: dict[str, Any], code: str
) -> None:
    record_id = seed(service, **fields)
    response = service.client.post(
        f"/api/v1/sites/{SITE}/syncs/{record_id}/restore", headers=service.admin()
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == code
    assert syncs(service).json()["items"][0]["id"] == record_id  # no record was added


def test_restoring_another_sites_record_is_404(service: Service) -> None:
    theirs = seed(service, site_id=OTHER_SITE)
    response = service.client.post(
        f"/api/v1/sites/{SITE}/syncs/{theirs}/restore", headers=service.admin()
    )
    assert response.status_code == 404


def test_a_restore_record_is_not_retried_from_the_log(service: Service) -> None:
    record_id = seed(service, state="failed", outcome="failed", event="restore")
    response = service.client.post(
        f"/api/v1/sites/{SITE}/syncs/{record_id}/retry", headers=service.admin()
    )
    assert response.status_code == 409
    assert "restore" in response.json()["error"]["message"]


def test_a_restore_shows_the_record_it_restores(service: Service) -> None:
    record_id = seed(service, event="restore", comm100_ids={"restores": "41", "restored_by": "x"})
    item = service.client.get(
        f"/api/v1/sites/{SITE}/syncs/{record_id}", headers=service.admin()
    ).json()
    assert item["restores"] == 41
    other = seed(service, comm100_ids={"restores": "41"})  # not a restore: the key means nothing
    assert syncs(service).json()["items"][0]["id"] == other
    assert syncs(service).json()["items"][0]["restores"] is None


def test_the_openapi_document_describes_restore(service: Service) -> None:
    operation = service.client.get("/openapi.json").json()["paths"][
        "/api/v1/sites/{site_id}/syncs/{record_id}/restore"
    ]["post"]
    assert {"202", "404", "409", "429", "502"} <= set(operation["responses"])
    assert "restore_changed_since" in operation["responses"]["409"]["description"]
