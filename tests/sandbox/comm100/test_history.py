"""The Comm100 sandbox's past conversations, in-process: seeding chats and offline messages in
the v4 shape, and the v4 listings a backfill reads (time filter, paging, includes, the gate)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from optibridge.sandbox.comm100 import create_app
from optibridge.sandbox.comm100.payloads import Visitor, integer_id
from tests.support.vendor_samples import sample

from .test_app import AUTH, SITE, client_for

pytestmark = pytest.mark.anyio

VISITOR = "0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d"
CHAT_GUID = "16c2cc3a-1b15-4b4f-9298-1cd04d6cec15"
DAY = ["2026-03-01T00:00:00.000Z", "2026-03-02T00:00:00.000Z"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def sandbox() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app()) as client:
        yield client


def chat(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "guid": CHAT_GUID,
        "startTime": "2026-03-01T10:00:00Z",
        "endTime": "2026-03-01T10:12:30.5Z",
        "preChatName": "Ada",
        "preChatEmail": "ada@example.com",
        "department": "Support",
        "visitor": {
            "id": VISITOR,
            "name": "Ada",
            "email": "ada@example.com",
            "customVariables": [{"name": "customer_id", "value": "C1001"}],
        },
        "chatFieldResults": [{"name": "First Name", "value": "Ada"}],
        "customVariableResults": [{"name": "customer_id", "value": "C1001"}],
    }
    return body | changes


async def seed(client: httpx.AsyncClient, path: str, body: Any) -> dict[str, Any]:
    response = await client.put(f"/_sandbox/{path}", json=body)
    assert response.status_code == 200, response.text
    seeded: dict[str, Any] = response.json()
    return seeded


async def search(
    client: httpx.AsyncClient,
    what: str = "chats",
    *,
    period: list[str] | None = DAY,
    **params: Any,
) -> httpx.Response:
    body = (
        None
        if period is None
        else {"filters": [{"name": "time", "operator": "is", "value": period}]}
    )
    return await client.post(
        f"/v4/livechat/{what}:search", params={**SITE, **params}, auth=AUTH, json=body
    )


async def test_a_seeded_chat_is_stored_in_the_v4_shape(sandbox: httpx.AsyncClient) -> None:
    stored = await seed(sandbox, "chats/4242", chat())

    assert stored["id"] == 4242
    assert stored["guid"] == CHAT_GUID
    assert stored["visitorId"] == VISITOR
    assert (stored["startTime"], stored["endTime"]) == (
        "2026-03-01T10:00:00.000Z",
        "2026-03-01T10:12:30.500Z",
    )
    assert stored["department"]["name"] == "Support"
    [answer] = stored["chatFieldResults"]
    # The pre-chat form's field, by name: its id is the form field's.
    fields = (await sandbox.get("/_sandbox/forms")).json()["prechat_fields"]
    assert answer["fieldId"] == next(f["id"] for f in fields if f["name"] == "First Name")
    assert (await sandbox.get("/_sandbox/chats/4242")).json() == stored
    assert (await sandbox.get("/_sandbox/chats")).json() == [stored]


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"startTime": "2026-03-01T10:00:00"}, "/startTime"),  # no zone
        ({"endTime": "2026-03-01T09:00:00Z"}, ""),  # ends before it starts
        ({"visitor": {"name": "no id"}}, "/visitor/id"),
        ({"id": 7}, "/id"),
        ({"status": "snoozed"}, "/status"),
        ({"surprise": 1}, "/surprise"),
    ],
)
async def test_a_chat_that_is_not_v4_is_refused(
    sandbox: httpx.AsyncClient, changes: dict[str, Any], pointer: str
) -> None:
    response = await sandbox.put("/_sandbox/chats/4242", json=chat(**changes))

    assert response.status_code == 422, response.text
    assert pointer in [d["pointer"] for d in response.json()["error"]["details"]]


async def test_chats_are_removed_and_reset(sandbox: httpx.AsyncClient) -> None:
    await seed(sandbox, "chats/1", chat())
    await seed(sandbox, "chats/2", chat(guid=None))

    assert (await sandbox.delete("/_sandbox/chats/1")).status_code == 204
    assert (await sandbox.delete("/_sandbox/chats/1")).status_code == 404
    await sandbox.post("/_sandbox/reset")
    assert (await sandbox.get("/_sandbox/chats")).json() == []


async def test_the_search_lists_the_period_oldest_first_with_what_is_included(
    sandbox: httpx.AsyncClient,
) -> None:
    await seed(sandbox, "chats/3", chat(startTime="2026-03-01T12:00:00Z", endTime=None))
    await seed(
        sandbox, "chats/1", chat(startTime="2026-03-01T11:00:00Z", endTime="2026-03-01T11:30:00Z")
    )
    await seed(sandbox, "chats/9", chat(startTime="2026-03-02T00:00:00Z", endTime=None))  # after
    await seed(sandbox, "chats/8", chat(startTime="2026-02-28T23:59:59Z", endTime=None))  # before

    response = await search(sandbox, include=["visitor", "Department"])

    assert response.status_code == 200, response.text
    page = response.json()
    assert [c["id"] for c in page["list"]] == [1, 3]
    assert (page["total"], page["pageCount"], page["pageIndex"], page["pageSize"]) == (2, 1, 1, 50)
    first = page["list"][0]
    assert first["visitor"]["id"] == VISITOR
    assert first["department"] == {"id": first["departmentId"], "name": "Support"}
    assert "chatFieldResults" not in first  # not included
    assert page["list"][1]["endTime"] is None


async def test_the_search_pages(sandbox: httpx.AsyncClient) -> None:
    for number in range(1, 6):
        await seed(
            sandbox, f"chats/{number}", chat(startTime=f"2026-03-01T1{number}:00:00Z", endTime=None)
        )

    pages = [
        (await search(sandbox, pageIndex=index, pageSize=2, include="chatFieldResult")).json()
        for index in (1, 2, 3, 4)
    ]

    assert [[c["id"] for c in p["list"]] for p in pages] == [[1, 2], [3, 4], [5], []]
    assert {p["total"] for p in pages} == {5}
    assert pages[0]["pageCount"] == 3
    assert pages[0]["list"][0]["chatFieldResults"][0]["name"] == "First Name"
    newest = (await search(sandbox, sortOrder="desc", pageSize=1)).json()
    assert [c["id"] for c in newest["list"]] == [5]


@pytest.mark.parametrize(
    ("params", "body"),
    [
        ({"pageIndex": "0"}, None),
        ({"pageSize": "101"}, None),
        ({"pageSize": "x"}, None),
        ({"sortOrder": "sideways"}, None),
        ({}, {"filters": [{"name": "time", "operator": "is", "value": ["yesterday", "today"]}]}),
        ({}, {"filters": [{"name": "time", "operator": "is", "value": ["2026-03-01T00:00:00Z"]}]}),
        ({}, {"filters": [{"name": "time", "operator": "contains", "value": DAY}]}),
        ({}, {"filters": "time"}),
        ({}, ["time"]),
    ],
)
async def test_a_search_it_cant_read_is_a_400(
    sandbox: httpx.AsyncClient, params: dict[str, str], body: Any
) -> None:
    response = await sandbox.post(
        "/v4/livechat/chats:search", params={**SITE, **params}, auth=AUTH, json=body
    )

    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400


async def test_the_search_passes_the_gate_as_every_v4_call(sandbox: httpx.AsyncClient) -> None:
    no_key = await sandbox.post("/v4/livechat/chats:search", params=SITE)
    other_site = await sandbox.post("/v4/livechat/chats:search", params={"siteId": "99"}, auth=AUTH)
    wrong_verb = await sandbox.get("/v4/livechat/chats:search", params=SITE, auth=AUTH)

    assert (no_key.status_code, other_site.status_code, wrong_verb.status_code) == (401, 403, 405)
    logged = (await sandbox.get("/_sandbox/requests")).json()
    assert [r["path"] for r in logged][-1] == "/v4/livechat/chats:search"


async def test_offline_messages_are_seeded_and_searched(sandbox: httpx.AsyncClient) -> None:
    message = {
        "guid": "58f738e3-86e5-4ce2-92da-f65ecc0d5318",
        "createdTime": "2026-03-01T18:05:07.25Z",
        "name": "Ada",
        "email": "ada@example.com",
        "subject": "Refund",
        "message": "Where is my refund?",
        "visitor": {"id": VISITOR},
        "offlineMessageFieldResults": [{"name": "Customer ID", "value": "C1001"}],
    }
    await seed(sandbox, "offline-messages/1148", message)
    await seed(
        sandbox,
        "offline-messages/1149",
        message | {"guid": None, "createdTime": "2026-03-03T00:00:00Z"},
    )

    page = (await search(sandbox, "offlineMessages", include="offlineMessageFieldResult")).json()

    [listed] = page["list"]
    assert (listed["id"], listed["createdTime"], listed["visitorId"]) == (
        1148,
        "2026-03-01T18:05:07.250Z",
        VISITOR,
    )
    assert listed["offlineMessageFieldResults"][0]["value"] == "C1001"
    assert "visitor" not in listed
    everything = (await search(sandbox, "offlineMessages", period=None)).json()
    assert everything["total"] == 2


async def test_tickets_are_listed_by_creation_time(sandbox: httpx.AsyncClient) -> None:
    for ticket_id, created in ((7, "2026-03-01T09:00:00Z"), (8, "2026-03-05T09:00:00Z")):
        response = await sandbox.put(
            f"/_sandbox/tickets/{ticket_id}",
            json={
                "contactOrVisitorId": VISITOR,
                "contactOrVisitorType": "visitor",
                "createdTime": created,
            },
        )
        assert response.status_code == 200, response.text

    response = await sandbox.get(
        "/v4/ticketing/tickets",
        params={**SITE, "timeFrom": DAY[0], "timeTo": DAY[1]},
        auth=AUTH,
    )

    assert response.status_code == 200, response.text
    page = response.json()
    assert [t["id"] for t in page["tickets"]] == [7]
    assert page["tickets"][0]["createdTime"] == "2026-03-01T09:00:00.000Z"
    assert page["total"] == 1
    half = await sandbox.get(
        "/v4/ticketing/tickets", params={**SITE, "timeFrom": DAY[0]}, auth=AUTH
    )
    assert half.status_code == 400


async def test_the_simulators_chats_are_listed_with_the_guid_their_webhooks_carried(
    sandbox: httpx.AsyncClient,
) -> None:
    app_state = sandbox._transport.app.state.sandbox  # type: ignore[attr-defined]
    played = app_state.simulation.start_chat(
        Visitor(id=VISITOR, name="Ada", custom_variables={"customer_id": "C1"}), "hello"
    )
    played.ended_ms = played.started_ms + 60_000

    page = (await search(sandbox, period=None, include="visitor")).json()

    [listed] = page["list"]
    assert listed["guid"] == played.id
    assert listed["id"] == integer_id(played.id)
    assert listed["visitor"]["customVariables"] == [{"name": "customer_id", "value": "C1"}]
    assert listed["endTime"] is not None


async def test_the_search_answers_in_the_published_envelope(sandbox: httpx.AsyncClient) -> None:
    published = sample("comm100", "livechat_search_response")
    await seed(sandbox, "chats/1", chat())

    answered = (await search(sandbox)).json()

    assert answered.keys() == published.keys()
    request = sample("comm100", "livechat_search_request")
    accepted = await sandbox.post("/v4/livechat/chats:search", params=SITE, auth=AUTH, json=request)
    assert accepted.status_code == 200, accepted.text  # its keywords filter is ignored
