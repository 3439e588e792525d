"""The client over real HTTP against the Comm100 sandbox in its own process."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from optibridge.comm100.client import Comm100Client
from optibridge.comm100.errors import (
    BadCredentialsError,
    NotComm100ApiError,
    NotFoundError,
    TransientError,
    UnreachableError,
)
from optibridge.comm100.schemas import Contact, CustomVariable, FormField, Ticket
from optibridge.comm100.webhooks import parse_ticket_trigger
from optibridge.sandbox.comm100 import payloads
from optibridge.store.limiter import RateLimiter
from tests.support.processes import free_port

from .conftest import SANDBOX_KEY, SANDBOX_SITE, Sandbox

pytestmark = pytest.mark.integration

AGENT = "agent@example.com"
CONTACT_ID = "6e5d4c3b-2a19-4807-b6a5-948372615049"
SURVIVOR_ID = "7f6e5d4c-3b2a-4918-87b6-a59483726150"


@pytest.fixture
def limiter(sqlite_engine: Engine) -> RateLimiter:
    """The real shared limiter, at Comm100's budget."""
    return RateLimiter(sqlite_engine, limit=300, window_s=300, margin_s=1)


def make_client(
    base_url: str,
    limiter: RateLimiter,
    *,
    key: str = SANDBOX_KEY,
    site_id: int = SANDBOX_SITE,
    timeout_s: float = 5.0,
    max_attempts: int = 4,
) -> Comm100Client:
    return Comm100Client(
        base_url,
        AGENT,
        key,
        site_id,
        limiter=limiter,
        timeout_s=timeout_s,
        max_attempts=max_attempts,
        backoff_base_s=0.05,
        backoff_max_s=0.2,
    )


def seed_contact(sandbox: Sandbox, contact_id: str = CONTACT_ID, **extra: Any) -> None:
    contact = {
        "name": "Ada Lovelace",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "company": "Analytical Engines",
        "customFields": [
            {"name": "Customer ID", "value": "C-1001"},
            {"name": "VIP Level", "value": "Gold"},
        ],
        "contactIdentities": [
            {"contactIdentityType": "Email", "value": "ada@example.com"},
            {"contactIdentityType": "Email", "value": "ada@work.example"},
            {"type": "ssoid", "value": "sso-1"},
        ],
        **extra,
    }
    sandbox.control("PUT", f"contacts/{contact_id}", contact)


ADA = Contact(
    CONTACT_ID,
    fields={
        "name": "Ada Lovelace",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "company": "Analytical Engines",
        "Customer ID": "C-1001",
        "VIP Level": "Gold",
        "email": "ada@example.com",
        "ssoId": "sso-1",
    },
    identities={"Email": "ada@example.com", "SSOID": "sso-1"},
)

# --- the calls work ---------------------------------------------------------------------------


def test_test_connection_counts_the_contact_fields(sandbox: Sandbox, limiter: RateLimiter) -> None:
    with make_client(sandbox.api_base_url, limiter) as client:
        assert client.check_connection() == 20  # 14 system, 4 identity, 2 custom fields
    (call,) = sandbox.requests()
    assert call["path"] == "/v4/contact/fields"
    assert call["query"] == f"siteId={SANDBOX_SITE}"
    assert call["user"] == AGENT
    assert call["status"] == 200


def test_a_seeded_contact_is_read_with_named_fields_and_identities(
    sandbox: Sandbox, limiter: RateLimiter
) -> None:
    seed_contact(sandbox)
    with make_client(sandbox.api_base_url, limiter) as client:
        assert client.get_contact(CONTACT_ID) == ADA
        assert client.get_contact(CONTACT_ID.upper()) == ADA
        assert client.get_contact("7a7a7a7a-0000-4000-8000-000000000000") is None
        assert client.get_contact("not-a-guid") is None
    # the field list was read once and cached
    paths = [r["path"] for r in sandbox.requests()]
    assert paths.count("/v4/contact/fields") == 1


def test_identities_typed_with_type_are_read_alike(sandbox: Sandbox, limiter: RateLimiter) -> None:
    seed_contact(sandbox)
    sandbox.control("PUT", "behaviour", {"identity_type_key": "type"})
    with make_client(sandbox.api_base_url, limiter) as client:
        assert client.get_contact(CONTACT_ID) == ADA


