"""The Comm100 sandbox in-process: the v4 API it emulates and its /_sandbox/ control surface.

Each test gets a fresh sandbox reached through httpx's ASGI transport.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI

from optibridge.sandbox.comm100 import create_app

pytestmark = pytest.mark.anyio

KEY = "sandbox-comm100-key"
AGENT = "agent@example.com"
AUTH = httpx.BasicAuth(AGENT, KEY)
SITE = {"siteId": "10000"}
ADA = "2f1e6a3c-0d4b-4a5b-8c9d-0123456789ab"
BOB = "7c9d1e2f-3a4b-4c5d-8e6f-a1b2c3d4e5f6"
VISITOR = "0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d"
CONTACT_KEYS = {
    "id",
    "name",
    "firstName",
    "lastName",
    "alias",
    "title",
    "company",
    "phone",
    "address",
    "city",
    "state",
    "postalCode",
    "country",
    "timezone",
    "description",
    "createdTime",
    "lastUpdatedTime",
    "customFields",
    "contactIdentities",
    "mergeToContactId",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client_for(
    app: FastAPI, base_url: str = "http://sandbox", client_ip: str = "127.0.0.1"
) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url=base_url)


@pytest.fixture
async def sandbox() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app()) as client:
        yield client


async def api(
    client: httpx.AsyncClient, path: str, *, method: str = "GET", json_body: Any = None
) -> httpx.Response:
    """A v4 call with good credentials and the default site."""
    return await client.request(method, path, params=SITE, auth=AUTH, json=json_body)


def ada(**changes: Any) -> dict[str, Any]:
    contact: dict[str, Any] = {
        "name": "Ada Lovelace",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "company": "Analytical Engines",
        "title": "Countess",
        "phone": "+44 20 7946 0000",
        "customFields": [
            {"name": "Customer ID", "value": "C1001"},
            {"name": "VIP Level", "value": "Gold"},
        ],
        "contactIdentities": [
            {"contactIdentityType": "Email", "value": "ada@example.com", "displayName": "Ada"}
        ],
    }
    return contact | changes


async def seed_contact(client: httpx.AsyncClient, contact_id: str, body: Any) -> Any:
    response = await client.put(f"/_sandbox/contacts/{contact_id}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def seed_ticket(client: httpx.AsyncClient, ticket_id: int, **fields: Any) -> None:
    response = await client.put(f"/_sandbox/tickets/{ticket_id}", json=fields)
    assert response.status_code == 200, response.text


def error_pointers(response: httpx.Response) -> list[str]:
    return [d["pointer"] for d in response.json()["error"]["details"]]


# --- authentication and site ------------------------------------------------------------------


async def test_basic_auth_with_the_key_and_a_known_site_is_answered(
    sandbox: httpx.AsyncClient,
) -> None:
    response = await sandbox.get("/v4/contact/fields", params=SITE, auth=AUTH)

    assert response.status_code == 200


async def test_a_call_without_credentials_is_a_json_401_with_a_basic_challenge(
    sandbox: httpx.AsyncClient,
) -> None:
    response = await sandbox.get("/v4/contact/fields", params=SITE)

    assert response.status_code == 401
    assert response.json()["code"] == 401
    assert response.json()["message"]
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_a_wrong_key_is_refused_and_never_echoed(sandbox: httpx.AsyncClient) -> None:
    response = await sandbox.get("/v4/contact/fields", params=SITE, auth=(AGENT, "guess-me-123"))

    assert response.status_code == 401
    assert "guess-me-123" not in response.text


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic " + base64.b64encode(f"agent:{KEY}".encode()).decode(),  # not an e-mail
        "Basic " + base64.b64encode(KEY.encode()).decode(),  # no user at all
        "Basic not-base64!",
        f"Bearer {KEY}",
    ],
)
async def test_anything_but_an_email_and_the_key_over_basic_is_refused(
    sandbox: httpx.AsyncClient, authorization: str
) -> None:
    response = await sandbox.get(
        "/v4/contact/fields", params=SITE, headers={"Authorization": authorization}
    )

    assert response.status_code == 401


async def test_any_agent_email_is_accepted_with_the_key(sandbox: httpx.AsyncClient) -> None:
    response = await sandbox.get(
        "/v4/contact/fields", params=SITE, auth=("someone.else@acme.test", KEY)
    )

    assert response.status_code == 200


async def test_replacing_the_keys_revokes_the_old_one(sandbox: httpx.AsyncClient) -> None:
    await sandbox.put("/_sandbox/keys", json=["key-a", "key-b"])

    old = await sandbox.get("/v4/contact/fields", params=SITE, auth=AUTH)
    new = await sandbox.get("/v4/contact/fields", params=SITE, auth=(AGENT, "key-b"))

    assert (old.status_code, new.status_code) == (401, 200)


@pytest.mark.parametrize("params", [{}, {"siteId": ""}, {"siteId": "abc"}, {"siteId": "-1"}])
async def test_a_missing_or_malformed_site_id_is_a_400(
    sandbox: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await sandbox.get("/v4/contact/fields", params=params, auth=AUTH)

    assert response.status_code == 400
    assert "siteId" in response.json()["message"]


async def test_an_unknown_site_is_a_403_until_it_is_added(sandbox: httpx.AsyncClient) -> None:
    before = await sandbox.get("/v4/contact/fields", params={"siteId": "20000"}, auth=AUTH)
    await sandbox.put("/_sandbox/sites", json=[10000, 20000])
    after = await sandbox.get("/v4/contact/fields", params={"siteId": "20000"}, auth=AUTH)

    assert before.status_code == 403
    assert before.json()["code"] == 403
    assert after.status_code == 200


async def test_the_site_id_parameter_name_is_case_insensitive(
    sandbox: httpx.AsyncClient,
) -> None:
    response = await sandbox.get("/v4/contact/fields", params={"siteid": "10000"}, auth=AUTH)

    assert response.status_code == 200


async def test_credentials_are_checked_before_the_site(sandbox: httpx.AsyncClient) -> None:
    response = await sandbox.get("/v4/contact/fields", params={"siteId": "1"})

    assert response.status_code == 401


# --- contacts ---------------------------------------------------------------------------------


async def test_a_contact_has_the_v4_shape(sandbox: httpx.AsyncClient) -> None:
    await seed_contact(sandbox, ADA, ada())

    response = await api(sandbox, f"/v4/contact/contacts/{ADA}")

    assert response.status_code == 200
    contact = response.json()
    assert set(contact) == CONTACT_KEYS
    assert contact["id"] == ADA
    assert (contact["name"], contact["firstName"], contact["lastName"]) == (
        "Ada Lovelace",
        "Ada",
        "Lovelace",
    )
    assert (contact["company"], contact["title"]) == ("Analytical Engines", "Countess")
    assert contact["alias"] is None
    assert contact["mergeToContactId"] is None
    (identity,) = contact["contactIdentities"]
    assert identity == {
        "id": identity["id"],
        "contactId": ADA,
        "contactIdentityType": "Email",
        "value": "ada@example.com",
        "displayName": "Ada",
    }


async def test_custom_fields_are_given_by_id_and_named_by_contact_fields(
    sandbox: httpx.AsyncClient,
) -> None:
    await seed_contact(sandbox, ADA, ada())

    contact = (await api(sandbox, f"/v4/contact/contacts/{ADA}")).json()
    fields = (await api(sandbox, "/v4/contact/fields")).json()

    names = {f["id"]: f["name"] for f in fields}
    assert all(set(c) == {"id", "value"} for c in contact["customFields"])
    assert {names[c["id"]]: c["value"] for c in contact["customFields"]} == {
        "Customer ID": "C1001",
        "VIP Level": "Gold",
    }


async def test_custom_fields_may_be_seeded_by_id(sandbox: httpx.AsyncClient) -> None:
    fields = (await sandbox.get("/_sandbox/forms")).json()["contact_fields"]
    customer_id = next(f["id"] for f in fields if f["name"] == "Customer ID")

    stored = await seed_contact(
        sandbox, ADA, ada(customFields=[{"id": customer_id.upper(), "value": "C7"}])
    )

    assert stored["customFields"] == [{"id": customer_id, "value": "C7"}]


async def test_the_identity_type_key_can_be_switched_to_type(sandbox: httpx.AsyncClient) -> None:
    await seed_contact(sandbox, ADA, ada())
    await sandbox.put("/_sandbox/behaviour", json={"identity_type_key": "type"})

    contact = (await api(sandbox, f"/v4/contact/contacts/{ADA}")).json()
    identities = (await api(sandbox, f"/v4/contact/contacts/{ADA}/contactIdentities")).json()

    assert contact["contactIdentities"][0]["type"] == "Email"
    assert "contactIdentityType" not in contact["contactIdentities"][0]
    assert identities == contact["contactIdentities"]


async def test_identities_may_be_seeded_with_either_spelling_and_any_case(
    sandbox: httpx.AsyncClient,
) -> None:
    identities = [
        {"type": "email", "value": "ada@example.com"},
        {"contactIdentityType": "SSOID", "value": "sso-1"},
        {"type": "whatsapp", "contactIdentityType": "whatsApp", "value": "+351910000000"},
    ]

    stored = await seed_contact(sandbox, ADA, ada(contactIdentities=identities))

    assert [(i["contactIdentityType"], i["displayName"]) for i in stored["contactIdentities"]] == [
        ("Email", "ada@example.com"),
        ("SSOID", "sso-1"),
        ("whatsApp", "+351910000000"),
    ]


async def test_the_identities_of_a_contact_have_their_own_endpoint(
    sandbox: httpx.AsyncClient,
) -> None:
    await seed_contact(sandbox, ADA, ada())

    response = await api(sandbox, f"/v4/contact/contacts/{ADA}/contactIdentities")

    assert response.status_code == 200
    assert [i["value"] for i in response.json()] == ["ada@example.com"]


@pytest.mark.parametrize("contact_id", [BOB, "not-a-guid"])
async def test_an_unknown_contact_is_a_json_404(
    sandbox: httpx.AsyncClient, contact_id: str
) -> None:
    response = await api(sandbox, f"/v4/contact/contacts/{contact_id}")

    assert response.status_code == 404
    assert response.json()["code"] == 404


async def test_a_contact_id_matches_in_any_case(sandbox: httpx.AsyncClient) -> None:
    await seed_contact(sandbox, ADA, ada())

    response = await api(sandbox, f"/v4/contact/contacts/{ADA.upper()}")

    assert response.json()["id"] == ADA


async def test_a_merged_contact_names_the_contact_it_was_merged_into(
    sandbox: httpx.AsyncClient,
) -> None:
    await seed_contact(sandbox, ADA, ada())
    await seed_contact(sandbox, BOB, {"name": "Ada (old)", "mergeToContactId": ADA})

    response = await api(sandbox, f"/v4/contact/contacts/{BOB}")

    assert response.json()["mergeToContactId"] == ADA
    assert response.json()["contactIdentities"] == []


# --- contacts:query ---------------------------------------------------------------------------


async def seed_two(client: httpx.AsyncClient) -> None:
    await seed_contact(client, ADA, ada())
    await seed_contact(
        client,
        BOB,
        {
            "name": "Bob Babbage",
            "company": "Difference Engines",
            "customFields": [{"name": "Customer ID", "value": "C2002"}],
            "contactIdentities": [
                {"type": "Email", "value": "bob@example.com"},
                {"type": "SMS", "value": "+15550100"},
            ],
        },
    )


async def query(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await api(client, "/v4/contact/contacts:query", method="POST", json_body=body)


async def found_names(client: httpx.AsyncClient, body: Any) -> list[str]:
    response = await query(client, body)
    assert response.status_code == 200, response.text
    return [c["name"] for c in response.json()]


async def test_a_query_by_identity_value_ignores_case_and_spaces(
    sandbox: httpx.AsyncClient,
) -> None:
    await seed_two(sandbox)

    assert await found_names(sandbox, {"identityValue": " ADA@example.com "}) == ["Ada Lovelace"]


async def test_a_query_by_identity_can_name_the_identity_type(
    sandbox: httpx.AsyncClient,
) -> None:
    await seed_two(sandbox)

    as_sms = await found_names(sandbox, {"identityType": "SMS", "identityValue": "+15550100"})
    as_email = await found_names(sandbox, {"identityType": "Email", "identityValue": "+15550100"})

    assert (as_sms, as_email) == (["Bob Babbage"], [])


async def test_a_query_by_custom_field_name_or_id_finds_by_value(
    sandbox: httpx.AsyncClient,
) -> None:
    await seed_two(sandbox)
    fields = (await api(sandbox, "/v4/contact/fields")).json()
    customer_id = next(f["id"] for f in fields if f["name"] == "Customer ID")

    by_name = await found_names(sandbox, {"fieldName": "Customer ID", "fieldValue": "c2002"})
    by_id = await found_names(sandbox, {"fieldId": customer_id, "fieldValue": "C1001"})

    assert (by_name, by_id) == (["Bob Babbage"], ["Ada Lovelace"])


async def test_a_query_by_system_or_identity_field(sandbox: httpx.AsyncClient) -> None:
    await seed_two(sandbox)

    by_company = await found_names(
        sandbox, {"fieldName": "company", "fieldValue": "difference engines"}
    )
    by_email_field = await found_names(
        sandbox, {"fieldName": "email", "fieldValue": "ada@example.com"}
    )

    assert (by_company, by_email_field) == (["Bob Babbage"], ["Ada Lovelace"])


async def test_a_query_by_keywords_searches_names_companies_and_identities(
    sandbox: httpx.AsyncClient,
) -> None:
    await seed_two(sandbox)

    assert await found_names(sandbox, {"keywords": "engines"}) == [
        "Ada Lovelace",
        "Bob Babbage",
    ]
    assert await found_names(sandbox, {"keywords": "bob@"}) == ["Bob Babbage"]


async def test_criteria_combine_and_an_empty_query_finds_everyone(
    sandbox: httpx.AsyncClient,
) -> None:
    await seed_two(sandbox)

    assert await found_names(sandbox, {}) == ["Ada Lovelace", "Bob Babbage"]
    assert await found_names(sandbox, {"keywords": "engines", "identityValue": "x@y.z"}) == []


async def test_a_query_without_a_body_finds_everyone(sandbox: httpx.AsyncClient) -> None:
    await seed_two(sandbox)

    response = await sandbox.post("/v4/contact/contacts:query", params=SITE, auth=AUTH)

    assert len(response.json()) == 2


async def test_a_query_pages(sandbox: httpx.AsyncClient) -> None:
    await seed_two(sandbox)

    second = await found_names(sandbox, {"pageIndex": 2, "pageSize": 1})

    assert second == ["Bob Babbage"]


async def test_a_query_can_answer_an_envelope(sandbox: httpx.AsyncClient) -> None:
    await seed_two(sandbox)
    await sandbox.put("/_sandbox/behaviour", json={"query_result": "envelope"})

    response = await query(sandbox, {"pageSize": 1})

    assert response.json()["total"] == 2
    assert [c["name"] for c in response.json()["contacts"]] == ["Ada Lovelace"]


async def test_a_merged_contact_is_never_found(sandbox: httpx.AsyncClient) -> None:
    await seed_contact(sandbox, ADA, ada())
    await seed_contact(
        sandbox, BOB, ada(name="Ada (old)", contactIdentities=[], mergeToContactId=ADA)
    )

    assert await found_names(sandbox, {"fieldName": "Customer ID", "fieldValue": "C1001"}) == [
        "Ada Lovelace"
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "ada@example.com"},
        {"identityValue": 42},
        {"fieldName": "Shoe Size", "fieldValue": "42"},
        {"fieldName": "Customer ID"},
        {"pageSize": 101},
    ],
)
async def test_an_invalid_query_is_a_400_saying_why(sandbox: httpx.AsyncClient, body: Any) -> None:
    response = await query(sandbox, body)

    assert response.status_code == 400
    assert response.json()["code"] == 400
    assert response.json()["message"]


async def test_an_unparseable_query_is_a_400(sandbox: httpx.AsyncClient) -> None:
    response = await sandbox.post(
        "/v4/contact/contacts:query",
        params=SITE,
        auth=AUTH,
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400


# --- fields and forms -------------------------------------------------------------------------


async def test_contact_fields_list_system_identity_and_custom_fields(
    sandbox: httpx.AsyncClient,
) -> None:
    fields = (await api(sandbox, "/v4/contact/fields")).json()

    assert all(
        set(f)
        == {
            "id",
            "name",
            "isSystem",
            "isIdentity",
            "identityType",
            "isRequired",
            "type",
            "fieldOptions",
        }
        for f in fields
    )
    by_name = {f["name"]: f for f in fields}
    assert {"name", "firstName", "lastName", "company", "title", "phone"} <= set(by_name)
    assert by_name["name"]["isRequired"] is True
    assert (by_name["email"]["isIdentity"], by_name["email"]["identityType"]) == (True, "Email")
    assert by_name["company"]["identityType"] is None
    assert by_name["Customer ID"]["isSystem"] is False
    assert by_name["VIP Level"]["fieldOptions"] == ["Bronze", "Silver", "Gold"]
    assert len({f["id"] for f in fields}) == len(fields)


async def test_prechat_form_fields_have_system_and_custom_fields(
    sandbox: httpx.AsyncClient,
) -> None:
    fields = (await api(sandbox, "/v4/livechat/preChatFormFields")).json()

    assert all(
        set(f) == {"id", "name", "type", "isSystem", "isRequired", "options"} for f in fields
    )
    assert [(f["type"], f["isSystem"]) for f in fields if f["isSystem"]] == [
        ("name", True),
        ("email", True),
        ("phone", True),
        ("company", True),
        ("product", True),
    ]
    assert [f["name"] for f in fields if not f["isSystem"]] == ["First Name", "Customer ID"]


async def test_offline_message_form_fields_have_subject_and_content(
    sandbox: httpx.AsyncClient,
) -> None:
    fields = (await api(sandbox, "/v4/livechat/offlineMessageFormFields")).json()

    assert [f["type"] for f in fields if f["isSystem"]] == [
        "name",
        "email",
        "phone",
        "company",
        "subject",
        "content",
    ]
    assert [f["name"] for f in fields if not f["isSystem"]] == ["First Name", "Customer ID"]


async def test_custom_variables_have_name_type_and_value(sandbox: httpx.AsyncClient) -> None:
    variables = (await api(sandbox, "/v4/livechat/customVariables")).json()

    assert variables == [
        {"name": "customer_id", "type": "text", "value": ""},
        {"name": "vip", "type": "text", "value": ""},
    ]


async def test_putting_forms_replaces_only_the_lists_given(sandbox: httpx.AsyncClient) -> None:
    before = (await sandbox.get("/_sandbox/forms")).json()

    response = await sandbox.put(
        "/_sandbox/forms",
        json={
            "prechat_fields": [{"name": "Email", "type": "email", "isSystem": True}],
            "custom_variables": [{"name": "plan", "value": "pro"}],
            "contact_fields": [{"name": "Loyalty Tier", "type": "dropdownList"}],
        },
    )
    prechat = (await api(sandbox, "/v4/livechat/preChatFormFields")).json()
    variables = (await api(sandbox, "/v4/livechat/customVariables")).json()
    contact_fields = (await api(sandbox, "/v4/contact/fields")).json()
    offline = (await api(sandbox, "/v4/livechat/offlineMessageFormFields")).json()

    assert response.status_code == 200
    assert [(f["name"], f["isSystem"], f["isRequired"], f["options"]) for f in prechat] == [
        ("Email", True, False, [])
    ]
    assert variables == [{"name": "plan", "type": "text", "value": "pro"}]
    assert [f["name"] for f in contact_fields if not f["isSystem"]] == ["Loyalty Tier"]
    assert offline == before["offline_fields"]


async def test_a_field_keeps_its_derived_id_when_put_again(sandbox: httpx.AsyncClient) -> None:
    before = (await sandbox.get("/_sandbox/forms")).json()["contact_fields"]

    await sandbox.put("/_sandbox/forms", json={"contact_fields": [{"name": "Customer ID"}]})
    after = (await sandbox.get("/_sandbox/forms")).json()["contact_fields"]

    assert after[0]["id"] == next(f["id"] for f in before if f["name"] == "Customer ID")


async def test_invalid_forms_are_refused_as_a_whole(sandbox: httpx.AsyncClient) -> None:
    before = (await sandbox.get("/_sandbox/forms")).json()

    response = await sandbox.put(
        "/_sandbox/forms",
        json={
            "prechat_fields": [{"name": "A", "type": "text"}, {"name": "a", "type": "text"}],
            "contact_fields": [{"name": "firstName"}],
        },
    )

    assert response.status_code == 422
    assert set(error_pointers(response)) >= {
        "/prechat_fields/1/name",
        "/contact_fields/0/name",
    }
    assert (await sandbox.get("/_sandbox/forms")).json() == before


# --- tickets ----------------------------------------------------------------------------------


async def test_a_ticket_requested_by_a_contact(sandbox: httpx.AsyncClient) -> None:
    await seed_ticket(
        sandbox,
        123,
        subject="Refund",
        contactOrVisitorId=ADA,
        contactOrVisitorType="contact",
        priority="high",
    )

    response = await api(sandbox, "/v4/ticketing/tickets/123")

    assert response.status_code == 200
    ticket = response.json()
    assert {k: ticket[k] for k in ticket if k not in {"createdTime", "lastUpdatedTime"}} == {
        "id": 123,
        "subject": "Refund",
        "channelId": "email",
        "status": "new",
        "priority": "high",
        "contactOrVisitorId": ADA,
        "contactOrVisitorType": "contact",
    }


async def test_a_ticket_requested_by_a_visitor(sandbox: httpx.AsyncClient) -> None:
    await seed_ticket(sandbox, 7, contactOrVisitorId=VISITOR, contactOrVisitorType="visitor")

    ticket = (await api(sandbox, "/v4/ticketing/tickets/7")).json()

    assert (ticket["contactOrVisitorType"], ticket["contactOrVisitorId"]) == ("visitor", VISITOR)


@pytest.mark.parametrize("ticket_id", ["404", "abc"])
async def test_an_unknown_ticket_is_a_json_404(sandbox: httpx.AsyncClient, ticket_id: str) -> None:
    response = await api(sandbox, f"/v4/ticketing/tickets/{ticket_id}")

    assert response.status_code == 404
    assert response.json()["code"] == 404


@pytest.mark.parametrize(
    "body",
    [
        {"contactOrVisitorId": ADA},
        {"contactOrVisitorId": ADA, "contactOrVisitorType": "agent"},
        {"contactOrVisitorId": "x", "contactOrVisitorType": "contact"},
        {"contactOrVisitorId": ADA, "contactOrVisitorType": "contact", "status": "open"},
        {"contactOrVisitorId": ADA, "contactOrVisitorType": "contact", "id": 8},
    ],
)
async def test_an_invalid_ticket_is_refused_with_422(sandbox: httpx.AsyncClient, body: Any) -> None:
    response = await sandbox.put("/_sandbox/tickets/7", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"


# --- routing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v4/contact/contacts/{id}",
        "/V4/Contact/Contacts/{id}",
        "/v4/CONTACT/CONTACTS/{id}/",
    ],
)
async def test_fixed_path_segments_are_case_insensitive(
    sandbox: httpx.AsyncClient, path: str
) -> None:
    await seed_contact(sandbox, ADA, ada())

    response = await api(sandbox, path.format(id=ADA))

    assert response.status_code == 200


async def test_the_query_verb_is_case_insensitive_too(sandbox: httpx.AsyncClient) -> None:
    response = await api(sandbox, "/v4/Contact/Contacts:Query", method="POST", json_body={})

    assert response.status_code == 200


async def test_an_unknown_path_is_a_json_404(sandbox: httpx.AsyncClient) -> None:
    response = await api(sandbox, "/v4/contact/companies")

    assert response.status_code == 404
    assert response.json()["code"] == 404


async def test_a_wrong_verb_on_a_known_path_is_405_naming_the_right_one(
    sandbox: httpx.AsyncClient,
) -> None:
    wrong = await api(sandbox, "/v4/contact/contacts:query")
    also_wrong = await api(sandbox, "/v4/contact/fields", method="POST", json_body={})

    assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
    assert (also_wrong.status_code, also_wrong.headers["allow"]) == (405, "GET")


# --- rate limit -------------------------------------------------------------------------------


async def test_calls_over_the_limit_get_a_json_429(sandbox: httpx.AsyncClient) -> None:
    await sandbox.put("/_sandbox/limits", json={"requests": 3})

    statuses = [(await api(sandbox, "/v4/contact/fields")).status_code for _ in range(5)]
    refused = await api(sandbox, "/v4/contact/fields")

    assert statuses == [200, 200, 200, 429, 429]
    assert refused.json()["code"] == 429


async def test_the_default_limit_is_300_calls_per_5_minutes(sandbox: httpx.AsyncClient) -> None:
    limits = (await sandbox.get("/_sandbox/limits")).json()

    statuses = [(await api(sandbox, "/v4/contact/fields")).status_code for _ in range(301)]

    assert limits == {"requests": 300, "window_seconds": 300}
    assert statuses == [200] * 300 + [429]


async def test_the_limit_is_per_client_ip() -> None:
    app = create_app()
    async with (
        client_for(app, client_ip="10.0.0.1") as first,
        client_for(app, client_ip="10.0.0.2") as second,
    ):
        await first.put("/_sandbox/limits", json={"requests": 1})
        statuses = [
            (await api(first, "/v4/contact/fields")).status_code,
            (await api(first, "/v4/contact/fields")).status_code,
            (await api(second, "/v4/contact/fields")).status_code,
        ]

    assert statuses == [200, 429, 200]


async def test_calls_with_bad_credentials_count_against_the_limit(
    sandbox: httpx.AsyncClient,
) -> None:
    await sandbox.put("/_sandbox/limits", json={"requests": 2})

    unauthenticated = (await sandbox.get("/v4/contact/fields", params=SITE)).status_code
    good = (await api(sandbox, "/v4/contact/fields")).status_code
    over = (await api(sandbox, "/v4/contact/fields")).status_code

    assert (unauthenticated, good, over) == (401, 200, 429)


async def test_the_window_slides_and_refused_calls_do_not_extend_it(
    sandbox: httpx.AsyncClient,
) -> None:
    await sandbox.put("/_sandbox/limits", json={"requests": 1, "window_seconds": 0.2})
    first = (await api(sandbox, "/v4/contact/fields")).status_code
    hammering = [(await api(sandbox, "/v4/contact/fields")).status_code for _ in range(3)]

    await anyio.sleep(0.25)
    later = (await api(sandbox, "/v4/contact/fields")).status_code

    assert (first, hammering, later) == (200, [429] * 3, 200)


async def test_the_control_surface_is_never_limited(sandbox: httpx.AsyncClient) -> None:
    await sandbox.put("/_sandbox/limits", json={"requests": 1})

    statuses = [(await sandbox.get("/_sandbox/limits")).status_code for _ in range(5)]

    assert statuses == [200] * 5


# --- faults -----------------------------------------------------------------------------------


async def test_an_error_rate_of_one_answers_500_or_503(sandbox: httpx.AsyncClient) -> None:
    await sandbox.put("/_sandbox/faults", json={"error_rate": 1.0, "seed": 7})

    responses = [await api(sandbox, "/v4/contact/fields") for _ in range(20)]

    assert {r.status_code for r in responses} == {500, 503}
    assert next(r for r in responses if r.status_code == 500).json()["code"] == 500
    assert next(r for r in responses if r.status_code == 503).text == "Service Unavailable"


async def test_an_injected_429_looks_like_the_real_one(sandbox: httpx.AsyncClient) -> None:
    await sandbox.put("/_sandbox/faults", json={"rate_429": 1.0})

    response = await api(sandbox, "/v4/contact/fields")

    assert response.status_code == 429
    assert response.json()["code"] == 429


async def test_latency_delays_every_answer(sandbox: httpx.AsyncClient) -> None:
    await sandbox.put("/_sandbox/faults", json={"latency_ms": 100})

    started = time.monotonic()
    refused = await sandbox.get("/v4/contact/fields", params=SITE)

    assert refused.status_code == 401
    assert time.monotonic() - started >= 0.1


async def test_a_hang_lasts_timeout_ms_then_answers(sandbox: httpx.AsyncClient) -> None:
    await sandbox.put("/_sandbox/faults", json={"timeout_rate": 1.0, "timeout_ms": 150})

    started = time.monotonic()
    response = await api(sandbox, "/v4/contact/fields")

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.15


async def test_a_seeded_run_repeats() -> None:
    async def statuses() -> list[int]:
        async with client_for(create_app()) as client:
            await client.put("/_sandbox/faults", json={"error_rate": 0.5, "seed": 42})
            return [(await api(client, "/v4/contact/fields")).status_code for _ in range(20)]

    first, second = await statuses(), await statuses()

    assert first == second
    assert 200 in first
    assert {500, 503} & set(first)


async def test_faults_are_set_partially_and_checked(sandbox: httpx.AsyncClient) -> None:
    await sandbox.put("/_sandbox/faults", json={"latency_ms": 5})
    changed = await sandbox.put("/_sandbox/faults", json={"error_rate": 0.25})
    refused = await sandbox.put("/_sandbox/faults", json={"error_rate": 1.5})

    assert changed.json() == {
        "latency_ms": 5.0,
        "error_rate": 0.25,
        "rate_429": 0.0,
        "timeout_rate": 0.0,
        "timeout_ms": 30000.0,
        "seed": None,
    }
    assert refused.status_code == 422
    assert error_pointers(refused) == ["/error_rate"]


# --- the request log --------------------------------------------------------------------------


async def test_the_request_log_records_calls_but_never_the_key(
    sandbox: httpx.AsyncClient,
) -> None:
    await seed_contact(sandbox, ADA, ada())
    await api(sandbox, f"/v4/contact/contacts/{ADA}")
    await sandbox.get("/v4/contact/fields", params=SITE, auth=(AGENT, "wrong-key-xyz"))
    await query(sandbox, {"keywords": "ada"})

    log = (await sandbox.get("/_sandbox/requests")).json()

    assert [(e["method"], e["path"], e["query"], e["status"]) for e in log] == [
        ("GET", f"/v4/contact/contacts/{ADA}", "siteId=10000", 200),
        ("GET", "/v4/contact/fields", "siteId=10000", 401),
        ("POST", "/v4/contact/contacts:query", "siteId=10000", 200),
    ]
    assert log[0]["user"] == AGENT
    assert log[2]["body"] == {"keywords": "ada"}
    assert all(isinstance(e["time"], float) for e in log)
    text = json.dumps(log)
    for secret in (KEY, "wrong-key-xyz", base64.b64encode(f"{AGENT}:{KEY}".encode()).decode()):
        assert secret not in text


async def test_the_request_log_can_be_read_since_a_time_and_cleared(
    sandbox: httpx.AsyncClient,
) -> None:
    await api(sandbox, "/v4/contact/fields")
    mark = (await sandbox.get("/_sandbox/requests")).json()[-1]["time"]
    await api(sandbox, "/v4/livechat/customVariables")

    since = (await sandbox.get("/_sandbox/requests", params={"since": mark})).json()
    cleared = await sandbox.delete("/_sandbox/requests")

    assert [e["path"] for e in since] == ["/v4/livechat/customVariables"]
    assert cleared.status_code == 204
    assert (await sandbox.get("/_sandbox/requests")).json() == []


async def test_control_calls_are_not_logged(sandbox: httpx.AsyncClient) -> None:
    await sandbox.get("/_sandbox/forms")
    await sandbox.put("/_sandbox/behaviour", json={"query_result": "list"})

    assert (await sandbox.get("/_sandbox/requests")).json() == []


# --- reset ------------------------------------------------------------------------------------


async def test_reset_brings_back_every_default(sandbox: httpx.AsyncClient) -> None:
    defaults = {
        path: (await sandbox.get(f"/_sandbox/{path}")).json()
        for path in (
            "forms",
            "keys",
            "sites",
            "limits",
            "faults",
            "behaviour",
            "agents",
            "oauth/clients",
            "oauth/clock",
        )
    }
    await seed_contact(sandbox, ADA, ada())
    await seed_ticket(sandbox, 1, contactOrVisitorId=ADA, contactOrVisitorType="contact")
    await sandbox.put("/_sandbox/forms", json={"custom_variables": []})
    await sandbox.put("/_sandbox/keys", json=["other"])
    await sandbox.put("/_sandbox/sites", json=[1])
    await sandbox.put("/_sandbox/limits", json={"requests": 1})
    await sandbox.put("/_sandbox/faults", json={"latency_ms": 1})
    await sandbox.put("/_sandbox/behaviour", json={"identity_type_key": "type"})
    await sandbox.put("/_sandbox/agents", json=[])
    client = {"clientId": "c", "clientSecret": "s", "redirectUris": ["http://a/"], "siteId": 1}
    await sandbox.put("/_sandbox/oauth/clients", json=[client])
    await sandbox.put("/_sandbox/oauth/clock", json={"offset_seconds": 60})
    await sandbox.put(
        "/_sandbox/webhooks",
        json=[{"siteId": 10000, "event": "chatEnds", "targetUrl": "https://x.example/"}],
    )
    await api(sandbox, "/v4/contact/fields")

    response = await sandbox.post("/_sandbox/reset")

    assert response.status_code == 200
    for path, default in defaults.items():
        assert (await sandbox.get(f"/_sandbox/{path}")).json() == default, path
    assert (await sandbox.get("/_sandbox/contacts")).json() == []
    assert (await sandbox.get("/_sandbox/tickets")).json() == []
    assert (await sandbox.get("/_sandbox/webhooks")).json() == []
    assert (await sandbox.get("/_sandbox/requests")).json() == []
    assert defaults["keys"] == [KEY]
    assert defaults["sites"] == [10000]
    assert defaults["behaviour"] == {
        "identity_type_key": "contactIdentityType",
        "query_result": "list",
        "userinfo_is_admin": False,
        "manage_integration": True,
    }
    assert [agent["email"] for agent in defaults["agents"]] == [
        "agent@example.com",
        "admin@example.com",
    ]
    assert defaults["oauth/clients"] == []


# --- control surface: contacts ----------------------------------------------------------------


async def test_contacts_are_listed_read_and_deleted(sandbox: httpx.AsyncClient) -> None:
    stored = await seed_contact(sandbox, ADA, ada())

    listed = (await sandbox.get("/_sandbox/contacts")).json()
    read = (await sandbox.get(f"/_sandbox/contacts/{ADA}")).json()
    deleted = await sandbox.delete(f"/_sandbox/contacts/{ADA}")
    gone = await sandbox.get(f"/_sandbox/contacts/{ADA}")
    from_api = await api(sandbox, f"/v4/contact/contacts/{ADA}")

    assert listed == [stored]
    assert read == stored
    assert deleted.status_code == 204
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    assert from_api.status_code == 404


async def test_putting_a_contact_again_replaces_it_and_keeps_its_creation_time(
    sandbox: httpx.AsyncClient,
) -> None:
    first = await seed_contact(sandbox, ADA, ada())

    second = await seed_contact(sandbox, ADA, ada(company=None, customFields=[]))

    assert second["company"] is None
    assert second["customFields"] == []
    assert second["createdTime"] == first["createdTime"]


async def test_a_contact_needs_a_name_and_an_identity(sandbox: httpx.AsyncClient) -> None:
    nameless = await sandbox.put(f"/_sandbox/contacts/{ADA}", json={"contactIdentities": []})
    without_identity = await sandbox.put(
        f"/_sandbox/contacts/{ADA}", json=ada(contactIdentities=[])
    )

    assert nameless.status_code == 422
    assert "/name" in error_pointers(nameless)
    assert without_identity.status_code == 422
    assert error_pointers(without_identity) == ["/contactIdentities"]


async def test_two_contacts_cannot_share_an_identity(sandbox: httpx.AsyncClient) -> None:
    await seed_contact(sandbox, ADA, ada())

    response = await sandbox.put(
        f"/_sandbox/contacts/{BOB}",
        json={"name": "Bob", "contactIdentities": [{"type": "Email", "value": "ADA@example.com"}]},
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert error_pointers(response) == ["/contactIdentities/0/value"]


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"customFields": [{"name": "Shoe Size", "value": "42"}]}, "/customFields/0/name"),
        ({"customFields": [{"name": "company", "value": "x"}]}, "/customFields/0/name"),
        ({"customFields": [{"id": BOB, "value": "x"}]}, "/customFields/0/id"),
        ({"customFields": [{"value": "x"}]}, "/customFields/0"),
        ({"contactIdentities": [{"type": "Pager", "value": "1"}]}, "/contactIdentities/0"),
        ({"contactIdentities": [{"value": "a@b.c"}]}, "/contactIdentities/0"),
        ({"contactIdentities": [{"type": "Email", "value": ""}]}, "/contactIdentities/0/value"),
        (
            {"contactIdentities": [{"type": "Email", "contactId": BOB, "value": "a@b.c"}]},
            "/contactIdentities/0/contactId",
        ),
        ({"id": BOB}, "/id"),
        ({"phone": 123}, "/phone"),
        ({"nickname": "Ada"}, "/nickname"),
    ],
)
async def test_an_invalid_contact_is_refused_with_a_pointer(
    sandbox: httpx.AsyncClient, changes: dict[str, Any], pointer: str
) -> None:
    response = await sandbox.put(f"/_sandbox/contacts/{ADA}", json=ada(**changes))

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"
    assert pointer in error_pointers(response)
    assert (await sandbox.get("/_sandbox/contacts")).json() == []


async def test_a_contact_id_must_be_a_guid(sandbox: httpx.AsyncClient) -> None:
    response = await sandbox.put("/_sandbox/contacts/ada", json=ada())

    assert response.status_code == 422


async def test_an_unparseable_control_body_is_a_400(sandbox: httpx.AsyncClient) -> None:
    response = await sandbox.put(
        f"/_sandbox/contacts/{ADA}",
        content=b"{oops",
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed"


# --- control surface: knobs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("keys", [""]),
        ("keys", "sandbox-comm100-key"),
        ("sites", ["10000"]),
        ("sites", [0]),
        ("limits", {"requests": 0}),
        ("limits", {"window_seconds": -1}),
        ("faults", {"timeout_ms": -1}),
        ("faults", {"surprise": 1}),
        ("behaviour", {"identity_type_key": "kind"}),
        ("behaviour", {"query_result": "page"}),
    ],
)
async def test_invalid_knobs_are_refused_with_422(
    sandbox: httpx.AsyncClient, path: str, body: Any
) -> None:
    response = await sandbox.put(f"/_sandbox/{path}", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"


async def test_an_unknown_control_path_is_404_and_a_wrong_verb_405(
    sandbox: httpx.AsyncClient,
) -> None:
    unknown = await sandbox.get("/_sandbox/customers")
    wrong_verb = await sandbox.delete("/_sandbox/keys")

    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    assert wrong_verb.status_code == 405
    assert wrong_verb.headers["allow"] == "GET, PUT"


# --- mounted ----------------------------------------------------------------------------------


async def test_the_sandbox_works_mounted_under_a_prefix() -> None:
    outer = FastAPI()
    outer.mount("/sandbox/comm100", create_app())
    async with client_for(outer, base_url="http://demo/sandbox/comm100/") as client:
        await seed_contact(client, ADA, ada())

        read = await client.get(f"v4/contact/contacts/{ADA}", params=SITE, auth=AUTH)
        found = await client.post(
            "v4/contact/contacts:query", params=SITE, auth=AUTH, json={"keywords": "ada"}
        )
        missing = await client.get("v4/contact/nothing", params=SITE, auth=AUTH)
        wrong_verb = await client.delete("_sandbox/keys")
        log = (await client.get("_sandbox/requests")).json()

    assert read.status_code == 200
    assert [c["id"] for c in found.json()] == [ADA]
    assert missing.status_code == 404
    assert wrong_verb.status_code == 405
    assert [e["path"] for e in log] == [
        f"/v4/contact/contacts/{ADA}",
        "/v4/contact/contacts:query",
        "/v4/contact/nothing",
    ]
