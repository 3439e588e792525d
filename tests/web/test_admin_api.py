"""The administration API of SPEC 5.2, driven over HTTP (the service in-process, the Optimove
sandbox in its own process)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.web.conftest import SANDBOX_KEY, Service

SITE = 10000


def create_site(service: Service, site_id: int = SITE) -> None:
    response = service.client.post(
        "/api/v1/sites", json={"site_id": site_id, "name": "Acme"}, headers=service.admin()
    )
    assert response.status_code == 201, response.text


def connected_settings(sandbox_url: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "optimove": {
            "base_url": sandbox_url,
            "api_key": SANDBOX_KEY,
            "web_app_url": "https://acme.optimove.net",
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
    document.update(changes)
    return document


def put_settings(service: Service, document: dict[str, Any]) -> httpx.Response:
    response: httpx.Response = service.client.put(
        f"/api/v1/sites/{SITE}/settings", json=document, headers=service.admin()
    )
    return response


def pointers(response: httpx.Response) -> set[str]:
    return {detail["pointer"] for detail in response.json()["error"]["details"]}


# --- sites -----------------------------------------------------------------------------------


def test_a_site_is_created_and_listed(service: Service) -> None:
    create_site(service)
    listed = service.client.get("/api/v1/sites", headers=service.admin()).json()
    assert [(site["site_id"], site["name"]) for site in listed] == [(SITE, "Acme")]


def test_creating_an_existing_site_is_a_conflict(service: Service) -> None:
    create_site(service)
    again = service.client.post(
        "/api/v1/sites", json={"site_id": SITE, "name": "Other"}, headers=service.admin()
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


def test_an_invalid_site_lists_every_problem(service: Service) -> None:
    response = service.client.post(
        "/api/v1/sites", json={"site_id": -1, "name": " "}, headers=service.admin()
    )
    assert response.status_code == 422
    assert pointers(response) == {"/site_id", "/name"}


def test_a_site_body_of_the_wrong_type_names_the_field(service: Service) -> None:
    response = service.client.post(
        "/api/v1/sites", json={"site_id": "ten", "name": "Acme"}, headers=service.admin()
    )
    assert response.status_code == 422
    assert pointers(response) == {"/site_id"}


def test_malformed_json_is_a_400_in_the_error_shape(service: Service) -> None:
    response = service.client.post(
        "/api/v1/sites",
        content=b'{"site_id": 1,',
        headers={**service.admin(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_deleting_a_site_removes_it(service: Service) -> None:
    create_site(service)
    deleted = service.client.delete(f"/api/v1/sites/{SITE}", headers=service.admin())
    assert deleted.status_code == 204
    missing = service.client.get(f"/api/v1/sites/{SITE}", headers=service.admin())
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_an_unknown_route_answers_in_the_error_shape(service: Service) -> None:
    response = service.client.get("/api/v1/nothing-here", headers=service.admin())
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"code", "message", "details"}


# --- authentication --------------------------------------------------------------------------


def test_no_token_is_401(service: Service) -> None:
    response = service.client.get("/api/v1/sites")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_a_wrong_token_is_401(service: Service) -> None:
    response = service.client.get("/api/v1/sites", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


def issue(service: Service, role: str, site_id: int = SITE) -> str:
    response = service.client.post(
        f"/api/v1/sites/{site_id}/tokens", json={"role": role}, headers=service.admin()
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def test_an_agent_token_cannot_use_the_admin_api(service: Service) -> None:
    create_site(service)
    agent = issue(service, "agent")
    response = service.client.get(
        f"/api/v1/sites/{SITE}/settings", headers={"Authorization": f"Bearer {agent}"}
    )
    assert response.status_code == 403


def test_a_site_admin_token_reaches_only_its_own_site(service: Service) -> None:
    create_site(service, SITE)
    create_site(service, 20000)
    site_admin = {"Authorization": f"Bearer {issue(service, 'admin', SITE)}"}
    own = service.client.get(f"/api/v1/sites/{SITE}/settings", headers=site_admin)
    other = service.client.get("/api/v1/sites/20000/settings", headers=site_admin)
    listed = service.client.get("/api/v1/sites", headers=site_admin).json()
    assert own.status_code == 200
    assert other.status_code == 404
    assert [site["site_id"] for site in listed] == [SITE]


def test_a_site_admin_token_cannot_create_sites(service: Service) -> None:
    create_site(service)
    site_admin = {"Authorization": f"Bearer {issue(service, 'admin')}"}
    response = service.client.post(
        "/api/v1/sites", json={"site_id": 3, "name": "x"}, headers=site_admin
    )
    assert response.status_code == 403


def test_tokens_are_listed_without_their_values_and_can_be_revoked(service: Service) -> None:
    create_site(service)
    token = issue(service, "agent")
    listed = service.client.get(f"/api/v1/sites/{SITE}/tokens", headers=service.admin())
    assert token not in listed.text
    [record] = listed.json()
    revoked = service.client.delete(
        f"/api/v1/sites/{SITE}/tokens/{record['id']}", headers=service.admin()
    )
    assert revoked.status_code == 204
    assert service.client.get(f"/api/v1/sites/{SITE}/tokens", headers=service.admin()).json() == []


def test_a_revoked_token_is_refused(service: Service) -> None:
    create_site(service)
    token = issue(service, "admin")
    [record] = service.client.get(f"/api/v1/sites/{SITE}/tokens", headers=service.admin()).json()
    service.client.delete(f"/api/v1/sites/{SITE}/tokens/{record['id']}", headers=service.admin())
    response = service.client.get(
        f"/api/v1/sites/{SITE}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


def test_tokens_are_stored_hashed(service: Service) -> None:
    create_site(service)
    token = issue(service, "agent")
    service.runtime.engine.dispose()
    assert token.encode() not in service.database_path.read_bytes()


# --- settings --------------------------------------------------------------------------------


def test_a_new_site_has_default_settings(service: Service) -> None:
    create_site(service)
    document = service.client.get(f"/api/v1/sites/{SITE}/settings", headers=service.admin())
    assert document.status_code == 200
    body = document.json()
    assert body["livechat"]["enabled"] is False
    assert body["optimove"]["api_key"] is None


def test_saved_settings_read_back_with_keys_masked(service: Service, sandbox: httpx.Client) -> None:
    create_site(service)
    saved = put_settings(service, connected_settings(str(sandbox.base_url)))
    assert saved.status_code == 200, saved.text
    read = service.client.get(f"/api/v1/sites/{SITE}/settings", headers=service.admin())
    assert SANDBOX_KEY not in read.text
    assert read.json()["optimove"]["api_key"].startswith("****")
    assert read.json()["livechat"]["field_mapping"][0]["optimove_field"] == "EMAIL"


def test_a_put_that_omits_or_echoes_the_masked_key_keeps_it(
    service: Service, sandbox: httpx.Client
) -> None:
    create_site(service)
    put_settings(service, connected_settings(str(sandbox.base_url)))
    read_back = service.client.get(f"/api/v1/sites/{SITE}/settings", headers=service.admin()).json()
    assert put_settings(service, read_back).status_code == 200  # masked key sent back
    without_key = connected_settings(str(sandbox.base_url))
    del without_key["optimove"]["api_key"]
    assert put_settings(service, without_key).status_code == 200
    test = service.client.post(f"/api/v1/sites/{SITE}/optimove/test", headers=service.admin())
    assert test.status_code == 200, test.text


def test_an_empty_key_removes_the_stored_one(service: Service, sandbox: httpx.Client) -> None:
    create_site(service)
    put_settings(service, connected_settings(str(sandbox.base_url)))
    document = connected_settings(str(sandbox.base_url))
    document["optimove"]["api_key"] = ""
    put_settings(service, document)
    read = service.client.get(f"/api/v1/sites/{SITE}/settings", headers=service.admin())
    assert read.json()["optimove"]["api_key"] is None


def test_invalid_settings_list_every_problem_and_save_nothing(
    service: Service, sandbox: httpx.Client
) -> None:
    create_site(service)
    document = connected_settings(str(sandbox.base_url))
    document["optimove"]["customer_url_template"] = "https://x/{nothing}"
    document["livechat"]["identification"] = []
    document["livechat"]["field_mapping"].append(
        {
            "optimove_field": "NO_SUCH_FIELD",
            "comm100_field": {"source": "system", "name": "phone"},
            "show_in_console": False,
        }
    )
    document["unexpected"] = True
    response = put_settings(service, document)
    assert response.status_code == 422
    assert {
        "/optimove/customer_url_template",
        "/livechat/identification",
        "/livechat/field_mapping/1/optimove_field",
        "/unexpected",
    } <= pointers(response)
    read = service.client.get(f"/api/v1/sites/{SITE}/settings", headers=service.admin())
    assert read.json()["livechat"]["enabled"] is False


def test_settings_of_an_unknown_site_are_404(service: Service) -> None:
    response = service.client.get("/api/v1/sites/424242/settings", headers=service.admin())
    assert response.status_code == 404


def test_api_keys_are_encrypted_at_rest(service: Service, sandbox: httpx.Client) -> None:
    create_site(service)
    document = connected_settings(str(sandbox.base_url))
    document["comm100"] = {"agent_email": "a@example.com", "api_key": "comm100-secret-key-xyz"}
    assert put_settings(service, document).status_code == 200
    service.runtime.engine.dispose()
    stored = service.database_path.read_bytes()
    assert SANDBOX_KEY.encode() not in stored
    assert b"comm100-secret-key-xyz" not in stored


# --- the Optimove connection -----------------------------------------------------------------


def test_the_connection_test_passes_with_the_right_key(
    service: Service, sandbox: httpx.Client
) -> None:
    create_site(service)
    put_settings(service, connected_settings(str(sandbox.base_url)))
    response = service.client.post(f"/api/v1/sites/{SITE}/optimove/test", headers=service.admin())
    assert response.status_code == 200
    attributes = sandbox.get("/_sandbox/attributes").json()
    assert response.json() == {"ok": True, "attributes": len(attributes)}


def test_a_wrong_key_is_a_502_saying_the_key_was_refused(
    service: Service, sandbox: httpx.Client
) -> None:
    create_site(service)
    put_settings(service, connected_settings(str(sandbox.base_url)))
    response = service.client.post(
        f"/api/v1/sites/{SITE}/optimove/test",
        json={"api_key": "wrong-key-123456"},
        headers=service.admin(),
    )
    assert response.status_code == 502
    assert "refused" in response.json()["error"]["message"].lower()
    assert "wrong-key-123456" not in response.text


def test_an_unreachable_host_is_a_502_naming_it(service: Service) -> None:
    create_site(service)
    response = service.client.post(
        f"/api/v1/sites/{SITE}/optimove/test",
        json={"base_url": "http://127.0.0.1:9", "api_key": "k" * 20},
        headers=service.admin(),
    )
    assert response.status_code in {502, 504}
    assert "127.0.0.1" in response.json()["error"]["message"]


def test_testing_before_anything_is_configured_says_what_is_missing(service: Service) -> None:
    create_site(service)
    response = service.client.post(f"/api/v1/sites/{SITE}/optimove/test", headers=service.admin())
    assert response.status_code == 422
    assert pointers(response) == {"/optimove/base_url", "/optimove/api_key"}


def test_the_attribute_list_is_served_from_the_cache_after_the_first_read(
    service: Service, sandbox: httpx.Client
) -> None:
    create_site(service)
    put_settings(service, connected_settings(str(sandbox.base_url)))
    sandbox.delete("/_sandbox/requests")
    url = f"/api/v1/sites/{SITE}/optimove/attributes"
    first = service.client.get(url, headers=service.admin()).json()
    second = service.client.get(url, headers=service.admin()).json()
    names = {item["real_field_name"] for item in second["items"]}
    assert "EMAIL" in names
    assert second["cached"] is True
    assert first["items"] == second["items"]
    calls = [
        r for r in sandbox.get("/_sandbox/requests").json() if "attribute" in r["path"].lower()
    ]
    assert len(calls) <= 1


def test_refresh_reads_the_attribute_list_from_optimove(
    service: Service, sandbox: httpx.Client
) -> None:
    create_site(service)
    put_settings(service, connected_settings(str(sandbox.base_url)))
    url = f"/api/v1/sites/{SITE}/optimove/attributes"
    service.client.get(url, headers=service.admin())
    refreshed = service.client.get(url, params={"refresh": True}, headers=service.admin())
    assert refreshed.json()["cached"] is False


# --- webhooks and OpenAPI --------------------------------------------------------------------


def test_webhook_urls_carry_the_public_url_and_a_secret_token(service: Service) -> None:
    create_site(service)
    urls = service.client.get(f"/api/v1/sites/{SITE}/webhooks", headers=service.admin()).json()
    assert urls["livechat"].startswith(
        f"https://bridge.example.com/webhooks/comm100/{SITE}/livechat?token="
    )
    assert urls["ticketing"].startswith(
        f"https://bridge.example.com/webhooks/comm100/{SITE}/ticketing?token="
    )
    token = urls["livechat"].split("token=")[1]
    assert len(token) >= 24
    assert urls["ticketing"].endswith(token)


def test_the_openapi_document_describes_the_admin_api(service: Service) -> None:
    document = service.client.get("/openapi.json").json()
    assert "/api/v1/sites/{site_id}/settings" in document["paths"]
    assert "put" in document["paths"]["/api/v1/sites/{site_id}/settings"]


def test_an_id_beyond_64_bits_in_a_url_is_404_not_a_crash(service: Service) -> None:
    create_site(service)
    for method, path in [
        ("GET", "/api/v1/sites/9223372036854775808"),
        ("DELETE", f"/api/v1/sites/{SITE}/tokens/1{'0' * 30}"),
    ]:
        response = service.client.request(method, path, headers=service.admin())
        assert response.status_code == 404, (path, response.text)
        assert set(response.json()["error"]) == {"code", "message", "details"}
