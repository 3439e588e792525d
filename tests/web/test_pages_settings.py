"""A site's Optimove page (SPEC 1, administrator stories 1-5): connecting both accounts for
real, the integration settings form, and the webhook URLs. The service runs in-process; the
Optimove and Comm100 sandboxes run as their own processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from optibridge.store.models import CustomerCache
from tests.comm100.conftest import SANDBOX_KEY as COMM100_KEY
from tests.comm100.conftest import Sandbox as Comm100Sandbox
from tests.comm100.conftest import start_sandbox
from tests.web.conftest import SANDBOX_KEY as OPTIMOVE_KEY
from tests.web.conftest import Service
from tests.web.ui_client import (
    Element,
    flash,
    form_values,
    page,
    post_form,
    sign_in,
    unlabelled_controls,
)

SITE = 10000
PAGE = f"/ui/sites/{SITE}"


@pytest.fixture(scope="module")
def comm100_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Comm100Sandbox]:
    yield from start_sandbox(tmp_path_factory.mktemp("comm100") / "sandbox.log")


@pytest.fixture
def comm100(comm100_process: Comm100Sandbox) -> Comm100Sandbox:
    comm100_process.control("POST", "reset")
    return comm100_process


@pytest.fixture
def signed_in(service: Service) -> Service:
    created = service.client.post(
        "/api/v1/sites", json={"site_id": SITE, "name": "Acme"}, headers=service.admin()
    )
    assert created.status_code == 201, created.text
    sign_in(service.client)
    return service


def put_settings(service: Service, document: dict[str, Any]) -> None:
    response = service.client.put(
        f"/api/v1/sites/{SITE}/settings", json=document, headers=service.admin()
    )
    assert response.status_code == 200, response.text


def stored(service: Service) -> dict[str, Any]:
    response = service.client.get(f"/api/v1/sites/{SITE}/settings", headers=service.admin())
    document: dict[str, Any] = response.json()
    return document


def connections(optimove_url: str, comm100: Comm100Sandbox) -> dict[str, Any]:
    return {
        "optimove": {"base_url": optimove_url, "api_key": OPTIMOVE_KEY},
        "comm100": {
            "api_base_url": comm100.api_base_url,
            "agent_email": "agent@example.com",
            "api_key": COMM100_KEY,
        },
    }


def mapping(field: str, source: str, name: str, show: bool = True) -> dict[str, Any]:
    return {
        "optimove_field": field,
        "comm100_field": {"source": source, "name": name},
        "show_in_console": show,
    }


def settings_form(document: Element) -> Element:
    return document.by_id("settings-form")


def options(select: Element) -> dict[str, str]:
    return {o.attrs["value"]: o.text() for o in select.find_all("option")}


def groups(select: Element) -> dict[str, set[str]]:
    return {
        group.attrs["label"]: {o.attrs["value"] for o in group.find_all("option")}
        for group in select.find_all("optgroup")
    }


# --- connect -------------------------------------------------------------------------------------


def test_the_page_labels_every_control_and_never_shows_a_stored_key(
    signed_in: Service, sandbox: httpx.Client, comm100: Comm100Sandbox
) -> None:
    put_settings(signed_in, connections(str(sandbox.base_url), comm100))
    response = signed_in.client.get(PAGE)
    assert response.status_code == 200
    assert OPTIMOVE_KEY not in response.text
    assert COMM100_KEY not in response.text
    document = page(response)
    assert unlabelled_controls(document) == []
    key_field = document.by_id("f-optimove-api_key")
    assert key_field.attrs["type"] == "password"
    assert key_field.attrs["value"] == ""
    assert (
        "Stored: ****-key. Leave empty to keep it."
        in document.by_id("f-optimove-api_key-hint").text()
    )
    assert "Connected: the account has 12 customer attributes." in document.text()


def test_connecting_with_a_wrong_key_says_why_and_saves_nothing(
    signed_in: Service, sandbox: httpx.Client
) -> None:
    response = post_form(
        signed_in.client,
        f"{PAGE}/optimove",
        {"base_url": str(sandbox.base_url), "api_key": "wrong-key-0000"},
        from_page=PAGE,
    )
    assert response.status_code == 502
    assert "wrong-key-0000" not in response.text
    document = page(response)
    result = document.by_id("optimove-connection").find_all("div", role="alert")[0]
    assert result.text().startswith("Connection test failed.")
    assert "Optimove refused the API key" in result.text()
    assert document.by_id("f-optimove-base_url").attrs["value"] == str(sandbox.base_url)
    assert stored(signed_in)["optimove"]["base_url"] is None


def test_connecting_with_the_right_key_saves_the_connection(
    signed_in: Service, sandbox: httpx.Client
) -> None:
    response = post_form(
        signed_in.client,
        f"{PAGE}/optimove",
        {"base_url": str(sandbox.base_url), "api_key": OPTIMOVE_KEY},
        from_page=PAGE,
    )
    assert response.status_code == 303
    assert response.headers["location"] == PAGE
    saved = stored(signed_in)["optimove"]
    assert saved["base_url"] == str(sandbox.base_url)
    assert saved["api_key"] == "****-key"
    document = page(signed_in.client.get(PAGE))
    assert "Optimove account connected: it has 12 customer attributes." in flash(document)


def test_connecting_again_with_an_empty_key_keeps_the_stored_one(
    signed_in: Service, sandbox: httpx.Client, comm100: Comm100Sandbox
) -> None:
    put_settings(signed_in, connections(str(sandbox.base_url), comm100))
    response = post_form(
        signed_in.client,
        f"{PAGE}/optimove",
        {"base_url": str(sandbox.base_url), "api_key": ""},
        from_page=PAGE,
    )
    assert response.status_code == 303
    assert stored(signed_in)["optimove"]["api_key"] == "****-key"


def test_connecting_without_a_base_url_asks_for_it_beside_the_field(signed_in: Service) -> None:
    response = post_form(
        signed_in.client, f"{PAGE}/optimove", {"base_url": "", "api_key": "k"}, from_page=PAGE
    )
    assert response.status_code == 422
    document = page(response)
    assert "Enter the account's Base URL." in document.by_id("f-optimove-base_url-error").text()
    assert document.by_id("f-optimove-base_url").attrs["aria-invalid"] == "true"


def test_an_address_that_is_not_optimove_is_named_as_such(
    signed_in: Service, comm100: Comm100Sandbox
) -> None:
    response = post_form(
        signed_in.client,
        f"{PAGE}/optimove",
        {"base_url": f"{comm100.url}/_sandbox", "api_key": OPTIMOVE_KEY},
        from_page=PAGE,
    )
    assert response.status_code == 502
    assert "not look like" in page(response).by_id("optimove-connection").text()


def test_the_comm100_site_is_connected_after_a_real_test(
    signed_in: Service, comm100: Comm100Sandbox
) -> None:
    wrong = post_form(
        signed_in.client,
        f"{PAGE}/comm100",
        {
            "api_base_url": comm100.api_base_url,
            "agent_email": "agent@example.com",
            "api_key": "wrong-key",
        },
        from_page=PAGE,
    )
    assert wrong.status_code == 502
    assert "Comm100 refused" in page(wrong).by_id("comm100-connection").text()
    assert stored(signed_in)["comm100"]["api_base_url"] is None
    right = post_form(
        signed_in.client,
        f"{PAGE}/comm100",
        {
            "api_base_url": comm100.api_base_url,
            "agent_email": "agent@example.com",
            "api_key": COMM100_KEY,
        },
        from_page=PAGE,
    )
    assert right.status_code == 303
    saved = stored(signed_in)["comm100"]
    assert saved["api_base_url"] == comm100.api_base_url
    assert saved["agent_email"] == "agent@example.com"
    assert saved["api_key"] == "****-key"
    assert "Comm100 site connected" in flash(page(signed_in.client.get(PAGE)))


def test_an_incomplete_comm100_connection_is_reported_beside_its_fields(
    signed_in: Service,
) -> None:
    response = post_form(
        signed_in.client,
        f"{PAGE}/comm100",
        {"api_base_url": "", "agent_email": "", "api_key": ""},
        from_page=PAGE,
    )
    assert response.status_code == 422
    document = page(response)
    assert document.by_id("f-comm100-api_base_url-error").text()
    assert document.by_id("f-comm100-agent_email-error").text()


# --- the field lists --------------------------------------------------------------------------


def test_the_comm100_fields_are_offered_in_comm100s_groups(
    signed_in: Service, sandbox: httpx.Client, comm100: Comm100Sandbox
) -> None:
    put_settings(signed_in, connections(str(sandbox.base_url), comm100))
    document = page(signed_in.client.get(PAGE))
    livechat = groups(document.by_id("f-livechat-identification-0"))
    assert list(livechat) == [
        "System fields",
        "Pre-chat window fields",
        "Offline message window fields",
        "Custom variables",
    ]
    # A pre-chat form's system fields arrive as system fields; custom ones by name.
    assert {"system:name", "system:email", "system:product_service", "prechat:First Name"} <= (
        livechat["Pre-chat window fields"]
    )
    assert {"offline:subject", "offline:content", "offline:Customer ID"} <= livechat[
        "Offline message window fields"
    ]
    assert livechat["Custom variables"] == {"custom_variable:customer_id", "custom_variable:vip"}
    ticketing = groups(document.by_id("f-ticketing-identification-0"))
    assert list(ticketing) == ["Contact fields", "Contact identities"]
    assert {"contact:firstName", "contact:Customer ID", "contact:VIP Level"} <= ticketing[
        "Contact fields"
    ]
    assert "contact:email" not in ticketing["Contact fields"]  # an identity: offered as one
    assert "identity:Email" in ticketing["Contact identities"]


def test_fields_labelled_alike_in_comm100_read_apart_in_a_closed_dropdown(
    signed_in: Service, sandbox: httpx.Client, comm100: Comm100Sandbox
) -> None:
    put_settings(signed_in, connections(str(sandbox.base_url), comm100))
    document = page(signed_in.client.get(PAGE))
    select = document.by_id("f-livechat-field_mapping-0-comm100_field")
    labels = [o.text() for o in select.find_all("option")]
    assert len(labels) == len(set(labels))  # a closed dropdown shows only the label
    assert {"Email (system field)", "Email (pre-chat field)", "Email (offline message field)"} <= (
        set(labels)
    )
    assert "vip (custom variable)" in labels
    ticketing = document.by_id("f-ticketing-field_mapping-0-comm100_field")
    assert "Email (contact identity)" in [o.text() for o in ticketing.find_all("option")]


def test_the_optimove_fields_are_offered_from_the_account(
    signed_in: Service, sandbox: httpx.Client, comm100: Comm100Sandbox
) -> None:
    put_settings(signed_in, connections(str(sandbox.base_url), comm100))
    document = page(signed_in.client.get(PAGE))
    offered = options(document.by_id("f-livechat-field_mapping-0-optimove_field"))
    assert offered["EMAIL"] == "EMAIL — Customer e-mail address"
    assert len(offered) == 13  # 12 attributes and "choose"


def test_without_the_connections_the_fixed_lists_are_offered_and_fields_typed(
    signed_in: Service,
) -> None:
    document = page(signed_in.client.get(PAGE))
    text = document.text()
    assert "Connect the Comm100 site to choose its form fields and variables." in text
    assert "type the fields' names" in text
    livechat = groups(document.by_id("f-livechat-identification-0"))
    assert list(livechat) == ["System fields", "Offline message window fields"]
    field = document.by_id("f-livechat-field_mapping-0-optimove_field")
    assert (field.tag, field.attrs["type"]) == ("input", "text")


# --- saving the integration settings -------------------------------------------------------------


def test_the_form_saves_the_whole_document(
    signed_in: Service, sandbox: httpx.Client, comm100: Comm100Sandbox
) -> None:
    put_settings(signed_in, connections(str(sandbox.base_url), comm100))
    values = form_values(settings_form(page(signed_in.client.get(PAGE))))
    values.update(
        {
            "optimove.web_app_url": "https://acme.optimove.net",
            "livechat.enabled": "on",
            "livechat.field_mapping.0.optimove_field": "EMAIL",
            "livechat.field_mapping.0.comm100_field": "system:email",
            "livechat.field_mapping.1.optimove_field": "FIRST_NAME",
            "livechat.field_mapping.1.comm100_field": "prechat:First Name",
            "livechat.identification.0": "custom_variable:customer_id",
            "livechat.on_chat_end.update": "fill_empty",
            "livechat.on_chat_end.no_match": "auto_create",
            "ticketing.enabled": "on",
            "ticketing.field_mapping.0.optimove_field": "EMAIL",
            "ticketing.field_mapping.0.comm100_field": "identity:Email",
            "ticketing.identification.0": "contact:Customer ID",
            "ticketing.on_ticket_created.update": "overwrite",
            "ticketing.on_ticket_created.no_match": "never",
        }
    )
    del values["livechat.field_mapping.1.show_in_console"]
    response = post_form(signed_in.client, f"{PAGE}/settings", values, from_page=PAGE)
    assert response.status_code == 303, response.text
    document = stored(signed_in)
    assert document["optimove"]["web_app_url"] == "https://acme.optimove.net"
    assert document["optimove"]["api_key"] == "****-key"  # the form never carries keys
    assert document["livechat"] == {
        "enabled": True,
        "field_mapping": [
            mapping("EMAIL", "system", "email"),
            mapping("FIRST_NAME", "prechat", "First Name", show=False),
        ],
        "identification": [{"source": "custom_variable", "name": "customer_id"}],
        "on_chat_end": {"update": "fill_empty", "no_match": "auto_create"},
        "on_offline_message": {"update": "none", "no_match": "agent_create"},
    }
    assert document["ticketing"]["field_mapping"] == [mapping("EMAIL", "identity", "Email")]
    assert document["ticketing"]["on_ticket_created"] == {
        "update": "overwrite",
        "no_match": "never",
    }
    assert "Settings saved." in flash(page(signed_in.client.get(PAGE)))


def mismatched_mapping(service: Service) -> dict[str, str]:
    """The settings form with AGE (Bigint) from the visitor's name, DATE_OF_BIRTH (Date) from
    a text pre-chat field, BALANCE (Decimal) from a number pre-chat field, FIRST_NAME (text)
    from a text one."""
    values = form_values(settings_form(page(service.client.get(PAGE))))
    values.update(
        {
            "livechat.enabled": "on",
            "livechat.field_mapping.0.optimove_field": "AGE",
            "livechat.field_mapping.0.comm100_field": "system:name",
            "livechat.field_mapping.1.optimove_field": "DATE_OF_BIRTH",
            "livechat.field_mapping.1.comm100_field": "prechat:First Name",
            "livechat.field_mapping.2.optimove_field": "BALANCE",
            "livechat.field_mapping.2.comm100_field": "prechat:Balance",
            "livechat.field_mapping.3.optimove_field": "FIRST_NAME",
            "livechat.field_mapping.3.comm100_field": "prechat:First Name",
            "livechat.identification.0": "custom_variable:customer_id",
        }
    )
    return values


def with_a_number_field(comm100: Comm100Sandbox) -> None:
    forms = comm100.control("GET", "forms")
    forms["prechat_fields"].append({"name": "Balance", "type": "number"})
    comm100.control("PUT", "forms", {"prechat_fields": forms["prechat_fields"]})


def with_a_customer_read_before(service: Service, sandbox: httpx.Client) -> None:
    """A customer the site has read: Optimove's attribute list has no types, a read has."""
    sandbox.put("/_sandbox/customers/C-known", json={"EMAIL": "ann@example.com"})
    with service.runtime.unit_of_work() as session:
        session.add(
            CustomerCache(site_id=SITE, customer_id="C-known", found=True, fetched_at=time.time())
        )


