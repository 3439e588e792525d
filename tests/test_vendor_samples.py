"""The vendors' own documented samples (tests/fixtures/vendor/, each with its source URL), read by
our clients and produced by our sandboxes, so a misreading of a vendor can't hide in both.

Some published samples are cut short where they were stored (`payload_text`, not valid JSON):
their keys still say what the vendor sends, and the values they do show are checked.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from optibridge.comm100.webhooks import parse_livechat_webhook, parse_ticket_trigger
from optibridge.optimove.callbacks import parse_update_callback
from optibridge.optimove.client import OptimoveClient
from optibridge.optimove.errors import TransientError
from optibridge.optimove.schemas import CustomerUpdate, parse_attribute_list, update_attributes_body
from optibridge.sandbox.comm100 import payloads
from optibridge.sandbox.optimove import create_app as optimove_sandbox
from optibridge.vendor_http.bodies import Body
from tests.support.vendor_fakes import CountingLimiter

SAMPLES = Path(__file__).parent / "fixtures" / "vendor"
KEY = re.compile(r'"(\w+)"\s*:')


def sample(vendor: str, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SAMPLES / vendor / f"{name}.json").read_text())
    assert document["source"]
    return document


def keys_of(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from keys_of(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from keys_of(inner)


def test_every_sample_names_its_source() -> None:
    for path in SAMPLES.rglob("*.json"):
        document = json.loads(path.read_text())
        assert document["source"], path
        assert document["confidence"] in ("doc", "3p"), path
        assert ("payload" in document) != ("payload_text" in document), path


# --- Comm100 Live Chat webhooks ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["livechat_chat_started", "livechat_chat_started_v9", "livechat_chat_wrapped_up"]
)
def test_a_published_live_chat_webhook_is_read(name: str) -> None:
    body = sample("comm100", name)["payload"]
    event = parse_livechat_webhook(body)
    assert event.event == body["event"]
    visitor = body["visitor"]
    assert event.comm100_ids["visitor_id"] == str(visitor["id"]).lower()
    if visitor.get("email"):
        assert event.context.system["email"] == visitor["email"]


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("livechat_chat_started", "chat_started"),
        ("livechat_chat_ended_partial", "chat_ended"),
        ("livechat_offline_message_submitted_partial", "offline_message_submitted"),
    ],
)
def test_the_sandbox_sends_what_comm100_publishes(name: str, build: str) -> None:
    """Every key Comm100's sample shows that optibridge reads is in the sandbox's webhook."""
    document = sample("comm100", name)
    shown = set(KEY.findall(document.get("payload_text") or json.dumps(document.get("payload"))))
    built = set(keys_of(_sandbox_webhook(build)))
    read_by_us = {
        "event", "visitor", "chat", "offline_message", "id", "chat_id", "name", "email", "phone",
        "company", "department", "product_service", "custom_fields", "custom_variables",
        "custom_variable", "value", "end_time", "start_time", "time", "subject", "content",
        "ip", "city", "state", "country", "language", "referrer_url", "landing_page",
    }  # fmt: skip
    assert (shown & read_by_us) - built == set()


def _sandbox_webhook(event: str) -> dict[str, Any]:
    visitor = payloads.Visitor(
        id="e2bafca0-efe5-45a7-96ae-a7e3b8d7c410",
        name="testName",
        email="test@email.com",
        custom_variables={"Name": ""},
    )
    moment = 1580361387156  # epoch ms, as Comm100 sends it
    chat = payloads.Chat(
        id="16c2cc3a-1b15-4b4f-9298-1cd04d6cec15", start_time=moment, end_time=moment
    )
    if event == "chat_started":
        return payloads.chat_started(visitor=visitor, chat_id=chat.id)
    if event == "chat_ended":
        return payloads.chat_ended(visitor=visitor, chat=chat)
    message = payloads.OfflineMessage(id="1", time=moment, subject="s", content="c")
    return payloads.offline_message_submitted(visitor=visitor, offline_message=message)


# --- Comm100 ticket triggers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["ticket_trigger_status_changed_partial", "ticket_trigger_status_unchanged_period_partial"],
)
def test_a_published_trigger_with_requester_type_3_is_a_contact(name: str) -> None:
    text = sample("comm100", name)["payload_text"]
    shown = {key: _shown(text, key) for key in ("Id", "ContactOrVisitorType", "ContactOrVisitorId")}
    assert shown["ContactOrVisitorType"] == 3
    event = parse_ticket_trigger({"TicketInfo": shown})
    assert event.context.subject_kind == "contact"
    assert event.context.subject_id == shown["ContactOrVisitorId"]
    trigger = payloads.ticket_created_trigger(539, shown["ContactOrVisitorId"], "contact")
    assert trigger["TicketInfo"]["ContactOrVisitorType"] == 3  # the sandbox sends the same
    assert {"SiteId", "TriggerId", "TriggerName", "ChannelAccountId", "ChannelId"} <= set(trigger)
    assert {"SiteId", "TriggerId", "TriggerName", "ChannelAccountId", "ChannelId"} <= set(
        KEY.findall(text)
    )


def _shown(text: str, key: str) -> Any:
    match = re.search(rf'"{key}"\s*:\s*("[^"]*"|-?\d+)', text)
    assert match, key
    return json.loads(match.group(1))


# --- Optimove ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["update_callback_success", "update_callback_failure"])
def test_a_published_update_callback_is_read(name: str) -> None:
    body = sample("optimove", name)["payload"]
    result = parse_update_callback(json.dumps(body).encode())
    assert result.success is body["isSuccess"]
    assert result.request_id == body["requestId"]
    assert [e.error for e in result.errors] == [e["error"] for e in body.get("errors", [])]
    assert [e.customer_id for e in result.errors] == [
        e["customerId"] for e in body.get("errors", [])
    ]


def test_the_sandbox_calls_back_in_the_published_shape() -> None:
    received: list[Any] = []

    def receive(request: httpx.Request) -> httpx.Response:
        received.append(json.loads(request.content))
        return httpx.Response(200)

    transport = httpx.MockTransport(receive)
    app = optimove_sandbox(callback_transport=transport)
    auth = {"X-API-KEY": "sandbox-optimove-key"}
    with TestClient(app) as sandbox:
        sandbox.put("/_sandbox/faults", json={"callback_delay_ms": 0}).raise_for_status()
        sandbox.put("/_sandbox/customers/1289049", json={}).raise_for_status()
        body = update_attributes_body(
            [CustomerUpdate("1289049", {"NOT_AN_ATTRIBUTE": "x"})], "https://service.test/cb"
        )
        answer = sandbox.post("/Customers/UpdateCustomerAttributes", json=body, headers=auth)
        assert answer.status_code in (200, 202)
        request_id = answer.json()["requestId"]
        for _ in range(10_000):  # the callback is a task of the sandbox's own event loop
            if received:
                break
            sandbox.get("/_sandbox/requests")
    failure = sample("optimove", "update_callback_failure")["payload"]
    [callback] = received
    assert set(callback) == set(failure)
    assert set(callback["errors"][0]) == set(failure["errors"][0])
    assert callback["requestId"] == request_id


def test_the_published_update_request_is_what_we_send() -> None:
    text = sample("optimove", "update_customer_attributes_request_partial")["payload_text"]
    body = update_attributes_body([CustomerUpdate("0192837821", {"A": "1"})], None)
    assert set(KEY.findall(text)) <= set(keys_of(body))


def test_the_published_429_is_a_throttled_answer_to_the_client_and_the_sandbox() -> None:
    published = sample("optimove", "error_429")["payload"]
    client = OptimoveClient(
        "https://api4.optimove.net/current/",
        "key",
        limiter=CountingLimiter(),
        max_attempts=2,
        http=httpx.Client(
            transport=httpx.MockTransport(lambda _: httpx.Response(429, json=published))
        ),
        sleep=lambda _: None,
    )
    with pytest.raises(TransientError, match="429"):
        client.get_attribute_list()
    with TestClient(optimove_sandbox()) as sandbox:
        sandbox.put("/_sandbox/limits", json={"requests": 1}).raise_for_status()
        auth = {"X-API-KEY": "sandbox-optimove-key"}
        sandbox.get("/model/GetCustomerAttributeList", headers=auth)
        refused = sandbox.get("/model/GetCustomerAttributeList", headers=auth)
    assert refused.status_code == 429
    assert set(refused.json()) == set(published)


def test_a_third_party_attribute_list_is_read() -> None:
    """A third party's mock of the list (a Python literal): names and descriptions, no types."""
    listed = ast.literal_eval(
        sample("optimove", "get_customer_attribute_list_response")["payload_text"]
    )
    attributes = parse_attribute_list(Body("json", listed))
    assert [a.real_field_name for a in attributes] == ["Affiliate", "Age", "Country"]
    assert all(a.field_type is None for a in attributes)
    with TestClient(optimove_sandbox()) as sandbox:  # and the sandbox takes the same shape
        assert sandbox.put("/_sandbox/attributes", json=listed).status_code == 200
        shown = sandbox.get(
            "/model/GetCustomerAttributeList", headers={"X-API-KEY": "sandbox-optimove-key"}
        ).json()
    assert shown == listed
