"""Setting up the Optimove tab in Comm100: the app manifest (API and control panel) and
Comm100 sign-in's settings card."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.web.conftest import Service
from tests.web.ui_client import flash, page, post_form, sign_in

SITE = 10000
PAGE = f"/ui/sites/{SITE}"
PUBLIC = "https://bridge.example.com"
SECRET = "0auth-s3cret-DO-NOT-LEAK"
SIGN_IN = {
    "platform_url": "https://dash11.comm100.io",
    "oauth_client_id": "optibridge",
    "oauth_client_secret": SECRET,
}


@pytest.fixture
def site(service: Service) -> Service:
    created = service.client.post(
        "/api/v1/sites", json={"site_id": SITE, "name": "Acme"}, headers=service.admin()
    )
    assert created.status_code == 201, created.text
    return service


def set_up_sign_in(service: Service) -> None:
    response = service.client.put(
        f"/api/v1/sites/{SITE}/settings", json={"comm100": SIGN_IN}, headers=service.admin()
    )
    assert response.status_code == 200, response.text


def manifest(service: Service) -> dict[str, Any]:
    response = service.client.get(
        f"/api/v1/sites/{SITE}/comm100/app-manifest", headers=service.admin()
    )
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def test_the_manifest_keys_widgets_by_type_as_comm100s_does(site: Service) -> None:
    set_up_sign_in(site)

    document = manifest(site)

    assert document["manifestVersion"] == "2.0"
    widgets = document["agentConsole"]["widgets"]
    assert isinstance(widgets, dict)
    assert set(widgets) == {"chatSideTab", "ticketSideTab"}
    assert widgets["chatSideTab"]["url"] == f"{PUBLIC}/console/{SITE}/livechat"
    assert widgets["ticketSideTab"]["url"] == f"{PUBLIC}/console/{SITE}/ticketing"
    for widget in widgets.values():
        assert {"id", "url", "label", "icon"} <= set(widget)
        assert widget["icon"] == f"{PUBLIC}/console/static/icon.svg"
    assert SECRET not in json.dumps(document)


def test_without_sign_in_the_manifest_asks_for_an_agent_token(site: Service) -> None:
    widgets = manifest(site)["agentConsole"]["widgets"]

    url = urlsplit(widgets["chatSideTab"]["url"])
    assert parse_qs(url.query) == {"token": ["REPLACE_WITH_AGENT_TOKEN"]}


def test_the_icon_the_manifest_names_is_served(site: Service) -> None:
    response = site.client.get("/console/static/icon.svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")


@pytest.mark.parametrize(
    ("site_id", "status"), [(SITE + 1, 404), (SITE, 401)], ids=["unknown", "no token"]
)
def test_the_manifest_is_for_an_admin_of_an_existing_site(
    site: Service, site_id: int, status: int
) -> None:
    headers = site.admin() if status != 401 else {}
    response = site.client.get(f"/api/v1/sites/{site_id}/comm100/app-manifest", headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"]


def test_an_admin_sets_up_sign_in_in_the_control_panel_and_downloads_the_manifest(
    site: Service,
) -> None:
    sign_in(site.client)
    before = page(site.client.get(PAGE))
    card = before.by_id("comm100-app")
    assert "Not set up" in card.text()
    assert "weaker option" in card.text()
    redirect = before.by_id("sign-in-redirect").attrs["value"]
    assert redirect == f"{PUBLIC}/auth/comm100/callback"

    saved = post_form(site.client, f"{PAGE}/comm100-sign-in", SIGN_IN, from_page=PAGE)

    assert saved.status_code == 303
    after = page(site.client.get(PAGE))
    assert "sign in with Comm100" in flash(after)
    assert "Set up: agents sign in" in after.by_id("comm100-app").text()
    assert SECRET not in site.client.get(PAGE).text
    download = site.client.get(after.by_id("manifest-download").attrs["href"])
    assert download.headers["content-disposition"] == 'attachment; filename="manifest.json"'
    widgets = download.json()["agentConsole"]["widgets"]
    assert "token" not in widgets["chatSideTab"]["url"]


def test_a_sign_in_set_up_with_a_missing_part_is_refused_beside_the_field(site: Service) -> None:
    sign_in(site.client)

    refused = post_form(
        site.client,
        f"{PAGE}/comm100-sign-in",
        {"platform_url": "https://dash11.comm100.io", "oauth_client_id": "optibridge"},
        from_page=PAGE,
    )

    assert refused.status_code == 422
    document = page(refused)
    assert "was not saved" in document.by_id("comm100-app").text()
    assert document.by_id("f-comm100-oauth_client_secret-error").text()
    # What was typed stays.
    assert document.by_id("f-comm100-platform_url").attrs["value"] == "https://dash11.comm100.io"


def test_switching_sign_in_off_clears_all_three(site: Service) -> None:
    set_up_sign_in(site)
    sign_in(site.client)

    post_form(site.client, f"{PAGE}/comm100-sign-in", {"action": "off"}, from_page=PAGE)

    stored = site.client.get(f"/api/v1/sites/{SITE}/settings", headers=site.admin()).json()
    assert {key: stored["comm100"][key] for key in SIGN_IN} == dict.fromkeys(SIGN_IN)


def test_the_weaker_option_puts_a_new_agent_token_in_the_download_only(site: Service) -> None:
    sign_in(site.client)

    download = post_form(site.client, f"{PAGE}/comm100-app/manifest-with-token", {}, from_page=PAGE)

    assert download.status_code == 200
    url = download.json()["agentConsole"]["widgets"]["chatSideTab"]["url"]
    (token,) = parse_qs(urlsplit(url).query)["token"]
    assert token != "REPLACE_WITH_AGENT_TOKEN"
    # The token works for this site's tab, and is listed (by label, never by value).
    assert site.client.get(f"/console/{SITE}/livechat", params={"token": token}).status_code == 200
    tokens = site.client.get(f"/api/v1/sites/{SITE}/tokens", headers=site.admin()).json()
    assert [t["label"] for t in tokens] == ["Comm100 app manifest"]
    assert token not in json.dumps(tokens)
