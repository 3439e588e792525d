"""The client's requests and its reading of Comm100's answers (over httpx.MockTransport)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from optibridge.comm100.client import Comm100Client, bucket_for_api_base
from optibridge.comm100.errors import NotComm100ApiError, NotFoundError
from optibridge.comm100.schemas import (
    Contact,
    ContactField,
    CustomVariable,
    FormField,
    Ticket,
)
from optibridge.comm100.webhooks import parse_livechat_webhook, parse_ticket_trigger

from . import bodies
from .fakes import AGENT, API_KEY, CountingLimiter, answer, harness, routes

CONTACT_ID = bodies.CONTACT_ID
CUSTOMER_ID_FIELD = "aaaaaaaa-0000-4000-8000-000000000001"
VIP_FIELD = "aaaaaaaa-0000-4000-8000-000000000002"

CONTACT_FIELDS = [
    {
        "id": "bbbbbbbb-0000-4000-8000-000000000001",
        "name": "firstName",
        "isSystem": True,
        "isIdentity": False,
        "identityType": None,
        "isRequired": False,
        "type": "text",
        "fieldOptions": [],
    },
    {
        "id": "bbbbbbbb-0000-4000-8000-000000000002",
        "name": "email",
        "isSystem": True,
        "isIdentity": True,
        "identityType": "Email",
        "isRequired": False,
        "type": "email",
        "fieldOptions": [],
    },
    {
        "id": CUSTOMER_ID_FIELD,
        "name": "Customer ID",
        "isSystem": False,
        "isIdentity": False,
        "identityType": None,
        "isRequired": False,
        "type": "text",
        "fieldOptions": [],
    },
    {
        "id": VIP_FIELD,
        "name": "VIP Level",
        "isSystem": False,
        "isIdentity": False,
        "identityType": None,
        "isRequired": False,
        "type": "dropdownList",
        "fieldOptions": ["Bronze", "Gold"],
    },
]


def contact_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": CONTACT_ID,
        "name": "Ada Lovelace",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "title": None,
        "company": " Analytical Engines ",
        "phone": "",
        "createdTime": "2024-01-02T03:04:05Z",
        "customFields": [
            {"id": CUSTOMER_ID_FIELD, "value": "C-1001"},
            {"id": VIP_FIELD, "value": "Gold"},
        ],
        "contactIdentities": [
            {
                "id": "i1",
                "contactId": CONTACT_ID,
                "contactIdentityType": "Email",
                "value": "ada@x.org",
            },
            {
                "id": "i2",
                "contactId": CONTACT_ID,
                "contactIdentityType": "Email",
                "value": "ada@y.org",
            },
            {"id": "i3", "contactId": CONTACT_ID, "contactIdentityType": "ssoid", "value": "sso-1"},
            {"id": "i4", "contactId": CONTACT_ID, "contactIdentityType": "visitor", "value": "v-9"},
        ],
        "mergeToContactId": None,
    }
    body.update(extra)
    return body


EXPECTED_CONTACT = Contact(
    CONTACT_ID,
    fields={
        "name": "Ada Lovelace",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "company": "Analytical Engines",
        "Customer ID": "C-1001",
        "VIP Level": "Gold",
        "email": "ada@x.org",
    },
    identities={"Email": "ada@x.org", "SSOID": "sso-1", "visitor": "v-9"},
)

# --- URLs, auth, site ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api11.comm100.io/v4", "https://api11.comm100.io/v4/contact/fields?siteId=10000"),
        ("https://api11.comm100.io/v4/", "https://api11.comm100.io/v4/contact/fields?siteId=10000"),
        (
            " http://127.0.0.1:8000/sandbox/comm100/v4// ",
            "http://127.0.0.1:8000/sandbox/comm100/v4/contact/fields?siteId=10000",
        ),
    ],
)
def test_the_base_url_is_a_prefix_and_every_call_names_the_site(
    base_url: str, expected: str
) -> None:
    h = harness(answer(200, CONTACT_FIELDS), base_url=base_url)
    h.client.contact_fields()
    assert str(h.requests[0].url) == expected


def test_calls_use_basic_auth_with_the_agent_and_key() -> None:
    h = harness(answer(200, CONTACT_FIELDS))
    h.client.check_connection()
    request = h.requests[0]
    scheme, _, token = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(token).decode() == f"{AGENT}:{API_KEY}"
    assert request.headers["Accept"] == "application/json"
    assert API_KEY not in str(request.url)


def test_every_call_takes_a_slot_in_the_hosts_bucket() -> None:
    h = harness(answer(200, CONTACT_FIELDS))
    h.client.contact_fields(refresh=True)
    h.client.check_connection()
    assert h.limiter.buckets == ["comm100:api11.comm100.io"] * 2
    assert h.client.bucket == bucket_for_api_base("https://api11.comm100.io/v4/")


def test_the_bucket_is_shared_by_sites_on_one_host_and_keeps_a_port() -> None:
    assert bucket_for_api_base("http://127.0.0.1:8200/v4") == "comm100:127.0.0.1:8200"
    one = Comm100Client("https://api11.comm100.io/v4", "a@x", "k1", 1, limiter=CountingLimiter())
    two = Comm100Client("https://api11.comm100.io/other", "b@x", "k2", 2, limiter=CountingLimiter())
    assert one.bucket == two.bucket
    one.close()
    two.close()


# --- lists for the mapping editor -------------------------------------------------------------


def test_contact_fields_are_read() -> None:
    fields = harness(answer(200, CONTACT_FIELDS)).client.contact_fields()
    assert fields[1] == ContactField(
        "bbbbbbbb-0000-4000-8000-000000000002",
        "email",
        type="email",
        is_system=True,
        is_identity=True,
        identity_type="Email",
    )
    assert fields[3].options == ("Bronze", "Gold")
    assert [f.name for f in fields] == ["firstName", "email", "Customer ID", "VIP Level"]


def test_check_connection_counts_the_contact_fields() -> None:
    assert harness(answer(200, CONTACT_FIELDS)).client.check_connection() == 4


def test_form_fields_and_custom_variables_are_read() -> None:
    form = [
        {
            "id": "f1",
            "name": "Name",
            "type": "name",
            "isSystem": True,
            "isRequired": True,
            "options": [],
        },
        {
            "id": 7,
            "name": "Plan",
            "type": "dropdownList",
            "isSystem": False,
            "options": ["A", {"value": "B"}],
        },
    ]
    h = harness(
        routes(
            {
                "livechat/preChatFormFields": form,
                "livechat/offlineMessageFormFields": {"fields": form[:1]},
                "livechat/customVariables": [
                    {"name": "vip", "type": "text", "value": "window.vip"}
                ],
            }
        )
    )
    assert h.client.prechat_fields() == [
        FormField("f1", "Name", "name", is_system=True, is_required=True),
        FormField("7", "Plan", "dropdownList", options=("A", "B")),
    ]
    assert h.client.offline_fields() == [FormField("f1", "Name", "name", True, True)]
    assert h.client.custom_variables() == [CustomVariable("vip", "text")]


@pytest.mark.parametrize(
    "body",
    [{"fields": "x"}, [1, 2], [{"id": "x"}], "fields", {"contactFields": None}],
)
def test_a_list_of_another_shape_is_not_a_comm100_api(body: Any) -> None:
    with pytest.raises(NotComm100ApiError, match="GET contact/fields answered an unexpected shape"):
        harness(answer(200, body)).client.contact_fields()


def test_an_html_page_is_not_a_comm100_api() -> None:
    h = harness(answer(200, b"<!DOCTYPE html><html><title>Login</title></html>"))
    with pytest.raises(NotComm100ApiError, match="answered an HTML page"):
        h.client.check_connection()


def test_contact_fields_are_cached_for_a_few_minutes() -> None:
    h = harness(answer(200, CONTACT_FIELDS))
    h.client.contact_fields()
    h.clock.now += 299
    h.client.contact_fields()
    assert len(h.requests) == 1
    h.clock.now += 2
    h.client.contact_fields()
    assert len(h.requests) == 2


# --- contacts ---------------------------------------------------------------------------------


def test_a_contact_has_fields_by_name_and_identities_by_type() -> None:
    h = harness(
        routes({f"contact/contacts/{CONTACT_ID}": contact_body(), "contact/fields": CONTACT_FIELDS})
    )
    assert h.client.get_contact(CONTACT_ID) == EXPECTED_CONTACT


def test_identities_may_be_typed_with_type() -> None:
    body = contact_body()
    for identity in body["contactIdentities"]:
        identity["type"] = identity.pop("contactIdentityType")
    h = harness(routes({f"contact/contacts/{CONTACT_ID}": body, "contact/fields": CONTACT_FIELDS}))
    assert h.client.get_contact(CONTACT_ID) == EXPECTED_CONTACT


@pytest.mark.parametrize(
    ("sent", "canonical"),
    [
        ("EMAIL", "Email"),
        ("sms", "SMS"),
        ("WhatsApp", "whatsApp"),
        ("externalid", "externalID"),
        ("Matrix", "Matrix"),
    ],
)
def test_identity_types_are_spelled_as_comm100_documents_them(sent: str, canonical: str) -> None:
    body = contact_body(
        contactIdentities=[{"contactIdentityType": sent, "value": "v"}], customFields=[]
    )
    h = harness(routes({f"contact/contacts/{CONTACT_ID}": body, "contact/fields": []}))
    contact = h.client.get_contact(CONTACT_ID)
    assert contact is not None
    assert contact.identities == {canonical: "v"}


def test_custom_fields_may_come_as_an_id_value_object() -> None:
    body = contact_body(customFields={CUSTOMER_ID_FIELD.upper(): "C-1001", VIP_FIELD: "Gold"})
    h = harness(routes({f"contact/contacts/{CONTACT_ID}": body, "contact/fields": CONTACT_FIELDS}))
    assert h.client.get_contact(CONTACT_ID) == EXPECTED_CONTACT


def test_a_custom_field_unknown_to_the_cache_reads_the_fields_again_once() -> None:
    new_field = "cccccccc-0000-4000-8000-000000000003"
    fields_then: list[Any] = list(CONTACT_FIELDS)
    fields_now = [*CONTACT_FIELDS, {"id": new_field, "name": "Loyalty", "isSystem": False}]
    served = [fields_then, fields_now]
    contact = contact_body(
        customFields=[{"id": new_field, "value": "high"}, {"id": "gone", "value": "x"}]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("contact/fields"):
            return httpx.Response(200, json=served.pop(0) if len(served) > 1 else served[0])
        return httpx.Response(200, json=contact)

    h = harness(handler)
    h.client.contact_fields()
    found = h.client.get_contact(CONTACT_ID)
    assert found is not None
    assert found.fields["Loyalty"] == "high"
    assert "gone" not in found.fields
    assert h.paths().count("/v4/contact/fields") == 2


def test_a_contact_without_identities_in_its_body_reads_them_separately() -> None:
    body = contact_body()
    identities = body.pop("contactIdentities")
    h = harness(
        routes(
            {
                f"contact/contacts/{CONTACT_ID}": body,
                f"contact/contacts/{CONTACT_ID}/contactIdentities": identities,
                "contact/fields": CONTACT_FIELDS,
            }
        )
    )
    assert h.client.get_contact(CONTACT_ID) == EXPECTED_CONTACT


def test_a_merged_contact_is_followed_to_the_one_it_became() -> None:
    survivor = "dddddddd-0000-4000-8000-000000000004"
    h = harness(
        routes(
            {
                f"contact/contacts/{CONTACT_ID}": contact_body(mergeToContactId=survivor),
                f"contact/contacts/{survivor}": contact_body(id=survivor, name="Ada King"),
                "contact/fields": CONTACT_FIELDS,
            }
        )
    )
    contact = h.client.get_contact(CONTACT_ID)
    assert contact is not None
    assert contact.id == survivor
    assert contact.fields["name"] == "Ada King"


def test_merge_loops_end() -> None:
    other = "dddddddd-0000-4000-8000-000000000004"
    h = harness(
        routes(
            {
                f"contact/contacts/{CONTACT_ID}": contact_body(mergeToContactId=other),
                f"contact/contacts/{other}": contact_body(id=other, mergeToContactId=CONTACT_ID),
                "contact/fields": CONTACT_FIELDS,
            }
        )
    )
    assert h.client.get_contact(CONTACT_ID) is not None
    assert len(h.requests) <= 4


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(404, json={"code": 404, "message": "Contact not found"}),
        httpx.Response(404),
        httpx.Response(200, json=None),
        httpx.Response(200),
    ],
)
def test_an_unknown_contact_is_none(response: httpx.Response) -> None:
    h = harness(lambda _: response)
    assert h.client.get_contact("nobody") is None


def test_an_html_404_for_a_contact_is_not_a_comm100_api() -> None:
    h = harness(answer(404, b"<html><title>Not Found</title></html>"))
    with pytest.raises(NotComm100ApiError, match="404 with an HTML page"):
        h.client.get_contact(CONTACT_ID)


def test_contact_ids_are_quoted_into_the_path() -> None:
    h = harness(answer(404, {"message": "no"}))
    h.client.get_contact("a/b c")
    assert h.requests[0].url.raw_path.startswith(b"/v4/contact/contacts/a%2Fb%20c?")


def test_a_contact_without_an_id_is_not_a_comm100_api() -> None:
    with pytest.raises(NotComm100ApiError, match="the contact: no id"):
        harness(answer(200, {"name": "x"})).client.get_contact(CONTACT_ID)


# --- tickets ----------------------------------------------------------------------------------

TICKET_BODY = {
    "id": 123,
    "subject": " Where is my order? ",
    "channelId": "email",
    "status": "new",
    "priority": "normal",
    "contactOrVisitorId": CONTACT_ID.upper(),
    "contactOrVisitorType": "contact",
}


def test_a_ticket_is_read() -> None:
    h = harness(answer(200, TICKET_BODY))
    assert h.client.get_ticket(123) == Ticket("123", "Where is my order?", CONTACT_ID, "contact")
    assert h.requests[0].url.path == "/v4/ticketing/tickets/123"


def test_an_unknown_ticket_is_not_found() -> None:
    h = harness(answer(404, {"code": 404, "message": "Ticket not found"}))
    with pytest.raises(NotFoundError, match="no ticket 9") as caught:
        h.client.get_ticket("9")
    assert caught.value.status == 404


# --- the ticketing context --------------------------------------------------------------------


def test_a_ticket_context_is_completed_with_the_requesting_contact() -> None:
    h = harness(
        routes({f"contact/contacts/{CONTACT_ID}": contact_body(), "contact/fields": CONTACT_FIELDS})
    )
    event = parse_ticket_trigger(bodies.ticket_trigger_camel("contact"))
    context = h.client.read_ticket_context(event)
    assert dict(context.contact) == EXPECTED_CONTACT.fields
    assert dict(context.identities) == EXPECTED_CONTACT.identities
    assert context.subject_kind == "contact"


def test_a_visitor_requester_reads_nothing() -> None:
    h = harness(answer(500))
    event = parse_ticket_trigger(bodies.ticket_trigger_camel("visitor"))
    assert h.client.read_ticket_context(event) == event.context
    assert h.requests == []


def test_an_open_requester_kind_is_learnt_from_the_ticket() -> None:
    h = harness(
        routes(
            {
                "ticketing/tickets/123": TICKET_BODY,
                f"contact/contacts/{CONTACT_ID}": contact_body(),
                "contact/fields": CONTACT_FIELDS,
            }
        )
    )
    event = parse_ticket_trigger(bodies.ticket_trigger_camel(None))
    context = h.client.read_ticket_context(event)
    assert context.subject_kind == "contact"
    assert context.subject_id == CONTACT_ID
    assert dict(context.identities) == EXPECTED_CONTACT.identities


def test_a_requester_whose_contact_is_gone_has_an_empty_contact() -> None:
    h = harness(answer(404, {"code": 404, "message": "not found"}))
    event = parse_ticket_trigger(bodies.ticket_trigger_camel("contact"))
    context = h.client.read_ticket_context(event)
    assert dict(context.contact) == {}
    assert context.subject_kind == "contact"


def test_a_live_chat_context_is_left_as_it_is() -> None:
    h = harness(answer(500))
    context = parse_livechat_webhook(bodies.chat_ended()).context
    assert h.client.complete_ticket_context(context, "123") == context
    assert h.requests == []
