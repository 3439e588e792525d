"""`POST /api/v1/sites/{id}/preview` (SPEC 5.2), the service in-process and the Optimove sandbox
in its own process: the budget's background lane bounds the reads, and the request's limits and
errors. What a preview decides is tested over the whole stack (tests/sync/test_preview.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from optibridge.app import create_app
from optibridge.config import Config
from optibridge.domain.context import ConversationContext
from optibridge.runtime import Runtime
from optibridge.store.migrate import upgrade_to_head
from tests.store.test_sync_log import add_record
from tests.web.conftest import ADMIN_TOKEN, Service
from tests.web.test_admin_api import SITE, connected_settings, create_site, put_settings

# The background lane keeps 5 slots of a window for agents and live events: at 6 calls per
# window it has one, which saving the settings (the attribute list) may already have used.
RATE_LIMIT = 6


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    config = Config(
        data_dir=tmp_path,
        admin_token=ADMIN_TOKEN,
        allow_private_urls=True,
        optimove_rate_limit=RATE_LIMIT,
        optimove_max_attempts=1,
        optimove_timeout_s=5,
    )
    runtime = Runtime.start(config)
    upgrade_to_head(runtime.engine)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield Service(client, runtime, tmp_path / "optibridge.db")
    runtime.close()


def a_chat(service: Service, customer_id: str, email: str) -> int:
    context = ConversationContext(
        channel="livechat",
        event="chat_ended",
        system={"email": email},
        custom_variables={"customer_id": customer_id},
    )
    with service.runtime.unit_of_work() as session:
        record = add_record(
            session,
            SITE,
            outcome="unchanged",
            changes=[],
            customer_id=customer_id,
            context=context.to_json(),
        )
        return record.id


def preview(service: Service, body: dict[str, Any], site_id: int = SITE) -> httpx.Response:
    response: httpx.Response = service.client.post(
        f"/api/v1/sites/{site_id}/preview", json=body, headers=service.admin()
    )
    return response


def test_reads_stop_when_the_background_lane_gets_no_slot_soon_and_the_answer_says_so(
    service: Service, sandbox: httpx.Client
) -> None:
    create_site(service)
    assert put_settings(service, connected_settings(str(sandbox.base_url))).status_code == 200
    for number in range(3):
        customer = f"C-{number}"
        sandbox.put(f"/_sandbox/customers/{customer}", json={"EMAIL": ""}).raise_for_status()
        a_chat(service, customer, f"c{number}@example.com")

    response = preview(service, {"channel": "livechat", "limit": 3})

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["found"] == 3
    assert answer["limited_by_budget"] is True
    assert len(answer["conversations"]) < 3
    assert "could be previewed" in answer["budget_note"]
    reads = [r for r in sandbox.get("/_sandbox/requests").json() if "/Attributes" in r["path"]]
    assert len(reads) == answer["optimove_reads"] <= 1
    assert all(r["status"] == 200 for r in sandbox.get("/_sandbox/requests").json())


def test_a_site_without_conversations_previews_none_and_reads_nothing(
    service: Service, sandbox: httpx.Client
) -> None:
    create_site(service)
    put_settings(service, connected_settings(str(sandbox.base_url)))
    before = len(sandbox.get("/_sandbox/requests").json())

    answer = preview(service, {"channel": "ticketing"}).json()

    assert (answer["found"], answer["conversations"], answer["limited_by_budget"]) == (0, [], False)
    assert len(sandbox.get("/_sandbox/requests").json()) == before


def test_optimove_not_connected_is_a_conflict(service: Service) -> None:
    create_site(service)
    a_chat(service, "C-1", "c1@example.com")

    response = preview(service, {"channel": "livechat"})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_connected"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"channel": "livechat", "limit": 51}, "/limit"),
        ({"channel": "livechat", "limit": 0}, "/limit"),
        ({"channel": "email"}, "/channel"),
        ({"limit": 5}, "/channel"),
        ({"channel": "livechat", "settings": [1]}, "/settings"),
        ({"channel": "livechat", "dry": True}, "/dry"),
    ],
)
def test_a_body_that_is_not_a_preview_request_is_422_naming_the_field(
    service: Service, body: dict[str, Any], pointer: str
) -> None:
    create_site(service)

    response = preview(service, body)

    assert response.status_code == 422
    assert pointer in {d["pointer"] for d in response.json()["error"]["details"]}


def test_an_unknown_site_is_404(service: Service) -> None:
    assert preview(service, {"channel": "livechat"}, site_id=99999).status_code == 404


def test_the_request_and_its_answer_are_documented(service: Service) -> None:
    document = service.client.get("/openapi.json").json()
    operation = document["paths"]["/api/v1/sites/{site_id}/preview"]["post"]
    assert {"200", "404", "409", "422", "502", "504"} <= set(operation["responses"])
    request = document["components"]["schemas"]["PreviewRequest"]
    assert set(request["properties"]) == {"settings", "channel", "limit"}
    answer = document["components"]["schemas"]["PreviewOut"]
    assert "limited_by_budget" in answer["properties"]
