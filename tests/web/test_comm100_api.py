"""The Comm100 connection in the administration API: the connection test and the field lists,
against the Comm100 sandbox in its own process."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import structlog

from tests.comm100.conftest import SANDBOX_KEY, start_sandbox
from tests.comm100.conftest import Sandbox as Comm100Sandbox
from tests.web.conftest import Service

SITE = 10000


@pytest.fixture(scope="module")
def comm100_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Comm100Sandbox]:
    yield from start_sandbox(tmp_path_factory.mktemp("comm100") / "sandbox.log")


@pytest.fixture
def comm100(comm100_process: Comm100Sandbox) -> Comm100Sandbox:
    comm100_process.control("POST", "reset")
    return comm100_process


@pytest.fixture
def site(service: Service) -> Service:
    created = service.client.post(
        "/api/v1/sites", json={"site_id": SITE, "name": "Acme"}, headers=service.admin()
    )
    assert created.status_code == 201, created.text
    return service


def connect(service: Service, comm100: Comm100Sandbox, api_key: str = SANDBOX_KEY) -> None:
    response = service.client.put(
        f"/api/v1/sites/{SITE}/settings",
        json={
            "comm100": {
                "api_base_url": comm100.api_base_url,
                "agent_email": "agent@example.com",
                "api_key": api_key,
            }
        },
        headers=service.admin(),
    )
    assert response.status_code == 200, response.text


def check(service: Service, body: dict[str, Any] | None = None) -> httpx.Response:
    response: httpx.Response = service.client.post(
        f"/api/v1/sites/{SITE}/comm100/test", json=body, headers=service.admin()
    )
    return response


def test_the_saved_connection_is_tested_with_a_real_call(
    site: Service, comm100: Comm100Sandbox
) -> None:
    connect(site, comm100)
    response = check(site)
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is True
    assert response.json()["contact_fields"] > 0
    assert any(r["path"].endswith("contact/fields") for r in comm100.requests())


def test_typed_values_are_tested_before_saving_and_a_masked_key_means_the_stored_one(
    site: Service, comm100: Comm100Sandbox
) -> None:
    connect(site, comm100)
    response = check(site, {"agent_email": "someone@example.com", "api_key": "****-key"})
    assert response.status_code == 200, response.text


def test_a_wrong_key_is_a_502_in_plain_words(site: Service, comm100: Comm100Sandbox) -> None:
    connect(site, comm100)
    response = check(site, {"api_key": "wrong-key"})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "comm100_bad_credentials"
    assert "Comm100 refused the agent e-mail and API key" in error["message"]
    assert "wrong-key" not in response.text


def test_an_unconnected_site_names_what_is_missing(site: Service) -> None:
    response = check(site)
    assert response.status_code == 422
    pointers = {d["pointer"] for d in response.json()["error"]["details"]}
    assert pointers == {"/comm100/api_base_url", "/comm100/agent_email", "/comm100/api_key"}


def test_typed_values_are_checked_like_settings(site: Service) -> None:
    response = check(
        site,
        {"api_base_url": "ftp://example.com", "agent_email": "nobody", "api_key": "k"},
    )
    assert response.status_code == 422
    pointers = {d["pointer"] for d in response.json()["error"]["details"]}
    assert pointers == {"/comm100/api_base_url", "/comm100/agent_email"}


def test_the_field_lists_are_grouped_as_in_comm100(site: Service, comm100: Comm100Sandbox) -> None:
    connect(site, comm100)
    response = site.client.get(f"/api/v1/sites/{SITE}/comm100/fields", headers=site.admin())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["read_from_comm100"] is True
    assert body["problem"] is None
    livechat = {group["label"]: group["choices"] for group in body["livechat"]}
    prechat = {(c["source"], c["name"]): c["label"] for c in livechat["Pre-chat window fields"]}
    assert prechat[("system", "email")] == "Email"
    assert prechat[("prechat", "First Name")] == "First Name"
    ticketing = [group["label"] for group in body["ticketing"]]
    assert ticketing == ["Contact fields", "Contact identities"]


def test_the_field_lists_are_reused_until_refreshed(site: Service, comm100: Comm100Sandbox) -> None:
    connect(site, comm100)
    path = f"/api/v1/sites/{SITE}/comm100/fields"
    site.client.get(path, headers=site.admin())
    comm100.control(
        "PUT",
        "forms",
        {"custom_variables": [{"name": "loyalty_tier", "type": "text", "value": ""}]},
    )

    def variables(response: httpx.Response) -> set[str]:
        groups = {g["label"]: g["choices"] for g in response.json()["livechat"]}
        return {c["name"] for c in groups["Custom variables"]}

    assert "loyalty_tier" not in variables(site.client.get(path, headers=site.admin()))
    refreshed = site.client.get(path, params={"refresh": "true"}, headers=site.admin())
    assert "loyalty_tier" in variables(refreshed)


def test_without_comm100_the_fixed_lists_come_with_the_reason(
    site: Service, comm100: Comm100Sandbox
) -> None:
    connect(site, comm100, api_key="wrong-key")
    response = site.client.get(f"/api/v1/sites/{SITE}/comm100/fields", headers=site.admin())
    body = response.json()
    assert body["read_from_comm100"] is False
    assert "Comm100 refused" in body["problem"]
    assert [group["label"] for group in body["livechat"]] == [
        "System fields",
        "Offline message window fields",
    ]
    assert [group["label"] for group in body["ticketing"]] == ["Contact identities"]


# --- the Live Chat webhooks registered in Comm100 ----------------------------------------------

WEBHOOKS = f"/api/v1/sites/{SITE}/comm100/webhooks"


def webhook_token(service: Service) -> str:
    urls = service.client.get(f"/api/v1/sites/{SITE}/webhooks", headers=service.admin()).json()
    token: str = httpx.URL(urls["livechat"]).params["token"]
    return token


def test_the_webhooks_state_is_read_per_needed_event(
    site: Service, comm100: Comm100Sandbox
) -> None:
    connect(site, comm100)
    comm100.control(
        "PUT",
        "webhooks",
        [{"siteId": SITE, "event": "chatEnds", "targetUrl": "https://crm.example/in?k=secret1"}],
    )

    response = site.client.get(WEBHOOKS, headers=site.admin())

    assert response.status_code == 200, response.text
    body = response.json()
    assert [(e["event"], e["name"], e["state"]) for e in body["livechat"]] == [
        ("chatEnds", "Chat Ended", "elsewhere"),
        ("offlineMessageIsSubmitted", "Offline Message Submitted", "missing"),
    ]
    assert body["livechat"][0]["elsewhere"] == ["https://crm.example"]
    assert body["livechat"][1]["elsewhere"] == []
    assert body["ticket_trigger"]["state"] == "manual"
    assert body["ticket_trigger"]["event"] == "whenTicketIsCreated"
    assert "When a ticket is created" in body["ticket_trigger"]["message"]
    steps = body["ticket_trigger"]["steps"]
    assert len(steps) == 4
    assert "When a ticket is created" in steps[1]
    assert f"GET /api/v1/sites/{SITE}/webhooks" in steps[2]
    assert body["changed"] == []
    assert body["warning"] is None
    assert "secret1" not in response.text
    assert webhook_token(site) not in response.text


def test_posting_registers_the_missing_webhooks_idempotently(
    site: Service, comm100: Comm100Sandbox
) -> None:
    connect(site, comm100)
    token = webhook_token(site)

    first = site.client.post(WEBHOOKS, headers=site.admin())
    again = site.client.post(WEBHOOKS, json={"replace_elsewhere": False}, headers=site.admin())

    assert first.status_code == 200, first.text
    assert [e["state"] for e in first.json()["livechat"]] == ["registered", "registered"]
    assert first.json()["changed"] == [
        "Chat Ended: registered.",
        "Offline Message Submitted: registered.",
    ]
    assert again.json()["changed"] == []
    expected = f"https://bridge.example.com/webhooks/comm100/{SITE}/livechat?token={token}"
    assert [(w["event"], w["targetUrl"]) for w in comm100.control("GET", "webhooks")] == [
        ("chatEnds", expected),
        ("offlineMessageIsSubmitted", expected),
    ]
    assert token not in first.text + again.text


def test_replacing_what_points_elsewhere_is_asked_for_explicitly(
    site: Service, comm100: Comm100Sandbox
) -> None:
    connect(site, comm100)
    comm100.control(
        "PUT",
        "webhooks",
        [{"siteId": SITE, "event": "chatEnds", "targetUrl": "https://crm.example/in"}],
    )

    kept = site.client.post(WEBHOOKS, headers=site.admin())
    replaced = site.client.post(WEBHOOKS, json={"replace_elsewhere": True}, headers=site.admin())

    assert "left in place" in kept.json()["livechat"][0]["message"]
    assert replaced.json()["changed"] == ["Chat Ended: removed the webhook to https://crm.example."]
    targets = {w["targetUrl"] for w in comm100.control("GET", "webhooks")}
    assert "https://crm.example/in" not in targets


@pytest.mark.parametrize(
    ("body", "status"),
    [({"replace_elsewhere": "yes"}, 422), ({"replace": True}, 422), (b"{", 400)],
)
def test_a_bad_body_is_refused(
    site: Service, comm100: Comm100Sandbox, body: Any, status: int
) -> None:
    connect(site, comm100)
    if isinstance(body, bytes):
        response = site.client.post(
            WEBHOOKS,
            content=body,
            headers={**site.admin(), "Content-Type": "application/json"},
        )
    else:
        response = site.client.post(WEBHOOKS, json=body, headers=site.admin())
    assert response.status_code == status, response.text
    assert comm100.control("GET", "webhooks") == []


def test_the_webhooks_need_a_connection_a_site_and_an_admin(
    site: Service, comm100: Comm100Sandbox
) -> None:
    assert site.client.get(WEBHOOKS, headers=site.admin()).status_code == 422
    assert site.client.post(WEBHOOKS, headers=site.admin()).status_code == 422
    other = "/api/v1/sites/77/comm100/webhooks"
    assert site.client.get(other, headers=site.admin()).status_code == 404
    assert site.client.get(WEBHOOKS).status_code == 401
    issued = site.client.post(
        f"/api/v1/sites/{SITE}/tokens", json={"role": "agent"}, headers=site.admin()
    ).json()["token"]
    agent = {"Authorization": f"Bearer {issued}"}
    assert site.client.get(WEBHOOKS, headers=agent).status_code == 403
    assert site.client.post(WEBHOOKS, headers=agent).status_code == 403


def test_an_agent_without_manage_integration_is_told_so_in_a_403(
    site: Service, comm100: Comm100Sandbox
) -> None:
    connect(site, comm100)
    comm100.control("PUT", "behaviour", {"manage_integration": False})
    token = webhook_token(site)

    for response in (
        site.client.get(WEBHOOKS, headers=site.admin()),
        site.client.post(WEBHOOKS, headers=site.admin()),
    ):
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "comm100_missing_permission"
        assert "lacks the Manage Integration permission" in error["message"]
        assert error["details"] == []
        assert token not in response.text
    assert comm100.control("GET", "webhooks") == []


def test_an_unconnected_site_is_a_422_naming_each_missing_setting(site: Service) -> None:
    for response in (
        site.client.get(WEBHOOKS, headers=site.admin()),
        site.client.post(WEBHOOKS, json={"replace_elsewhere": True}, headers=site.admin()),
    ):
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "invalid"
        assert error["message"] == "Comm100 is not connected yet."
        assert {d["pointer"] for d in error["details"]} == {
            "/comm100/api_base_url",
            "/comm100/agent_email",
            "/comm100/api_key",
        }


def test_a_failing_comm100_is_a_502(site: Service, comm100: Comm100Sandbox) -> None:
    connect(site, comm100)
    comm100.control("PUT", "faults", {"error_rate": 1.0})

    response = site.client.get(WEBHOOKS, headers=site.admin())

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "comm100_unavailable"


def test_deleting_the_site_removes_its_webhooks_even_when_comm100_fails(
    site: Service, comm100: Comm100Sandbox
) -> None:
    connect(site, comm100)
    assert site.client.post(WEBHOOKS, headers=site.admin()).status_code == 200

    deleted = site.client.delete(f"/api/v1/sites/{SITE}", headers=site.admin())

    assert deleted.status_code == 204
    assert comm100.control("GET", "webhooks") == []
    created = site.client.post(
        "/api/v1/sites", json={"site_id": SITE, "name": "Again"}, headers=site.admin()
    )
    assert created.status_code == 201
    connect(site, comm100)
    assert site.client.post(WEBHOOKS, headers=site.admin()).status_code == 200
    comm100.control("PUT", "faults", {"error_rate": 1.0})
    assert site.client.delete(f"/api/v1/sites/{SITE}", headers=site.admin()).status_code == 204
    assert site.client.get(f"/api/v1/sites/{SITE}", headers=site.admin()).status_code == 404


def test_what_comm100_says_back_never_shows_the_webhook_url_nor_its_token(
    site: Service, comm100: Comm100Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """A Comm100 that quotes the target URL it refused: the answer names it by label only, and
    nothing logged carries it."""
    connect(site, comm100)
    token = webhook_token(site)

    def refusing(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=[])
        sent = json.loads(request.content)
        said = f"targetUrl '{sent['targetUrl']}' is not allowed: {quote(sent['targetUrl'])}"
        return httpx.Response(400, json={"code": 400, "message": said})

    site.runtime.http.close()
    site.runtime.http = httpx.Client(transport=httpx.MockTransport(refusing))
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logs:
        response = site.client.post(WEBHOOKS, headers=site.admin())

    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "comm100_invalid_request"
    assert "[webhook URL]" in error["message"]
    assert token not in response.text
    assert quote(token, safe="") not in response.text
    assert token not in repr(logs) + caplog.text


def test_the_openapi_document_describes_the_webhook_routes(service: Service) -> None:
    document = service.client.get("/openapi.json").json()
    routes = document["paths"]["/api/v1/sites/{site_id}/comm100/webhooks"]
    for method in ("get", "post"):
        responses = routes[method]["responses"]
        assert responses["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Comm100WebhooksOut"
        }
        for status in ("401", "403", "404", "422", "502", "504"):
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, status)
        assert "comm100_missing_permission" in responses["403"]["description"]
    body = routes["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "Comm100WebhooksRegister" in json.dumps(body)
    schemas = document["components"]["schemas"]
    state = schemas["WebhookStateOut"]["properties"]["state"]
    assert state["enum"] == ["registered", "missing", "elsewhere"]
    assert schemas["Comm100WebhooksRegister"]["properties"]["replace_elsewhere"]["default"] is False
