"""The client's Live Chat webhook calls (`livechat/webhooks`) over httpx.MockTransport: what it
sends, how it reads Comm100's answers (the published samples and their variants), its errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from optibridge.comm100.errors import (
    BadCredentialsError,
    InvalidRequestError,
    MissingPermissionError,
    NotComm100ApiError,
    NotFoundError,
    TransientError,
)
from optibridge.comm100.webhook_registrations import LiveChatWebhook, webhook_event
from tests.support.vendor_samples import sample

from .fakes import answer, answers, harness

SAMPLE_ID = "69FAB2B6-1189-4B96-BD06-1CBDADBC1164"
TOKEN = "s3cret-webhook-token-0123"
OUR_URL = f"https://bridge.example.com/webhooks/comm100/10000/livechat?token={TOKEN}"


def test_the_published_list_is_read() -> None:
    h = harness(answer(200, sample("comm100", "livechat_webhooks_list_response")))

    found = h.client.livechat_webhooks()

    assert found == [LiveChatWebhook(SAMPLE_ID, "chatStarts", "http://www.google.com")]
    [request] = h.requests
    assert request.method == "GET"
    assert request.url.path == "/v4/livechat/webhooks"
    assert request.url.params["siteId"] == "10000"


@pytest.mark.parametrize(
    "body",
    [
        [{"ID": 7, "Event": "ChatEnds", "TargetURL": " https://a.example/x "}],
        [{"id": "7", "event": "chat_ended", "target_url": "https://a.example/x"}],
        {"webhooks": [{"id": 7, "event": "chatEnded", "targetUrl": "https://a.example/x"}]},
        {"data": [{"webhookId": 7, "event": "CHATENDS", "url": "https://a.example/x"}]},
    ],
)
def test_casing_and_wrapping_variants_are_read_alike(body: Any) -> None:
    found = harness(answer(200, body)).client.livechat_webhooks()

    assert found == [LiveChatWebhook("7", "chatEnds", "https://a.example/x")]


def test_an_unknown_event_is_kept_as_sent_and_a_missing_target_is_none() -> None:
    body = [{"id": "g", "event": "chatIsSnoozed"}]

    assert harness(answer(200, body)).client.livechat_webhooks() == [
        LiveChatWebhook("g", "chatIsSnoozed", None)
    ]


@pytest.mark.parametrize(
    "body", [{"id": 1}, [{"id": 1, "event": None}], "nope", [1, 2], [{"id": [1], "event": "x"}]]
)
def test_a_strange_list_is_not_a_comm100_api(body: Any) -> None:
    with pytest.raises(NotComm100ApiError, match="GET livechat/webhooks"):
        harness(answer(200, body)).client.livechat_webhooks()


def test_create_sends_the_documented_body_once_and_reads_the_webhook() -> None:
    created = {"id": SAMPLE_ID, "event": "chatEnds", "targetUrl": OUR_URL}
    h = harness(answer(201, created))

    webhook = h.client.create_livechat_webhook("chatEnds", OUR_URL)

    assert webhook == LiveChatWebhook(SAMPLE_ID, "chatEnds", OUR_URL)
    [request] = h.requests
    assert request.method == "POST"
    assert request.url.path == "/v4/livechat/webhooks"
    assert json.loads(request.content) == {"event": "chatEnds", "targetUrl": OUR_URL}
    published = sample("comm100", "livechat_webhook_create_request")
    assert set(json.loads(request.content)) == set(published)


@pytest.mark.parametrize(
    ("body", "expected_id"),
    [(None, None), ({"Id": 42}, "42"), (b'"abc-def"', "abc-def"), ({"webhook": {"id": "w"}}, "w")],
)
def test_a_create_answered_with_less_is_completed_with_what_was_sent(
    body: Any, expected_id: str | None
) -> None:
    webhook = harness(answer(201, body)).client.create_livechat_webhook("chatEnds", OUR_URL)

    assert webhook == LiveChatWebhook(expected_id, "chatEnds", OUR_URL)


def test_an_event_spelled_otherwise_is_sent_as_the_api_spells_it() -> None:
    h = harness(answer(201, {"id": "1"}))

    h.client.create_livechat_webhook("offline_message_submitted", OUR_URL)

    assert json.loads(h.requests[0].content)["event"] == "offlineMessageIsSubmitted"


def test_an_unknown_event_or_a_target_that_is_no_web_address_is_never_sent() -> None:
    h = harness(answer(201, {}))
    with pytest.raises(ValueError, match="not a Live Chat webhook event"):
        h.client.create_livechat_webhook("ticketCreated", OUR_URL)
    with pytest.raises(InvalidRequestError, match="http or https") as caught:
        h.client.create_livechat_webhook("chatEnds", f"ftp://x/?token={TOKEN}")
    assert TOKEN not in caught.value.message
    assert h.requests == []


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(503), httpx.Response(500), httpx.ReadTimeout("slow")],
)
def test_a_create_that_may_have_reached_comm100_is_not_sent_again(
    failure: httpx.Response | Exception,
) -> None:
    h = harness(answers(failure, httpx.Response(201, json={"id": "2"})))

    with pytest.raises(TransientError, match="after 1 attempt"):
        h.client.create_livechat_webhook("chatEnds", OUR_URL)
    assert len(h.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(429), httpx.ConnectError("[Errno 111] Connection refused")],
)
def test_a_create_comm100_surely_did_not_act_on_is_sent_again(
    failure: httpx.Response | Exception,
) -> None:
    h = harness(answers(failure, httpx.Response(201, json={"id": "2"})))

    assert h.client.create_livechat_webhook("chatEnds", OUR_URL).id == "2"
    assert len(h.requests) == 2


def test_listing_and_removing_are_retried_as_every_safe_call_is() -> None:
    h = harness(answers(httpx.Response(503), httpx.Response(200, json=[])))

    assert h.client.livechat_webhooks() == []
    assert len(h.requests) == 2


def test_update_puts_the_body_at_the_id_as_comm100_wrote_it() -> None:
    h = harness(answer(200, {"id": SAMPLE_ID, "event": "chatEnds", "targetUrl": OUR_URL}))

    webhook = h.client.update_livechat_webhook(SAMPLE_ID, "chatEnds", OUR_URL)

    assert webhook == LiveChatWebhook(SAMPLE_ID, "chatEnds", OUR_URL)
    [request] = h.requests
    assert request.method == "PUT"
    assert request.url.path == f"/v4/livechat/webhooks/{SAMPLE_ID}"
    assert json.loads(request.content) == {"event": "chatEnds", "targetUrl": OUR_URL}


def test_an_update_of_a_webhook_that_is_gone_is_not_found() -> None:
    h = harness(answer(404, {"code": 404, "message": "Webhook not found."}))

    with pytest.raises(NotFoundError, match="no webhook"):
        h.client.update_livechat_webhook("gone", "chatEnds", OUR_URL)


@pytest.mark.parametrize(("status", "removed"), [(204, True), (200, True), (404, False)])
def test_delete_says_whether_there_was_a_webhook_to_remove(status: int, removed: bool) -> None:
    h = harness(answer(status))

    assert h.client.delete_livechat_webhook("a/b") is removed
    [request] = h.requests
    assert request.method == "DELETE"
    assert request.url.raw_path.startswith(b"/v4/livechat/webhooks/a%2Fb?")


def test_a_404_page_on_delete_is_not_a_comm100_api() -> None:
    h = harness(answer(404, b"<html><title>Not Found</title></html>"))

    with pytest.raises(NotComm100ApiError):
        h.client.delete_livechat_webhook("x")


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.livechat_webhooks(),
        lambda c: c.create_livechat_webhook("chatEnds", OUR_URL),
        lambda c: c.update_livechat_webhook("1", "chatEnds", OUR_URL),
        lambda c: c.delete_livechat_webhook("1"),
    ],
)
def test_a_403_says_the_agent_lacks_manage_integration(call: Any) -> None:
    h = harness(answer(403, {"code": 403, "message": "No permission."}))

    with pytest.raises(MissingPermissionError) as caught:
        call(h.client)

    error = caught.value
    assert isinstance(error, BadCredentialsError)
    assert "Manage Integration permission" in error.message
    assert "No permission" in error.message
    assert error.code == "comm100_missing_permission"
    assert error.status == 403
    assert len(h.requests) == 1


def test_a_401_is_still_refused_credentials() -> None:
    h = harness(answer(401, {"message": "Invalid API key"}))

    with pytest.raises(BadCredentialsError) as caught:
        h.client.livechat_webhooks()
    assert not isinstance(caught.value, MissingPermissionError)


@pytest.mark.parametrize("status", [400, 403, 422])
def test_the_target_url_and_its_token_are_redacted_from_what_comm100_says(status: int) -> None:
    said = f"targetUrl {OUR_URL} is invalid (token {TOKEN})"
    h = harness(answer(status, {"message": said}))

    with pytest.raises((InvalidRequestError, MissingPermissionError)) as caught:
        h.client.create_livechat_webhook("chatEnds", OUR_URL)

    assert TOKEN not in caught.value.message
    assert "[webhook URL]" in caught.value.message
    assert "token [secret]" in caught.value.message


@pytest.mark.parametrize(
    ("spelled", "known"),
    [
        ("chatEnds", "chatEnds"),
        ("CHAT_ENDS", "chatEnds"),
        ("offline-message-submitted", "offlineMessageIsSubmitted"),
        ("agentStatusChanged", "agentStatusChanges"),
        ("somethingNew", "somethingNew"),
        ("  ", None),
        (None, None),
    ],
)
def test_event_spellings(spelled: Any, known: str | None) -> None:
    assert webhook_event(spelled) == known
