"""The foundation's acceptance story: a new user runs the demo and drives it with HTTP, in
whichever order they follow the README's walk-through and the simulator's story; the demo is set
up before it answers."""

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
from tests.web.ui_client import form_values, parse

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


# --- the demo's story works in any order (issue 16) ---------------------------------------------


def readme_chat_ended(demo: Demo) -> int:
    """The README's curl walk-through: a chat of customer C1003 ends, as Comm100 would send it."""
    with demo.api() as api:
        hook = api.get("/sites/10000/webhooks").json()["livechat"]
    body = {
        "event": "chat_ended",
        "visitor": {
            "id": "5b0e2f4c-1111-4a4a-9d9d-000000000003",
            "phone": "+44 20 7946 0003",
            "custom_variables": [{"name": "customer_id", "value": "C1003"}],
        },
        "chat": {"id": "9f9f0000-0000-4000-8000-000000000003", "end_time": "/Date(1764000000000)/"},
    }
    answer = httpx.post(hook, json=body, timeout=10)
    assert answer.status_code == 202, answer.text
    record_id: int = answer.json()["id"]
    return record_id


def settled(demo: Demo, record_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    with demo.api() as api:
        while True:
            record: dict[str, Any] = api.get(f"/sites/10000/syncs/{record_id}").json()
            if record["state"] in ("done", "failed") or time.monotonic() > deadline:
                return record
            time.sleep(0.1)


def sent_record(response: httpx.Response) -> int:
    """The sync record a simulator page says its webhook made (`?sent=` → the page's text)."""
    match = re.search(r"sync record #(\d+)", response.text)
    assert match, response.text[-2000:]
    return int(match.group(1))


def play_the_story_to_step_4(demo: Demo) -> dict[str, Any]:
    """Steps 2 to 4 as the simulator's pages post them: Grace Hopper starts a chat, it ends."""
    with httpx.Client(base_url=f"{demo.url}/sandbox/comm100/simulator", timeout=10) as sim:
        visitor = parse(sim.get("/visitor", params={"sample": "1"}).text)
        [form] = [f for f in visitor.find_all("form") if f.attrs["action"].endswith("/chats")]
        started = sim.post("/visitor/chats", data={**form_values(form), "message": "Hello"})
        assert started.status_code == 303, started.text
        chat_id = re.search(r"/visitor/chats/([0-9a-f-]+)", started.headers["location"])
        assert chat_id
        ended = sim.post(f"/agent/chats/{chat_id.group(1)}/end", follow_redirects=True)
    return settled(demo, sent_record(ended))


def test_the_readme_walk_through_leaves_the_storys_customer_as_the_story_needs(
    demo: Demo,
) -> None:
    walked = settled(demo, readme_chat_ended(demo))
    assert (walked["customer_id"], walked["outcome"]) == ("C1003", "updated")
    assert [c["field"] for c in walked["changes"]] == ["PHONE"]

    step_4 = play_the_story_to_step_4(demo)

    assert (step_4["customer_id"], step_4["outcome"]) == ("C1002", "updated")
    assert {(c["field"], c["new"]) for c in step_4["changes"]} == {
        ("PHONE", "+1 202 555 0142"),
        ("VIP_LEVEL", "silver"),
    }


def test_story_step_5_ends_with_the_tab_offering_to_create_the_customer(demo: Demo) -> None:
    with httpx.Client(base_url=f"{demo.url}/sandbox/comm100/simulator", timeout=10) as sim:
        created = sim.post(
            "/agent/tickets",
            data={"requester_type": "visitor", "visitor_id": "new", "subject": "My refund?"},
            follow_redirects=True,
        )
        ticket = re.search(r"/agent/tickets/(\d+)", str(created.url))
        assert ticket, created.url
        assert settled(demo, sent_record(created))["outcome"] == "needs_contact"
        converted = sim.post(f"/agent/tickets/{ticket.group(1)}/convert")
        contact = re.search(r"converted=([0-9a-f-]+)", converted.headers["location"])
        assert contact
    agent_token = (demo.log.parent / "demo-agent-token").read_text().strip()
    requester = {"type": "contact", "id": contact.group(1)}
    conversation = {
        "channel": "ticketing",
        "context": {"ticket_id": int(ticket.group(1)), "requester": requester},
    }

    def tab(action: str, **extra: Any) -> dict[str, Any]:
        answer = httpx.post(
            f"{demo.url}/api/v1/sites/10000/console/{action}",
            json={**conversation, **extra},
            headers={"Authorization": f"Bearer {agent_token}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        view: dict[str, Any] = answer.json()
        return view

    view = tab("lookup")
    assert view["status"] == "unidentified"
    assert view["create"]["allowed"] is True
    assert [field["name"] for field in view["create"]["asks"]] == ["Customer ID"]
    tab("create", answers={"contact:Customer ID": "C2002"})  # the agent types an id
    deadline = time.monotonic() + 10
    while (view := tab("lookup"))["status"] != "matched" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (view["status"], view["customer_id"]) == ("matched", "C2002")
    created = httpx.get(f"{demo.url}/sandbox/optimove/_sandbox/customers/C2002", timeout=10)
    assert created.status_code == 200


def test_the_demo_is_set_up_before_it_answers_and_survives_its_sandbox_changing(
    tmp_path: Path,
) -> None:
    """Changing the Optimove sandbox's attribute list as soon as the demo answers (before it has
    seeded its customers) got a 422 and ended the demo: now it answers 503 until it is set up."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "demo.log"
    argv = optibridge_command("demo", "--port", str(port), "--data-dir", str(tmp_path))
    attributes_url = f"{url}/sandbox/optimove/_sandbox/attributes"
    without_phone = [
        {"RealFieldName": name, "FieldType": "Nvarchar"}
        for name in ("FIRST_NAME", "LAST_NAME", "EMAIL", "COUNTRY", "VIP_LEVEL")
    ]
    with running_process(argv, ready_url=f"{url}/healthz", log_path=log) as process:
        waited: list[tuple[int, str]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = httpx.put(attributes_url, json=without_phone, timeout=10)
            if answer.status_code == 200:
                break
            waited.append((answer.status_code, answer.json()["error"]["code"]))
            time.sleep(0.02)
        assert answer.status_code == 200, answer.text
        assert set(waited) <= {(503, "starting")}
        banner = _printed_admin_token(log)  # the banner is printed as the demo opens
        assert banner
        output = log.read_text()
        assert "Not everything could be set up" not in output
        grace = httpx.get(f"{url}/sandbox/optimove/_sandbox/customers/C1002", timeout=10).json()
        assert grace["FIRST_NAME"] == "Grace"
        # The demo goes on with the changed sandbox.
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        assert process.poll() is None