def test_a_merged_contact_is_read_as_the_one_it_became(
    sandbox: Sandbox, limiter: RateLimiter
) -> None:
    seed_contact(sandbox, SURVIVOR_ID)
    sandbox.control(
        "PUT",
        f"contacts/{CONTACT_ID}",
        {"name": "Old Ada", "mergeToContactId": SURVIVOR_ID},
    )
    with make_client(sandbox.api_base_url, limiter) as client:
        contact = client.get_contact(CONTACT_ID)
    assert contact is not None
    assert contact.id == SURVIVOR_ID
    assert contact.fields["name"] == "Ada Lovelace"


def test_a_custom_field_added_later_is_named(sandbox: Sandbox, limiter: RateLimiter) -> None:
    with make_client(sandbox.api_base_url, limiter) as client:
        client.contact_fields()
        sandbox.control(
            "PUT",
            "forms",
            {"contact_fields": [{"name": "Customer ID"}, {"name": "Loyalty"}]},
        )
        seed_contact(sandbox, customFields=[{"name": "Loyalty", "value": "high"}])
        contact = client.get_contact(CONTACT_ID)
    assert contact is not None
    assert contact.fields["Loyalty"] == "high"


def test_the_mapping_editors_lists_are_read(sandbox: Sandbox, limiter: RateLimiter) -> None:
    with make_client(sandbox.api_base_url, limiter) as client:
        prechat = client.prechat_fields()
        offline = client.offline_fields()
        variables = client.custom_variables()
        contact_fields = client.contact_fields()
    assert [f.name for f in prechat] == [
        "Name",
        "Email",
        "Phone",
        "Company",
        "Product/Service",
        "First Name",
        "Customer ID",
    ]
    assert prechat[0].is_system
    assert prechat[0].is_required
    assert not prechat[-1].is_system
    assert "Subject" in [f.name for f in offline]
    assert variables == [CustomVariable("customer_id", "text"), CustomVariable("vip", "text")]
    email = next(f for f in contact_fields if f.name == "email")
    assert email.is_identity
    assert email.identity_type == "Email"
    vip = next(f for f in contact_fields if f.name == "VIP Level")
    assert vip.options == ("Bronze", "Silver", "Gold")


def test_forms_set_in_the_sandbox_are_read(sandbox: Sandbox, limiter: RateLimiter) -> None:
    sandbox.control(
        "PUT",
        "forms",
        {
            "prechat_fields": [{"name": "Plan", "type": "dropdownList", "options": ["A", "B"]}],
            "custom_variables": [{"name": "tier"}],
        },
    )
    with make_client(sandbox.api_base_url, limiter) as client:
        (plan,) = client.prechat_fields()
        assert plan == FormField(plan.id, "Plan", "dropdownList", options=("A", "B"))
        assert client.custom_variables() == [CustomVariable("tier", "text")]


def test_a_ticket_is_read_and_an_unknown_one_is_not_found(
    sandbox: Sandbox, limiter: RateLimiter
) -> None:
    sandbox.control(
        "PUT",
        "tickets/321",
        {
            "subject": "Where is my order?",
            "contactOrVisitorId": CONTACT_ID,
            "contactOrVisitorType": "contact",
        },
    )
    with make_client(sandbox.api_base_url, limiter) as client:
        assert client.get_ticket(321) == Ticket("321", "Where is my order?", CONTACT_ID, "contact")
        with pytest.raises(NotFoundError):
            client.get_ticket(322)


@pytest.mark.parametrize("style", ["pascal", "camel"])
def test_a_ticket_trigger_context_gets_the_requesting_contact(
    sandbox: Sandbox, limiter: RateLimiter, style: Any
) -> None:
    seed_contact(sandbox)
    event = parse_ticket_trigger(
        payloads.ticket_created_trigger(321, CONTACT_ID, "contact", style=style)
    )
    with make_client(sandbox.api_base_url, limiter) as client:
        context = client.read_ticket_context(event)
    assert dict(context.contact) == ADA.fields
    assert dict(context.identities) == ADA.identities


def test_a_visitor_requester_named_so_reads_nothing(sandbox: Sandbox, limiter: RateLimiter) -> None:
    trigger = payloads.ticket_created_trigger(321, CONTACT_ID, "visitor", style="camel")
    event = parse_ticket_trigger(trigger)
    with make_client(sandbox.api_base_url, limiter) as client:
        context = client.read_ticket_context(event)
    assert context.requester_is_visitor
    assert sandbox.requests() == []