def test_saving_a_mapping_whose_types_do_not_fit_warns_naming_the_fields(
    signed_in: Service, sandbox: httpx.Client, comm100: Comm100Sandbox
) -> None:
    with_a_number_field(comm100)
    with_a_customer_read_before(signed_in, sandbox)
    put_settings(signed_in, connections(str(sandbox.base_url), comm100))
    values = mismatched_mapping(signed_in)
    response = post_form(signed_in.client, f"{PAGE}/settings", values, from_page=PAGE)
    assert response.status_code == 303, response.text  # saved all the same
    assert [row["optimove_field"] for row in stored(signed_in)["livechat"]["field_mapping"]] == [
        "AGE",
        "DATE_OF_BIRTH",
        "BALANCE",
        "FIRST_NAME",
    ]
    document = page(signed_in.client.get(PAGE))
    assert flash(document) == (
        "Settings saved, with 2 warnings: values for AGE and DATE_OF_BIRTH may be left out of"
        " Optimove. See the warnings beside Contact Field Mapping."
    )
    warnings = document.by_id("livechat-mapping-warnings")
    items = [item.text() for item in warnings.find_all("li")]
    assert items == [
        "AGE: AGE takes whole numbers in Optimove (Bigint), but system field 'name' is text in"
        " Comm100: a value that isn't a whole number will be left out of Optimove, and the sync"
        " log will say why.",
        "DATE_OF_BIRTH: DATE_OF_BIRTH takes dates in Optimove (Date), but pre-chat field"
        " 'First Name' is text in Comm100: a value that isn't a date will be left out of"
        " Optimove, and the sync log will say why.",
    ]
    [link] = warnings.find_all("li")[0].find_all("a")
    assert link.attrs["href"] == "#f-livechat-field_mapping-0-optimove_field"
    assert document.has_id("f-livechat-field_mapping-0-optimove_field")
    assert not document.has_id("ticketing-mapping-warnings")


