"""The foundation's acceptance story: a new user runs the demo and drives it with HTTP."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import free_port, optibridge_command, running_process

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@dataclass
class Demo:
    url: str
    token: str
    log: Path

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data_dir = tmp_path_factory.mktemp("demo")
    port = free_port()
    log = data_dir / "demo.log"
    argv = optibridge_command("demo", "--port", str(port), "--data-dir", str(data_dir))
    url = f"http://127.0.0.1:{port}"
    with running_process(argv, ready_url=f"{url}/healthz", log_path=log, env={"COLUMNS": "200"}):
        token = _printed_admin_token(log)
        yield Demo(url, token, log)


def _printed_admin_token(log: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = re.search(r"Admin token:\s+(\S+)", log.read_text())
        if match:
            return match.group(1)
        time.sleep(0.1)
    raise AssertionError(f"the demo printed no admin token:\n{log.read_text()}")


def sandbox_settings(demo: Demo, **optimove: Any) -> dict[str, Any]:
    return {
        "optimove": {
            "base_url": f"{demo.url}/sandbox/optimove",
            "api_key": "sandbox-optimove-key",
            "web_app_url": "https://acme.optimove.net",
            **optimove,
        },
        "livechat": {
            "enabled": True,
            "field_mapping": [
                {
                    "optimove_field": "EMAIL",
                    "comm100_field": {"source": "system", "name": "email"},
                    "show_in_console": True,
                }
            ],
            "identification": [{"source": "custom_variable", "name": "customer_id"}],
            "on_chat_end": {"update": "fill_empty", "no_match": "agent_create"},
        },
    }


def test_the_demo_prints_where_to_go(demo: Demo) -> None:
    output = demo.log.read_text()
    assert f"{demo.url}/sandbox/optimove" in output
    assert "10000" in output


def test_demo_site_10000_is_connected_to_the_sandbox(demo: Demo) -> None:
    with demo.api() as api:
        test = api.post("/sites/10000/optimove/test")
    assert test.status_code == 200, test.text
    assert test.json()["attributes"] > 0


def test_demo_site_10000s_webhooks_are_registered_in_the_comm100_sandbox(demo: Demo) -> None:
    with demo.api() as api:
        state = api.get("/sites/10000/comm100/webhooks")
        livechat_url = api.get("/sites/10000/webhooks").json()["livechat"]
    assert state.status_code == 200, state.text
    assert [(e["event"], e["state"]) for e in state.json()["livechat"]] == [
        ("chatEnds", "registered"),
        ("offlineMessageIsSubmitted", "registered"),
    ]
    registered = httpx.get(f"{demo.url}/sandbox/comm100/_sandbox/webhooks", timeout=10).json()
    assert [(w["siteId"], w["targetUrl"]) for w in registered] == [(10000, livechat_url)] * 2
    assert "Its Live Chat webhooks:    registered in the Comm100 sandbox" in demo.log.read_text()


def test_a_new_user_connects_a_site_with_curl(demo: Demo) -> None:
    with demo.api() as api:
        created = api.post("/sites", json={"site_id": 20000, "name": "Acme"})
        assert created.status_code == 201, created.text
        saved = api.put("/sites/20000/settings", json=sandbox_settings(demo))
        assert saved.status_code == 200, saved.text
        read = api.get("/sites/20000/settings")
        assert read.json()["optimove"]["api_key"].startswith("****")
        assert "sandbox-optimove-key" not in read.text
        assert api.post("/sites/20000/optimove/test").json()["ok"] is True
        refused = api.post("/sites/20000/optimove/test", json={"api_key": "a-wrong-key-0000"})
        assert refused.status_code == 502
        assert "refused" in refused.json()["error"]["message"].lower()
        assert "a-wrong-key-0000" not in refused.text


def test_invalid_settings_list_every_problem(demo: Demo) -> None:
    document = sandbox_settings(demo, customer_url_template="{web_app_url}/customer")
    document["livechat"]["identification"] = []
    document["livechat"]["field_mapping"][0]["optimove_field"] = "NOT_A_FIELD"
    with demo.api() as api:
        api.post("/sites", json={"site_id": 30000, "name": "Bad"})
        response = api.put("/sites/30000/settings", json=document)
    assert response.status_code == 422
    found = {detail["pointer"] for detail in response.json()["error"]["details"]}
    assert found == {
        "/optimove/customer_url_template",
        "/livechat/identification",
        "/livechat/field_mapping/0/optimove_field",
    }


def test_the_mounted_sandbox_refuses_the_51st_rapid_call(demo: Demo) -> None:
    sandbox = f"{demo.url}/sandbox/optimove"
    with httpx.Client(base_url=sandbox, timeout=10) as http:
        http.put("/_sandbox/keys", json=["burst-key"]).raise_for_status()
        statuses = [
            http.get(
                "/model/GetCustomerAttributeList", headers={"X-API-KEY": "burst-key"}
            ).status_code
            for _ in range(60)
        ]
        http.put("/_sandbox/keys", json=["sandbox-optimove-key"]).raise_for_status()
    assert statuses[:50] == [200] * 50
    assert statuses[50:] == [429] * 10


def test_no_secret_reaches_the_log(demo: Demo) -> None:
    output = demo.log.read_text()
    assert "sandbox-optimove-key" not in output
    assert "a-wrong-key-0000" not in output
    assert "token=" not in output
