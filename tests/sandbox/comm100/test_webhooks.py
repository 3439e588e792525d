"""The Comm100 sandbox's `livechat/webhooks` (in-process): the published samples' shapes, the
documented events, ids, 404s, one list per site, the Manage Integration permission, and the
control surface that seeds and reads them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from optibridge.sandbox.comm100 import create_app
from tests.sandbox.comm100.test_app import AUTH, KEY, api, client_for
from tests.support.vendor_samples import sample

pytestmark = pytest.mark.anyio

DOCUMENTED_EVENTS = (
    "chatStarts",
    "chatEnds",
    "chatIsWrappedUp",
    "offlineMessageIsSubmitted",
    "chatIsRequested",
    "chatIsTransferred",
    "agentStatusChanges",
)
UPPER_GUID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
WEBHOOKS = "/v4/livechat/webhooks"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def sandbox() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app()) as client:
        yield client


async def seed(client: httpx.AsyncClient, *webhooks: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.put("/_sandbox/webhooks", json=list(webhooks))
    assert response.status_code == 200, response.text
    seeded: list[dict[str, Any]] = response.json()
    return seeded


async def create(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await api(client, WEBHOOKS, method="POST", json_body=body)


# --- the published samples --------------------------------------------------------------------


async def test_the_list_and_one_webhook_answer_the_published_samples(
    sandbox: httpx.AsyncClient,
) -> None:
    [published] = sample("comm100", "livechat_webhooks_list_response")
    await seed(sandbox, {"siteId": 10000, **published})

    listed = await api(sandbox, WEBHOOKS)
    one = await api(sandbox, f"{WEBHOOKS}/{published['id']}")

    assert listed.status_code == 200
    assert listed.json() == sample("comm100", "livechat_webhooks_list_response")
    assert one.status_code == 200
    assert one.json() == sample("comm100", "livechat_webhook_get_response")


async def test_the_published_create_request_is_answered_201_with_the_webhook(
    sandbox: httpx.AsyncClient,
) -> None:
    request = sample("comm100", "livechat_webhook_create_request")

    created = await create(sandbox, request)

    assert created.status_code == 201
    body = created.json()
    assert set(body) == set(sample("comm100", "livechat_webhook_get_response"))
    assert UPPER_GUID.match(body["id"])
    assert {k: body[k] for k in request} == request
    assert (await api(sandbox, WEBHOOKS)).json() == [body]
    assert (await api(sandbox, f"{WEBHOOKS}/{body['id']}")).json() == body


async def test_every_documented_event_is_accepted_and_an_event_may_have_several(
    sandbox: httpx.AsyncClient,
) -> None:
    for event in (*DOCUMENTED_EVENTS, "chatEnds"):
        response = await create(sandbox, {"event": event, "targetUrl": "https://a.example/"})
        assert response.status_code == 201, (event, response.text)

    listed = (await api(sandbox, WEBHOOKS)).json()
    assert [w["event"] for w in listed] == [*DOCUMENTED_EVENTS, "chatEnds"]
    assert len({w["id"] for w in listed}) == len(listed)


@pytest.mark.parametrize(
    "body",
    [
        {"event": "chatEnded", "targetUrl": "https://a.example/"},
        {"event": "ChatEnds", "targetUrl": "https://a.example/"},
        {"event": "chat_ends", "targetUrl": "https://a.example/"},
        {"targetUrl": "https://a.example/"},
        {"event": "chatEnds"},
        {"event": "chatEnds", "targetUrl": "ftp://a.example/"},
        {"event": "chatEnds", "targetUrl": "/relative"},
        {"event": "chatEnds", "targetUrl": "https://a.example/ x"},
        {"event": "chatEnds", "targetUrl": "https://a.example/" + "x" * 2048},
        {"event": "chatEnds", "targetUrl": 7},
        {"event": ["chatEnds"], "targetUrl": "https://a.example/"},
        [{"event": "chatEnds", "targetUrl": "https://a.example/"}],
        "chatEnds",
    ],
)
async def test_an_invalid_webhook_is_a_400_and_nothing_is_stored(
    sandbox: httpx.AsyncClient, body: Any
) -> None:
    response = await create(sandbox, body)

    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400
    assert response.json()["message"]
    assert (await api(sandbox, WEBHOOKS)).json() == []


async def test_a_body_that_is_not_json_is_a_400(sandbox: httpx.AsyncClient) -> None:
    response = await sandbox.post(
        WEBHOOKS,
        params={"siteId": "10000"},
        auth=AUTH,
        content=b"{event",
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400


async def test_other_keys_of_a_create_are_ignored(sandbox: httpx.AsyncClient) -> None:
    body = {"id": "mine", "event": "chatEnds", "targetUrl": "https://a.example/", "x": 1}

    created = (await create(sandbox, body)).json()

    assert created["id"] != "mine"
    assert set(created) == {"id", "event", "targetUrl"}


# --- change, remove, unknown ids --------------------------------------------------------------


async def test_a_webhook_is_changed_in_place_by_its_id_in_any_case(
    sandbox: httpx.AsyncClient,
) -> None:
    created = (
        await create(sandbox, {"event": "chatEnds", "targetUrl": "https://a.example/"})
    ).json()
    path = f"{WEBHOOKS}/{created['id'].lower()}"

    moved = await api(sandbox, path, method="PUT", json_body={"targetUrl": "https://b.example/"})
    both = await api(
        sandbox,
        path,
        method="PUT",
        json_body={"event": "offlineMessageIsSubmitted", "targetUrl": "https://c.example/"},
    )

    assert moved.status_code == 200
    assert moved.json() == {**created, "targetUrl": "https://b.example/"}
    assert both.json() == {
        "id": created["id"],
        "event": "offlineMessageIsSubmitted",
        "targetUrl": "https://c.example/",
    }
    assert (await api(sandbox, WEBHOOKS)).json() == [both.json()]


async def test_a_change_is_validated_like_a_create(sandbox: httpx.AsyncClient) -> None:
    created = (
        await create(sandbox, {"event": "chatEnds", "targetUrl": "https://a.example/"})
    ).json()
    path = f"{WEBHOOKS}/{created['id']}"

    for body in ({"event": "chatEnded"}, {"targetUrl": "mailto:a@b"}, [1]):
        response = await api(sandbox, path, method="PUT", json_body=body)
        assert response.status_code == 400, body

    assert (await api(sandbox, path)).json() == created


async def test_a_webhook_is_removed_once(sandbox: httpx.AsyncClient) -> None:
    created = (
        await create(sandbox, {"event": "chatEnds", "targetUrl": "https://a.example/"})
    ).json()
    path = f"{WEBHOOKS}/{created['id']}"

    first = await api(sandbox, path, method="DELETE")
    second = await api(sandbox, path, method="DELETE")

    assert first.status_code == 204
    assert first.content == b""
    assert second.status_code == 404
    assert (await api(sandbox, WEBHOOKS)).json() == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("webhook_id", ["69FAB2B6-1189-4B96-BD06-1CBDADBC1164", "not-a-guid"])
async def test_an_unknown_id_is_a_404(
    sandbox: httpx.AsyncClient, method: str, webhook_id: str
) -> None:
    body = {"targetUrl": "https://a.example/"} if method == "PUT" else None

    response = await api(sandbox, f"{WEBHOOKS}/{webhook_id}", method=method, json_body=body)

    assert response.status_code == 404
    assert response.json() == {"code": 404, "message": f"Webhook '{webhook_id}' not found."}


async def test_a_wrong_verb_is_a_405_naming_the_allowed_ones(sandbox: httpx.AsyncClient) -> None:
    listed = await api(sandbox, WEBHOOKS, method="DELETE")
    one = await api(sandbox, f"{WEBHOOKS}/x", method="POST", json_body={})

    assert listed.status_code == 405
    assert listed.headers["allow"] == "GET, POST"
    assert one.headers["allow"] == "DELETE, GET, PUT"


# --- sites, credentials, permission -----------------------------------------------------------


async def test_each_site_has_its_own_webhooks(sandbox: httpx.AsyncClient) -> None:
    await sandbox.put("/_sandbox/sites", json=[10000, 10001])
    created = (
        await create(sandbox, {"event": "chatEnds", "targetUrl": "https://a.example/"})
    ).json()
    other = {"siteId": "10001"}

    assert (await sandbox.get(WEBHOOKS, params=other, auth=AUTH)).json() == []
    gone = await sandbox.delete(f"{WEBHOOKS}/{created['id']}", params=other, auth=AUTH)
    assert gone.status_code == 404
    assert (await api(sandbox, WEBHOOKS)).json() == [created]


async def test_the_gate_comes_first(sandbox: httpx.AsyncClient) -> None:
    unauthenticated = await sandbox.get(WEBHOOKS, params={"siteId": "10000"})
    wrong_key = await sandbox.get(WEBHOOKS, params={"siteId": "10000"}, auth=("a@b.c", "x"))
    other_site = await sandbox.get(WEBHOOKS, params={"siteId": "999"}, auth=AUTH)

    assert unauthenticated.status_code == 401
    assert wrong_key.status_code == 401
    assert KEY not in wrong_key.text
    assert other_site.status_code == 403


async def test_without_manage_integration_every_webhook_call_is_a_403(
    sandbox: httpx.AsyncClient,
) -> None:
    [seeded] = await seed(
        sandbox, {"siteId": 10000, "event": "chatEnds", "targetUrl": "https://a.example/"}
    )
    await sandbox.put("/_sandbox/behaviour", json={"manage_integration": False})
    one = f"{WEBHOOKS}/{seeded['id']}"
    calls = [
        ("GET", WEBHOOKS, None),
        ("POST", WEBHOOKS, {"event": "chatEnds", "targetUrl": "https://b.example/"}),
        ("GET", one, None),
        ("PUT", one, {"targetUrl": "https://b.example/"}),
        ("DELETE", one, None),
    ]

    for method, path, body in calls:
        response = await api(sandbox, path, method=method, json_body=body)
        assert response.status_code == 403, (method, path)
        assert "Manage Integration" in response.json()["message"]
    assert (await api(sandbox, "/v4/contact/fields")).status_code == 200
    assert [w["targetUrl"] for w in (await sandbox.get("/_sandbox/webhooks")).json()] == [
        "https://a.example/"
    ]


# --- the control surface ----------------------------------------------------------------------


async def test_the_control_surface_seeds_and_reads_every_sites_webhooks(
    sandbox: httpx.AsyncClient,
) -> None:
    seeded = await seed(
        sandbox,
        {"siteId": 10001, "id": "given-id", "event": "chatStarts", "targetUrl": "odd target"},
        {"siteId": 10000, "event": "chatEnds", "targetUrl": "https://a.example/"},
    )
    created = (
        await create(sandbox, {"event": "chatEnds", "targetUrl": "https://b.example/"})
    ).json()

    read = (await sandbox.get("/_sandbox/webhooks")).json()

    assert [(w["siteId"], w["event"]) for w in seeded] == [
        (10000, "chatEnds"),
        (10001, "chatStarts"),
    ]
    assert seeded[1]["id"] == "given-id"
    assert UPPER_GUID.match(seeded[0]["id"])
    assert read == [*seeded[:1], {"siteId": 10000, **created}, seeded[1]]
    assert (await sandbox.put("/_sandbox/webhooks", json=[])).json() == []
    assert (await api(sandbox, WEBHOOKS)).json() == []


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ([{"siteId": 10000, "event": "chatEnded", "targetUrl": "x"}], "/0/event"),
        ([{"event": "chatEnds", "targetUrl": "x"}], "/0/siteId"),
        ([{"siteId": 0, "event": "chatEnds", "targetUrl": "x"}], "/0/siteId"),
        ([{"siteId": 10000, "event": "chatEnds"}], "/0/targetUrl"),
        (
            [
                {"siteId": 10000, "id": "a", "event": "chatEnds", "targetUrl": "x"},
                {"siteId": 10000, "id": "A", "event": "chatStarts", "targetUrl": "y"},
            ],
            "/1/id",
        ),
    ],
)
async def test_seeding_refuses_what_comm100_could_not_hold(
    sandbox: httpx.AsyncClient, body: Any, pointer: str
) -> None:
    response = await sandbox.put("/_sandbox/webhooks", json=body)

    assert response.status_code == 422, response.text
    assert pointer in [d["pointer"] for d in response.json()["error"]["details"]]
    assert (await sandbox.get("/_sandbox/webhooks")).json() == []


async def test_webhook_calls_are_in_the_request_log(sandbox: httpx.AsyncClient) -> None:
    await create(sandbox, {"event": "chatEnds", "targetUrl": "https://a.example/"})

    [entry] = (await sandbox.get("/_sandbox/requests")).json()

    assert (entry["method"], entry["path"], entry["status"]) == ("POST", WEBHOOKS, 201)
    assert entry["body"] == {"event": "chatEnds", "targetUrl": "https://a.example/"}