def test_one_warning_is_said_in_full_when_saving(
    signed_in: Service, sandbox: httpx.Client, comm100: Comm100Sandbox
) -> None:
    with_a_number_field(comm100)
    with_a_customer_read_before(signed_in, sandbox)
    put_settings(signed_in, connections(str(sandbox.base_url), comm100))
    values = mismatched_mapping(signed_in)
    values["livechat.field_mapping.1.optimove_field"] = "LAST_NAME"
    post_form(signed_in.client, f"{PAGE}/settings", values, from_page=PAGE)
    assert flash(page(signed_in.client.get(PAGE))).startswith(
        "Settings saved, with a warning: AGE takes whole numbers in Optimove (Bigint), but"
        " system field 'name' is text in Comm100"
    )


def test_the_saved_settings_come_back_into_the_form(
    signed_in: Service, sandbox: httpx.Client, comm100: Comm100Sandbox
) -> None:
    put_settings(
        signed_in,
        {
            **connections(str(sandbox.base_url), comm100),
            "livechat": {
                "enabled": True,
                "field_mapping": [mapping("PHONE", "system", "phone", show=False)],
                "identification": [
                    {"source": "custom_variable", "name": "customer_id"},
                    {"source": "system", "name": "email"},
                ],
                "on_offline_message": {"update": "overwrite", "no_match": "never"},
            },
        },
    )
    document = page(signed_in.client.get(PAGE))
    values = form_values(settings_form(document))
    assert values["livechat.enabled"] == "on"
    assert "ticketing.enabled" not in values
    assert values["livechat.field_mapping.0.optimove_field"] == "PHONE"
    assert values["livechat.field_mapping.0.comm100_field"] == "system:phone"
    assert "livechat.field_mapping.0.show_in_console" not in values
    assert values["livechat.identification.0"] == "custom_variable:customer_id"
    assert values["livechat.identification.1"] == "system:email"
    assert values["livechat.on_offline_message.update"] == "overwrite"
    assert values["livechat.on_offline_message.no_match"] == "never"
    summary = document.by_id("f-livechat-identification").text()
    assert "customer_id (custom variable), or else from Email (system field)" in summary


