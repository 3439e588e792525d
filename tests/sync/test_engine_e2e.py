"""SPEC 4.2 row by row, over real HTTP: a Comm100 webhook goes into the service, its worker
decides, and the Optimove sandbox's customer shows the result."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

import pytest

from optibridge.sandbox.comm100.payloads import (
    Chat,
    FieldAnswer,
    OfflineMessage,
    Visitor,
    chat_ended,
    chat_started,
    offline_message_submitted,
    ticket_created_trigger,
)
from tests.sync.stack import Stack, default_settings, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_ticket_ids = itertools.count(700_000)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # A short callback timeout lets a test see a write confirmed by reading back.
    env = {"OPTIBRIDGE_CALLBACK_TIMEOUT_S": "2"}
    with running_stack(tmp_path_factory.mktemp("stack"), extra_env=env) as running:
        yield running


def a_chat_end(
    *,
    customer_id: str | None = None,
    email: str = "",
    phone: str = "",
    first_name: str = "",
    vip: str = "",
    visitor_id: str | None = None,
) -> dict[str, Any]:
    variables = {"customer_id": customer_id} if customer_id else {}
    if vip:
        variables["vip"] = vip
    answers = [FieldAnswer(id=1, name="First Name", value=first_name)] if first_name else []
    visitor = Visitor(
        id=visitor_id or str(uuid.uuid4()),
        email=email,
        phone=phone,
        custom_variables=variables,
        custom_fields=answers,
    )
    now = datetime.now(UTC)
    return chat_ended(
        visitor=visitor, chat=Chat(id=str(uuid.uuid4()), start_time=now, end_time=now)
    )


def an_offline_message(*, customer_id: str | None, email: str = "") -> dict[str, Any]:
    variables = {"customer_id": customer_id} if customer_id else {}
    visitor = Visitor(id=str(uuid.uuid4()), email=email, custom_variables=variables)
    message = OfflineMessage(id=str(uuid.uuid4()), time=datetime.now(UTC), subject="Hi")
    return offline_message_submitted(visitor=visitor, offline_message=message)


def policy(update: str, no_match: str) -> dict[str, str]:
    return {"update": update, "no_match": no_match}


def livechat(**changes: Any) -> dict[str, Any]:
    """The default Live Chat section with some keys changed."""
    section: dict[str, Any] = default_settings("", "")["livechat"]
    section.update(changes)
    return section


# --- Live Chat: matched customers ------------------------------------------------------------


def test_fill_empty_fills_only_the_empty_fields(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat(on_chat_end=policy("fill_empty", "never")))
    customer = stack.seed_customer(EMAIL="kept@example.com", PHONE="", FIRST_NAME=None)
    record = stack.accept(
        site.livechat_url,
        a_chat_end(customer_id=customer, email="new@example.com", phone="+1 555", first_name="Ada"),
    )
    assert (record.outcome, record.state) == ("updated", "done")
    after = stack.customer(customer)
    assert after is not None
    assert after["EMAIL"] == "kept@example.com"
    assert after["PHONE"] == "+1 555"
    assert after["FIRST_NAME"] == "Ada"
    assert {change["field"] for change in record.changes} == {"PHONE", "FIRST_NAME"}


def test_overwrite_writes_every_mapped_field_that_differs(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat(on_chat_end=policy("overwrite", "never")))
    customer = stack.seed_customer(EMAIL="old@example.com", PHONE="+1 555", VIP_LEVEL="gold")
    record = stack.accept(
        site.livechat_url,
        a_chat_end(customer_id=customer, email="new@example.com", phone="+1 555", vip="gold"),
    )
    assert record.outcome == "updated"
    assert record.changes == [
        {"field": "EMAIL", "old": "old@example.com", "new": "new@example.com"}
    ]
    after = stack.customer(customer) or {}
    assert (after["EMAIL"], after["PHONE"], after["VIP_LEVEL"]) == (
        "new@example.com",
        "+1 555",
        "gold",
    )


def test_update_none_never_writes(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat(on_chat_end=policy("none", "never")))
    customer = stack.seed_customer(EMAIL="")
    since = time.time()
    record = stack.accept(site.livechat_url, a_chat_end(customer_id=customer, email="a@b.example"))
    assert record.outcome == "unchanged"
    assert stack.optimove_writes(since) == []
    assert (stack.customer(customer) or {})["EMAIL"] in ("", None)


def test_nothing_to_write_is_unchanged_and_makes_no_write_call(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat(on_chat_end=policy("overwrite", "never")))
    customer = stack.seed_customer(EMAIL="same@example.com")
    since = time.time()
    record = stack.accept(
        site.livechat_url, a_chat_end(customer_id=customer, email="same@example.com")
    )
    assert record.outcome == "unchanged"
    assert stack.optimove_writes(since) == []


def test_empty_comm100_values_never_erase(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat(on_chat_end=policy("overwrite", "never")))
    customer = stack.seed_customer(EMAIL="keep@example.com", PHONE="+44 1")
    record = stack.accept(site.livechat_url, a_chat_end(customer_id=customer, email="", phone=""))
    assert record.outcome == "unchanged"
    assert (stack.customer(customer) or {})["PHONE"] == "+44 1"


# --- Live Chat: no match, unidentified, skipped ----------------------------------------------


def test_auto_create_creates_the_customer_from_an_offline_message(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat(on_offline_message=policy("overwrite", "auto_create")))
    customer = f"NEW-{uuid.uuid4().hex[:8]}"
    record = stack.accept(
        site.livechat_url, an_offline_message(customer_id=customer, email="fresh@example.com")
    )
    assert (record.outcome, record.customer_id) == ("created", customer)
    assert (stack.customer(customer) or {}).get("EMAIL") == "fresh@example.com"


@pytest.mark.parametrize("no_match", ["agent_create", "never"])
def test_no_match_without_auto_create_writes_nothing(stack: Stack, no_match: str) -> None:
    site = stack.new_site(livechat=livechat(on_chat_end=policy("overwrite", no_match)))
    customer = f"ABSENT-{uuid.uuid4().hex[:8]}"
    record = stack.accept(site.livechat_url, a_chat_end(customer_id=customer, email="x@y.example"))
    assert record.outcome == "no_match"
    assert stack.customer(customer) is None


def test_a_chat_without_identification_is_unidentified(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat(on_chat_end=policy("overwrite", "auto_create")))
    record = stack.accept(site.livechat_url, a_chat_end(email="who@example.com"))
    assert record.outcome == "unidentified"
    assert "customer_id" in (record.reason or "")


def test_other_live_chat_events_are_recorded_as_skipped(stack: Stack) -> None:
    site = stack.new_site()
    record = stack.accept(site.livechat_url, chat_started(visitor=Visitor(id=str(uuid.uuid4()))))
    assert (record.event, record.outcome) == ("chat_started", "skipped")


def test_a_disabled_channel_records_the_event_as_skipped(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat(enabled=False))
    customer = stack.seed_customer(EMAIL="")
    record = stack.accept(site.livechat_url, a_chat_end(customer_id=customer, email="a@b.example"))
    assert record.outcome == "skipped"
    assert (stack.customer(customer) or {})["EMAIL"] == ""


def test_a_returning_visitor_is_recognised_by_the_remembered_link(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat(on_chat_end=policy("fill_empty", "never")))
    customer = stack.seed_customer(EMAIL="", PHONE="")
    visitor = str(uuid.uuid4())
    first = stack.accept(site.livechat_url, a_chat_end(customer_id=customer, visitor_id=visitor))
    assert first.outcome == "unchanged"
    second = stack.accept(
        site.livechat_url, a_chat_end(visitor_id=visitor, phone="+33 1 23 45 67 89")
    )
    assert (second.outcome, second.customer_id) == ("updated", customer)
    assert (stack.customer(customer) or {})["PHONE"] == "+33 1 23 45 67 89"


# --- Optimove's answers: refusals, missing features, lost callbacks --------------------------


def test_a_customer_removed_before_the_write_fails_with_optimoves_reason(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat(on_chat_end=policy("overwrite", "never")))
    customer = stack.seed_customer(EMAIL="old@example.com")
    stack.optimove.put("/_sandbox/faults", json={"callback_delay_ms": 1500}).raise_for_status()
    since = time.time()
    try:
        response = stack.send(
            site.livechat_url, a_chat_end(customer_id=customer, email="new@example.com")
        )
        # Removed after our read, before Optimove applies the update.
        deadline = time.monotonic() + 10
        while not stack.optimove_writes(since) and time.monotonic() < deadline:
            time.sleep(0.02)
        stack.optimove.delete(f"/_sandbox/customers/{customer}")
        record = stack.settled(response.json()["id"])
    finally:
        stack.optimove.put("/_sandbox/faults", json={"callback_delay_ms": 200})
    assert record.outcome == "failed"
    assert "INVALID_CUSTOMER" in (record.last_error or "")


def test_an_account_without_upsert_fails_creation_clearly(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat(on_offline_message=policy("overwrite", "auto_create")))
    stack.optimove.put("/_sandbox/behaviour", json={"upsert_enabled": False}).raise_for_status()
    try:
        record = stack.accept(
            site.livechat_url, an_offline_message(customer_id=f"N-{uuid.uuid4().hex[:6]}")
        )
    finally:
        stack.optimove.put("/_sandbox/behaviour", json={"upsert_enabled": True})
    assert record.outcome == "failed"
    assert "UpsertCustomer" in (record.last_error or "")


def test_a_write_whose_callback_never_comes_is_confirmed_by_reading_back(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat(on_chat_end=policy("overwrite", "never")))
    customer = stack.seed_customer(EMAIL="old@example.com")
    stack.optimove.put("/_sandbox/faults", json={"callback_drop_rate": 1.0}).raise_for_status()
    try:
        record = stack.accept(
            site.livechat_url, a_chat_end(customer_id=customer, email="new@example.com")
        )
    finally:
        stack.optimove.put("/_sandbox/faults", json={"callback_drop_rate": 0.0})
    assert record.outcome == "updated"
    assert "reading Optimove back" in (record.reason or "")
    assert (stack.customer(customer) or {})["EMAIL"] == "new@example.com"


# --- Ticketing --------------------------------------------------------------------------------


def a_contact(stack: Stack, customer_id: str, email: str, last_name: str) -> str:
    return stack.seed_contact(customer_id, email, last_name)


@pytest.mark.parametrize("style", ["pascal", "camel"])
def test_a_ticket_by_a_contact_overwrites_the_matched_customer(
    stack: Stack, style: Literal["pascal", "camel"]
) -> None:
    site = stack.new_site()
    customer = stack.seed_customer(EMAIL="old@example.com", LAST_NAME="Old")
    contact = a_contact(stack, customer, f"{uuid.uuid4().hex[:6]}@example.com", "Hopper")
    body = ticket_created_trigger(
        next(_ticket_ids),
        contact,
        "contact",
        style=style,
        site_id=site.site_id,
    )
    record = stack.accept(site.ticketing_url, body)
    assert record.outcome == "updated", record.last_error
    assert (stack.customer(customer) or {})["LAST_NAME"] == "Hopper"


def test_a_ticket_by_a_visitor_needs_a_contact(stack: Stack) -> None:
    site = stack.new_site()
    ticket_id, visitor_id = next(_ticket_ids), str(uuid.uuid4())
    # A visitor's number is unconfirmed, so the engine learns the kind from the ticket itself.
    stack.comm100.put(
        f"/_sandbox/tickets/{ticket_id}",
        json={"contactOrVisitorId": visitor_id, "contactOrVisitorType": "visitor"},
    ).raise_for_status()
    body = ticket_created_trigger(ticket_id, visitor_id, "visitor")
    record = stack.accept(site.ticketing_url, body)
    assert record.outcome == "needs_contact", record.last_error


def test_a_ticket_whose_customer_is_unknown_is_no_match_under_never(stack: Stack) -> None:
    site = stack.new_site()
    contact = a_contact(stack, f"ABSENT-{uuid.uuid4().hex[:6]}", "nobody@example.com", "X")
    record = stack.accept(
        site.ticketing_url, ticket_created_trigger(next(_ticket_ids), contact, "contact")
    )
    assert record.outcome == "no_match"


# --- duplicates and bad input -----------------------------------------------------------------


def test_the_same_delivery_twice_is_one_record_applied_once(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat(on_chat_end=policy("overwrite", "never")))
    customer = stack.seed_customer(EMAIL="")
    body = a_chat_end(customer_id=customer, email="once@example.com")
    since = time.time()
    first = stack.send(site.livechat_url, body)
    second = stack.send(site.livechat_url, body)
    assert first.json()["id"] == second.json()["id"]
    assert (first.json()["duplicate"], second.json()["duplicate"]) == (False, True)
    record = stack.settled(first.json()["id"])
    assert record.outcome == "updated"
    assert len(stack.optimove_writes(since)) == 1


def test_a_ticket_id_seen_before_is_a_duplicate(stack: Stack) -> None:
    site = stack.new_site()
    ticket = next(_ticket_ids)
    first = stack.send(
        site.ticketing_url, ticket_created_trigger(ticket, str(uuid.uuid4()), "visitor")
    )
    again = stack.send(
        site.ticketing_url,
        ticket_created_trigger(ticket, str(uuid.uuid4()), "visitor", style="camel"),
    )
    assert again.json() == {"id": first.json()["id"], "duplicate": True}


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b'{"hello": "world"}', 400, "event"),
        (b"[1, 2, 3]", 400, "Live Chat"),
    ],
)
def test_bad_bodies_are_refused_with_the_reason(
    stack: Stack, body: bytes, status: int, words: str
) -> None:
    site = stack.new_site()
    response = stack.http.post(
        site.livechat_url, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status
    assert words in response.json()["error"]["message"]


def test_a_wrong_token_is_401_and_an_unknown_site_404(stack: Stack) -> None:
    site = stack.new_site()
    wrong = site.livechat_url.split("token=")[0] + "token=nope"
    assert stack.send(wrong, a_chat_end()).status_code == 401
    unknown = site.livechat_url.replace(f"/{site.site_id}/", "/999999999/")
    assert stack.send(unknown, a_chat_end()).status_code == 404


def test_a_body_over_one_mebibyte_is_413(stack: Stack) -> None:
    site = stack.new_site()
    huge = b'{"event": "chat_ended", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = stack.http.post(
        site.livechat_url, content=huge, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_no_secret_reaches_the_service_log(stack: Stack) -> None:
    site = stack.new_site()
    stack.accept(site.livechat_url, a_chat_end())
    token = site.livechat_url.split("token=")[1]
    log = (stack.log_dir / "service.log").read_text()
    assert token not in log
    assert "sandbox-optimove-key" not in log
    assert "sandbox-comm100-key" not in log


def test_auto_create_with_no_mapped_values_creates_the_customer_with_its_id(stack: Stack) -> None:
    site = stack.new_site(livechat=livechat(on_offline_message=policy("overwrite", "auto_create")))
    customer = f"BARE-{uuid.uuid4().hex[:8]}"
    record = stack.accept(site.livechat_url, an_offline_message(customer_id=customer))
    assert record.outcome == "created"
    assert stack.customer(customer) is not None


def test_values_are_converted_by_the_type_a_customer_read_reveals(stack: Stack) -> None:
    """Optimove's attribute list has no types; the customer read does (DATE_OF_BIRTH: Date)."""
    mapping = [
        {
            "optimove_field": "DATE_OF_BIRTH",
            "comm100_field": {"source": "custom_variable", "name": "dob"},
            "show_in_console": True,
        }
    ]
    site = stack.new_site(
        livechat=livechat(field_mapping=mapping, on_chat_end=policy("overwrite", "never"))
    )
    customer = stack.seed_customer(DATE_OF_BIRTH=None)
    body = a_chat_end(customer_id=customer)
    body["visitor"]["custom_variables"].append({"name": "dob", "value": "1990-12-31T10:00:00Z"})
    record = stack.accept(site.livechat_url, body)
    assert record.outcome == "updated", record.last_error
    assert (stack.customer(customer) or {})["DATE_OF_BIRTH"] == "1990-12-31"
