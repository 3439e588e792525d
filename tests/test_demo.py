"""The demo's start (issue 16, point 8): it answers only once it is set up, and a step of its
set-up that fails is said, never the end of the demo. In-process: the app with its sandboxes
mounted, driven through a TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from optibridge.app import create_app
from optibridge.config import Config
from optibridge.demo import DEMO_CUSTOMERS, StartingGate, seed_demo
from optibridge.runtime import Runtime
from optibridge.store.migrate import upgrade_to_head

# Nothing listens here: the service's own calls to the sandboxes (the settings' field check,
# registering the webhooks) fail at once, as when the demo's address can't be reached.
PUBLIC_URL = "http://127.0.0.1:9"


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


def test_until_it_opens_the_gate_answers_503_starting_to_all_but_the_demos_own_calls() -> None:
    gate = StartingGate()
    client = TestClient(gate.wrap(hello))
    assert client.get("/healthz").status_code == 200  # alive; not ready (/readyz) yet
    for path in ("/readyz", "/ui/login", "/sandbox/optimove/_sandbox/attributes"):
        refused = client.put(path)
        assert refused.status_code == 503, path
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "starting"
    assert client.get("/sandbox/comm100/simulator/").status_code == 503
    # The demo's own: its control calls carry the key; the service calls the sandboxes' APIs.
    keyed = client.put("/sandbox/optimove/_sandbox/attributes", headers={gate.HEADER: gate.key})
    assert keyed.status_code == 200
    wrong = client.put("/sandbox/optimove/_sandbox/attributes", headers={gate.HEADER: "guess"})
    assert wrong.status_code == 503
    assert client.get("/sandbox/optimove/model/GetCustomerAttributeList").status_code == 200
    assert client.get("/sandbox/comm100/v4/livechat/webhooks").status_code == 200

    gate.open()

    assert client.get("/ui/login").status_code == 200
    assert client.put("/sandbox/optimove/_sandbox/attributes").status_code == 200


@pytest.fixture
def demo_app(tmp_path: Path) -> Iterator[tuple[Runtime, TestClient]]:
    config = Config(
        data_dir=tmp_path,
        admin_token="demo-admin-token-0123456789",
        allow_private_urls=True,
        public_url=PUBLIC_URL,
    )
    runtime = Runtime.start(config)
    upgrade_to_head(runtime.engine)
    with TestClient(create_app(runtime, mount_sandboxes=True), base_url=PUBLIC_URL) as client:
        yield runtime, client
    runtime.close()


def attributes_without(client: TestClient, *names: str) -> list[dict[str, Any]]:
    attributes: list[dict[str, Any]] = client.get("/sandbox/optimove/_sandbox/attributes").json()
    return [a for a in attributes if a["RealFieldName"] not in names]


def test_a_sandbox_that_refuses_the_demos_customers_is_said_and_the_rest_is_set_up(
    demo_app: tuple[Runtime, TestClient],
) -> None:
    runtime, client = demo_app
    replaced = attributes_without(client, "PHONE")
    client.put("/sandbox/optimove/_sandbox/attributes", json=replaced).raise_for_status()

    seeded = seed_demo(runtime, PUBLIC_URL, client)

    refused = [p for p in seeded.problems if p.startswith("Optimove sandbox customer")]
    assert len(refused) == len(DEMO_CUSTOMERS)  # each has a PHONE
    assert "HTTP 422" in refused[0]
    assert "PHONE" in refused[0]
    # The rest is set up all the same: the site, its settings, the simulator.
    settings = client.get(
        "/api/v1/sites/10000/settings",
        headers={"Authorization": "Bearer demo-admin-token-0123456789"},
    ).json()
    assert settings["livechat"]["enabled"] is True
    assert client.get("/sandbox/comm100/_sandbox/simulator").json()["site_id"] == 10000
    assert seeded.webhooks == "not registered in the Comm100 sandbox (see the site's page)"


def test_settings_the_sandbox_cant_take_are_said_too(
    demo_app: tuple[Runtime, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, client = demo_app
    monkeypatch.setattr(
        "optibridge.demo.demo_settings",
        lambda _public_url: {"livechat": {"enabled": True, "identification": []}},
    )

    seeded = seed_demo(runtime, PUBLIC_URL, client)

    [problem] = seeded.problems
    assert problem.startswith("Site 10000's settings were not saved: /livechat/identification")