def test_saving_with_problems_shows_each_beside_its_field_and_saves_nothing(
    signed_in: Service, sandbox: httpx.Client, comm100: Comm100Sandbox
) -> None:
    put_settings(signed_in, connections(str(sandbox.base_url), comm100))
    before = stored(signed_in)
    values = form_values(settings_form(page(signed_in.client.get(PAGE))))
    values.update(
        {
            "optimove.customer_url_template": "{web_app_url}/customers",
            "livechat.enabled": "on",
            "livechat.field_mapping.0.optimove_field": "EMAIL",
            "livechat.field_mapping.0.comm100_field": "system:email",
            "livechat.field_mapping.1.optimove_field": "EMAIL",
            "livechat.field_mapping.1.comm100_field": "prechat:First Name",
            "livechat.identification.0": "custom_variable:customer_id",
            "ticketing.enabled": "on",
        }
    )
    response = post_form(signed_in.client, f"{PAGE}/settings", values, from_page=PAGE)
    assert response.status_code == 422
    document = page(response)
    duplicate = document.by_id("f-livechat-field_mapping-1-optimove_field-error").text()
    assert "EMAIL is already mapped" in duplicate
    assert document.by_id("f-livechat-field_mapping-1-optimove_field").attrs[
        "aria-describedby"
    ] == ("f-livechat-field_mapping-1-optimove_field-error")
    assert "at least one rule" in document.by_id("f-ticketing-identification-error").text()
    assert "{customer_id}" in document.by_id("f-optimove-customer_url_template-error").text()
    summary = document.find_all("div", role="alert")[0]
    assert summary.find_all("h2")[0].text() == "The settings were not saved"
    assert {a.attrs["href"] for a in summary.find_all("a")} == {
        "#f-livechat-field_mapping-1-optimove_field",
        "#f-ticketing-identification",
        "#f-optimove-customer_url_template",
    }
    # What was typed stays on the page.
    kept = form_values(settings_form(document))
    assert kept["livechat.field_mapping.1.comm100_field"] == "prechat:First Name"
    assert kept["optimove.customer_url_template"] == "{web_app_url}/customers"
    assert stored(signed_in) == before


