"""The Comm100 connection in the administration API: the connection test and the field lists,
against the Comm100 sandbox in its own process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

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