def test_a_requester_numbered_otherwise_than_3_is_learnt_from_the_ticket(
    sandbox: Sandbox, limiter: RateLimiter
) -> None:
    """The sandbox numbers a visitor 2, which nothing documents: the ticket says what it is."""
    sandbox.control(
        "PUT",
        "tickets/321",
        {"contactOrVisitorId": CONTACT_ID, "contactOrVisitorType": "visitor"},
    )
    event = parse_ticket_trigger(payloads.ticket_created_trigger(321, CONTACT_ID, "visitor"))
    assert event.context.subject_kind is None
    with make_client(sandbox.api_base_url, limiter) as client:
        context = client.read_ticket_context(event)
    assert context.requester_is_visitor
    assert [r["path"] for r in sandbox.requests()] == ["/v4/ticketing/tickets/321"]


# --- what goes wrong --------------------------------------------------------------------------


def test_a_wrong_key_is_bad_credentials(sandbox: Sandbox, limiter: RateLimiter) -> None:
    with (
        make_client(sandbox.api_base_url, limiter, key="wrong-key") as client,
        pytest.raises(BadCredentialsError, match="invalid API key") as caught,
    ):
        client.check_connection()
    assert "wrong-key" not in caught.value.message


def test_a_site_the_agent_cannot_reach_is_bad_credentials(
    sandbox: Sandbox, limiter: RateLimiter
) -> None:
    with (
        make_client(sandbox.api_base_url, limiter, site_id=20000) as client,
        pytest.raises(BadCredentialsError, match="site 20000"),
    ):
        client.check_connection()


def test_a_base_url_without_the_api_path_is_not_comm100(
    sandbox: Sandbox, limiter: RateLimiter
) -> None:
    with (
        make_client(f"{sandbox.url}/v3", limiter) as client,
        pytest.raises(NotComm100ApiError, match="no such endpoint"),
    ):
        client.check_connection()


def test_server_errors_are_retried_then_transient(sandbox: Sandbox, limiter: RateLimiter) -> None:
    sandbox.control("PUT", "faults", {"error_rate": 1.0})
    with (
        make_client(sandbox.api_base_url, limiter, max_attempts=3) as client,
        pytest.raises(TransientError, match="after 3 attempts"),
    ):
        client.check_connection()
    assert [r["status"] in (500, 503) for r in sandbox.requests()] == [True] * 3


def test_faults_some_of_the_time_are_absorbed_by_retries(
    sandbox: Sandbox, sqlite_engine: Engine
) -> None:
    seed_contact(sandbox)
    sandbox.control("PUT", "faults", {"error_rate": 0.3, "rate_429": 0.1, "seed": 7})
    # A 429 closes the limiter's window for every process: keep the window short here.
    short = RateLimiter(sqlite_engine, limit=300, window_s=0.2, margin_s=0)
    with make_client(sandbox.api_base_url, short, max_attempts=8) as client:
        for _ in range(10):
            assert client.get_contact(CONTACT_ID) == ADA
    statuses = {r["status"] for r in sandbox.requests()}
    assert statuses & {429, 500, 503}


def test_a_hanging_server_times_out(sandbox: Sandbox, limiter: RateLimiter) -> None:
    sandbox.control("PUT", "faults", {"timeout_rate": 1.0, "timeout_ms": 3000})
    with (
        make_client(sandbox.api_base_url, limiter, timeout_s=0.3, max_attempts=2) as client,
        pytest.raises(TransientError, match="did not answer in time") as caught,
    ):
        client.check_connection()
    assert caught.value.status == 504


def test_a_closed_port_is_unreachable(limiter: RateLimiter) -> None:
    with (
        make_client(f"http://127.0.0.1:{free_port()}/v4", limiter, max_attempts=2) as client,
        pytest.raises(UnreachableError, match="connection was refused"),
    ):
        client.check_connection()


def test_the_shared_limiter_keeps_calls_within_the_sandboxs_window(
    sandbox: Sandbox, engine: Engine
) -> None:
    """On SQLite and on PostgreSQL (the `engine` fixture gives both)."""
    sandbox.control("PUT", "limits", {"requests": 5, "window_seconds": 1})
    tight = RateLimiter(engine, limit=5, window_s=1, margin_s=0.2)
    with make_client(sandbox.api_base_url, tight, max_attempts=1) as client:
        for _ in range(12):
            client.contact_fields(refresh=True)
    statuses = [r["status"] for r in sandbox.requests()]
    assert statuses == [200] * 12
    assert tight.throttled_total(client.bucket) == 0