def test_blank_rows_are_left_out(
    signed_in: Service, sandbox: httpx.Client, comm100: Comm100Sandbox
) -> None:
    put_settings(signed_in, connections(str(sandbox.base_url), comm100))
    values = form_values(settings_form(page(signed_in.client.get(PAGE))))
    values.update(
        {
            "livechat.field_mapping.0.optimove_field": "",
            "livechat.field_mapping.0.comm100_field": "",
            "livechat.field_mapping.1.optimove_field": "PHONE",
            "livechat.field_mapping.1.comm100_field": "system:phone",
            "livechat.identification.0": "",
        }
    )
    response = post_form(signed_in.client, f"{PAGE}/settings", values, from_page=PAGE)
    assert response.status_code == 303
    document = stored(signed_in)
    assert document["livechat"]["field_mapping"] == [mapping("PHONE", "system", "phone")]
    assert document["livechat"]["identification"] == []


def test_a_row_with_only_one_side_chosen_asks_for_the_other(
    signed_in: Service, sandbox: httpx.Client, comm100: Comm100Sandbox
) -> None:
    put_settings(signed_in, connections(str(sandbox.base_url), comm100))
    values = form_values(settings_form(page(signed_in.client.get(PAGE))))
    values["livechat.field_mapping.0.optimove_field"] = "PHONE"
    response = post_form(signed_in.client, f"{PAGE}/settings", values, from_page=PAGE)
    assert response.status_code == 422
    error = page(response).by_id("f-livechat-field_mapping-0-comm100_field-error").text()
    assert error == "Error: Choose a value."


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("up:livechat.identification.1", ["system:email", "custom_variable:customer_id"]),
        ("down:livechat.identification.0", ["system:email", "custom_variable:customer_id"]),
        ("remove:livechat.identification.0", ["system:email"]),
        ("add:livechat.identification", ["custom_variable:customer_id", "system:email", ""]),
    ],
)
def test_the_row_buttons_work_without_javascript_and_save_nothing(
    signed_in: Service, op: str, expected: list[str]
) -> None:
    put_settings(
        signed_in,
        {
            "livechat": {
                "identification": [
                    {"source": "custom_variable", "name": "customer_id"},
                    {"source": "system", "name": "email"},
                ]
            }
        },
    )
    before = stored(signed_in)
    values = form_values(settings_form(page(signed_in.client.get(PAGE))))
    values = {k: v for k, v in values.items() if not k.startswith("livechat.identification.2")}
    response = post_form(signed_in.client, f"{PAGE}/settings", {**values, "op": op}, from_page=PAGE)
    assert response.status_code == 200
    document = page(response)
    rules = [
        value
        for name, value in sorted(form_values(settings_form(document)).items())
        if name.startswith("livechat.identification.")
    ]
    assert rules[: len(expected)] == expected
    assert "not saved yet" in document.by_id("settings").text()
    assert (
        document.by_id("f-livechat-identification").find_all("details")[0].attrs.get("open")
        is not None
    )
    assert stored(signed_in) == before


def test_an_unknown_row_action_is_refused(signed_in: Service) -> None:
    values = form_values(settings_form(page(signed_in.client.get(PAGE))))
    response = post_form(
        signed_in.client, f"{PAGE}/settings", {**values, "op": "explode:all"}, from_page=PAGE
    )
    assert response.status_code == 400


def test_spare_rows_are_offered_for_browsers_without_javascript(signed_in: Service) -> None:
    document = page(signed_in.client.get(PAGE))
    spare_rows = [
        row
        for row in document.by_id("livechat-field_mapping").find_all("li")
        if "data-spare" in row.attrs
    ]
    assert len(spare_rows) == 2
    assert document.find_all("template")  # the row JavaScript adds


# --- webhooks ----------------------------------------------------------------------------------


def test_the_webhook_urls_are_offered_to_copy(signed_in: Service) -> None:
    urls = signed_in.client.get(f"/api/v1/sites/{SITE}/webhooks", headers=signed_in.admin()).json()
    document = page(signed_in.client.get(PAGE))
    for key in ("livechat", "ticketing"):
        field = document.by_id(f"webhook-{key}")
        assert field.attrs["value"] == urls[key]
        assert "readonly" in field.attrs
        assert document.find_all("button", data_copy=f"webhook-{key}")
