"""Backfills as users run them (SPEC 4.7): the service and both sandboxes in their own
processes over real HTTP, a backfill started through the API over conversations seeded in the
Comm100 sandbox. It finishes with counts that add up and one sync record per conversation;
one already synced live is not replayed; its Optimove calls take the budget's lowest lane;
it survives a restart of the service, and can be paused, resumed and cancelled."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from optibridge.sandbox.comm100.payloads import Chat, Visitor, chat_ended
from tests.sync.stack import Stack, default_settings, running_stack, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FINAL = ("done", "failed", "cancelled")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def seed_chat(
    stack: Stack,
    chat_id: int,
    ended: datetime,
    customer_id: str,
    *,
    email: str,
    guid: str | None = None,
    **changes: Any,
) -> None:
    body = {
        "guid": guid,
        "startTime": iso(ended - timedelta(minutes=10)),
        "endTime": iso(ended),
        "preChatEmail": email,
        "visitor": {
            "id": str(uuid.uuid4()),
            "customVariables": [{"name": "customer_id", "value": customer_id}],
        },
        "chatFieldResults": [{"name": "First Name", "value": "Ada"}],
        **changes,
    }
    stack.comm100.put(f"/_sandbox/chats/{chat_id}", json=body).raise_for_status()


def seed_offline_message(stack: Stack, message_id: int, at: datetime, customer_id: str) -> None:
    stack.comm100.put(
        f"/_sandbox/offline-messages/{message_id}",
        json={
            "createdTime": iso(at),
            "email": f"{customer_id.lower()}@example.com",
            "subject": "Hello",
            "visitor": {"id": str(uuid.uuid4())},
            "customVariables": [{"name": "customer_id", "value": customer_id}],
        },
    ).raise_for_status()


def start(stack: Stack, site_id: int, since: datetime, until: datetime) -> dict[str, Any]:
    response = stack.admin.post(
        f"/sites/{site_id}/backfills",
        json={"channel": "livechat", "since": iso(since), "until": iso(until)},
    )
    assert response.status_code == 202, response.text
    started: dict[str, Any] = response.json()
    return started


def backfill_of(stack: Stack, site_id: int, backfill_id: int) -> dict[str, Any]:
    found: dict[str, Any] = stack.admin.get(f"/sites/{site_id}/backfills/{backfill_id}").json()
    return found


def finished(
    stack: Stack, site_id: int, backfill_id: int, timeout_s: float = 60.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        backfill = backfill_of(stack, site_id, backfill_id)
        if backfill["state"] in FINAL:
            return backfill
        if time.monotonic() > deadline:
            raise AssertionError(f"backfill still {backfill['state']}: {backfill}")
        time.sleep(0.1)


def background_calls(stack: Stack) -> float:
    metrics = httpx.get(f"{stack.service_url}/metrics", timeout=10).text
    found = re.search(
        r'^optibridge_optimove_priority_calls_total\{priority="background"\} (\S+)$',
        metrics,
        re.MULTILINE,
    )
    return float(found.group(1)) if found else 0.0


def test_a_backfill_of_past_chats_finishes_with_counts_that_add_up(stack: Stack) -> None:
    site = stack.new_site()
    day = datetime.now(UTC) - timedelta(days=3)
    customers = [stack.seed_customer(EMAIL=None) for _ in range(4)]
    for number, customer in enumerate(customers[:3], start=1):
        seed_chat(
            stack,
            100 + number,
            day + timedelta(hours=number),
            customer,
            email=f"c{number}@example.com",
        )
    seed_chat(
        stack, 110, day + timedelta(hours=5), customers[0], email="x@example.com", endTime=None
    )
    seed_chat(
        stack, 111, day + timedelta(hours=6), customers[0], email="y@example.com", status="missed"
    )
    seed_offline_message(stack, 200, day + timedelta(hours=7), customers[3])
    seed_chat(stack, 120, day - timedelta(days=1), customers[0], email="old@example.com")  # before
    calls_before = background_calls(stack)

    started = start(stack, site.site_id, day, day + timedelta(days=1))
    done = finished(stack, site.site_id, started["id"])

    assert done["state"] == "done", done
    assert (done["total"], done["done"], done["skipped"], done["failed"]) == (6, 4, 2, 0)
    assert done["total"] == done["done"] + done["skipped"] + done["failed"]
    assert (done["in_progress"], done["eta_s"], done["percent"]) == (0, 0.0, 100)
    records = stack.records(site.site_id)
    assert sorted(r.event for r in records) == [
        "backfill_chat_ended",
        "backfill_chat_ended",
        "backfill_chat_ended",
        "backfill_offline_message_submitted",
    ]
    assert len({r.conversation_key for r in records}) == len(records)  # one per conversation
    assert {r.state for r in records} == {"done"}
    # The site's rules, as for live events: fill_empty on chat end, overwrite on offline message.
    for number, customer in enumerate(customers[:3], start=1):
        assert stack.customer(customer)["EMAIL"] == f"c{number}@example.com"  # type: ignore[index]
    assert stack.customer(customers[3])["EMAIL"] == f"{customers[3].lower()}@example.com"  # type: ignore[index]
    assert background_calls(stack) > calls_before

    again = start(stack, site.site_id, day, day + timedelta(days=1))
    twice = finished(stack, site.site_id, again["id"])
    assert (twice["done"], twice["already_synced"], twice["skipped"]) == (4, 4, 2)
    assert len(stack.records(site.site_id)) == 4  # never applied twice


def test_a_conversation_synced_live_is_not_replayed(stack: Stack) -> None:
    site = stack.new_site()
    customer = stack.seed_customer(EMAIL=None)
    ended = (datetime.now(UTC) - timedelta(hours=5)).replace(microsecond=250_000)
    chat_guid = str(uuid.uuid4())
    live = chat_ended(
        visitor=Visitor(id=str(uuid.uuid4()), custom_variables={"customer_id": customer}),
        chat=Chat(id=chat_guid, start_time=ended - timedelta(minutes=5), end_time=ended),
    )
    stack.accept(site.livechat_url, live)
    seed_chat(stack, 300, ended, customer, email="live@example.com", guid=chat_guid)

    started = start(stack, site.site_id, ended - timedelta(hours=1), ended + timedelta(hours=1))
    done = finished(stack, site.site_id, started["id"])

    assert (done["total"], done["done"], done["already_synced"]) == (1, 1, 1)
    [record] = stack.records(site.site_id)
    assert record.event == "chat_ended"


def test_a_backfill_survives_a_restart_and_can_be_paused_resumed_and_cancelled(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    day = datetime.now(UTC) - timedelta(days=2)
    # A worker that takes one step a second and lists two conversations a page; what the
    # stopped service held (the backfill, its records) is free again within seconds, and writes
    # whose callback went to it are read back soon.
    env = {
        "OPTIBRIDGE_WORKER_POLL_S": "1",
        "OPTIBRIDGE_BACKFILL_PAGE_SIZE": "2",
        "OPTIBRIDGE_WORKER_LEASE_S": "3",
        "OPTIBRIDGE_CALLBACK_TIMEOUT_S": "2",
    }
    directory = tmp_path_factory.mktemp("restart")
    with running_stack(directory, extra_env=env) as stack:
        site = stack.new_site()
        customer = stack.seed_customer(EMAIL=None)
        for number in range(1, 7):
            seed_chat(
                stack,
                400 + number,
                day + timedelta(hours=number),
                customer,
                email=f"r{number}@example.com",
            )
        backfill_id = start(stack, site.site_id, day, day + timedelta(days=1))["id"]
        paused = stack.admin.post(f"/sites/{site.site_id}/backfills/{backfill_id}/pause")
        assert paused.json()["state"] == "paused"
        time.sleep(1.5)  # a worker round or two: a paused backfill lists nothing
        assert backfill_of(stack, site.site_id, backfill_id)["total"] == 0
        resumed = stack.admin.post(f"/sites/{site.site_id}/backfills/{backfill_id}/resume")
        assert resumed.json()["state"] in ("queued", "running")
        wait_until(
            lambda: backfill_of(stack, site.site_id, backfill_id)["done"] >= 2, 30, "a first page"
        )
        database_url = stack.env["OPTIBRIDGE_DATABASE_URL"]
        secret = stack.env["OPTIBRIDGE_SECRET_KEY"]
    # The service stopped mid-way; a new one on the same database goes on where it was.
    restart_env = {**env, "OPTIBRIDGE_SECRET_KEY": secret}
    with running_stack(directory, extra_env=restart_env, database_url=database_url) as stack:
        # New sandboxes (new ports, empty): the site points at them and they hold the same data.
        settings = default_settings(str(stack.optimove.base_url), str(stack.comm100.base_url))
        stack.admin.put(f"/sites/{site.site_id}/settings", json=settings).raise_for_status()
        stack.comm100.put("/_sandbox/sites", json=[10000, site.site_id]).raise_for_status()
        for number in range(1, 7):
            seed_chat(
                stack,
                400 + number,
                day + timedelta(hours=number),
                customer,
                email=f"r{number}@example.com",
            )
        stack.optimove.put(
            f"/_sandbox/customers/{customer}", json={"EMAIL": None}
        ).raise_for_status()
        done = finished(stack, site.site_id, backfill_id, timeout_s=120)
        assert (done["state"], done["total"], done["done"]) == ("done", 6, 6)
        assert len(stack.records(site.site_id)) == 6
        cancel = stack.admin.post(f"/sites/{site.site_id}/backfills/{backfill_id}/cancel")
        assert cancel.status_code == 409
