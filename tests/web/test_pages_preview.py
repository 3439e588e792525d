"""*Preview* on a site's Optimove page (SPEC 4.7, 5.6), as a browser without JavaScript drives it:
the button beside *Save* posts the form as it is on screen and the page comes back with the
form unchanged and a table of what those settings would do. The service runs in-process, the
Optimove sandbox as its own process; conversations are seeded as the webhooks store them."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from optibridge.domain.context import ConversationContext
from tests.store.test_sync_log import add_record
from tests.web.conftest import Service
from tests.web.test_admin_api import SITE, connected_settings, create_site, put_settings
from tests.web.ui_client import Element, form_values, page, post_form, sign_in, unlabelled_controls

PAGE = f"/ui/sites/{SITE}"
PREVIEW = f"{PAGE}/preview"


@pytest.fixture
def signed_in(service: Service) -> Service:
    create_site(service)
    sign_in(service.client)
    return service


def a_chat(service: Service, customer_id: str, email: str) -> int:
    context = ConversationContext(
        channel="livechat",
        event="chat_ended",
        system={"email": email},
        custom_variables={"customer_id": customer_id},
    )
    with service.runtime.unit_of_work() as session:
        return add_record(
            session,
            SITE,
            outcome="unchanged",
            changes=[],
            customer_id=customer_id,
            comm100_ids={"chat_id": f"chat-{customer_id}"},
            context=context.to_json(),
        ).id


def the_form(service: Service) -> dict[str, str]:
    values = form_values(page(service.client.get(PAGE)).by_id("settings-form"))
    del values["csrf_token"]
    return values


def preview(service: Service, values: dict[str, Any]) -> httpx.Response:
    return post_form(service.client, PREVIEW, values, from_page=PAGE)


def rows(document: Element) -> list[Element]:
    return [
        row for row in document.find_all("tr") if row.attrs.get("id", "").startswith("preview-")
    ]


def test_the_preview_button_sits_beside_save_and_posts_the_settings_form(
    signed_in: Service,
) -> None:
    document = page(signed_in.client.get(PAGE))
    form = document.by_id("settings-form")
    buttons = {button.text(): button for button in form.find_all("button")}
    assert buttons["Preview"].attrs["formaction"].startswith(PREVIEW)
    actions = [e for e in form.iter() if "form-actions" in e.attrs.get("class", "")]
    assert {"Save", "Preview"} <= {b.text() for b in actions[0].find_all("button")}
    channel = document.by_id("preview-channel")
    assert [o.attrs["value"] for o in channel.find_all("option")] == ["livechat", "ticketing"]
    assert unlabelled_controls(document) == []


def test_a_preview_shows_what_the_settings_on_screen_would_do_and_saves_nothing(
    signed_in: Service, sandbox: httpx.Client
) -> None:
    document = connected_settings(str(sandbox.base_url))
    document["livechat"]["on_chat_end"] = {"update": "none", "no_match": "never"}
    assert put_settings(signed_in, document).status_code == 200
    sandbox.put("/_sandbox/customers/C-1", json={"EMAIL": "old@example.com"}).raise_for_status()
    record_id = a_chat(signed_in, "C-1", "new@example.com")
    values = {**the_form(signed_in), "livechat.on_chat_end.update": "overwrite"}
    since = time.time()

    response = preview(signed_in, {**values, "preview_channel": "livechat"})

    assert response.status_code == 200, response.text
    shown = page(response)
    [row] = rows(shown)
    assert row.attrs["id"] == f"preview-{record_id}"
    text = row.text()
    assert "C-1" in text
    assert "Updated" in text
    assert "old@example.com → new@example.com" in text
    assert "Nothing was saved or written" in shown.by_id("preview").text()
    # The form comes back as it was on screen; the saved settings are unchanged.
    checked = [
        e.attrs["value"]
        for e in shown.by_id("settings-form").find_all("input", name="livechat.on_chat_end.update")
        if "checked" in e.attrs
    ]
    assert checked == ["overwrite"]
    saved = signed_in.client.get(f"/api/v1/sites/{SITE}/settings", headers=signed_in.admin())
    assert saved.json()["livechat"]["on_chat_end"]["update"] == "none"
    requests = sandbox.get("/_sandbox/requests", params={"since": since}).json()
    assert [r for r in requests if r["method"] != "GET"] == []
    assert unlabelled_controls(shown) == []


def test_settings_save_would_refuse_are_shown_beside_their_fields_and_nothing_is_previewed(
    signed_in: Service, sandbox: httpx.Client
) -> None:
    put_settings(signed_in, connected_settings(str(sandbox.base_url)))
    a_chat(signed_in, "C-1", "new@example.com")
    values = {**the_form(signed_in), "optimove.customer_url_template": "no id here"}

    response = preview(signed_in, {**values, "preview_channel": "livechat"})

    assert response.status_code == 422
    shown = page(response)
    assert "The settings can't be previewed" in shown.text()
    assert "{customer_id}" in shown.text()
    assert rows(shown) == []


def test_without_a_connected_optimove_account_the_preview_says_so(signed_in: Service) -> None:
    a_chat(signed_in, "C-1", "new@example.com")

    response = preview(signed_in, {**the_form(signed_in), "preview_channel": "livechat"})

    assert response.status_code == 409
    assert "not connected" in page(response).by_id("preview").text()


def test_a_channel_without_conversations_says_there_is_nothing_to_preview(
    signed_in: Service, sandbox: httpx.Client
) -> None:
    put_settings(signed_in, connected_settings(str(sandbox.base_url)))

    response = preview(signed_in, {**the_form(signed_in), "preview_channel": "ticketing"})

    assert response.status_code == 200
    card = page(response).by_id("preview")
    assert "nothing to preview" in card.text()
    assert (
        page(response).by_id("preview-channel").find_all("option", selected="")[0].attrs["value"]
        == "ticketing"
    )
