"""The conversation's read (SPEC 4.6, issue "Agents first"): the customer an agent looked up in
the tab beside a chat serves that chat's end, however long the chat lasted; other chats read
as usual. Over real HTTP, with the customer cache's own TTL set to nothing, so that only the
conversation can explain a read saved."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from optibridge.sandbox.comm100.payloads import Chat, Visitor, chat_ended
from tests.sync.stack import Stack, running_stack

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"OPTIBRIDGE_CUSTOMER_CACHE_TTL_S": "0"}
    with running_stack(tmp_path_factory.mktemp("stack"), extra_env=env) as running:
        yield running


def visitor_of(customer_id: str) -> Visitor:
    return Visitor(
        id=str(uuid.uuid4()),
        email="ann@example.com",
        custom_variables={"customer_id": customer_id},
    )


def the_end_of(chat_id: str, visitor: Visitor) -> dict[str, Any]:
    now = datetime.now(UTC)
    return chat_ended(visitor=visitor, chat=Chat(id=chat_id, start_time=now, end_time=now))


def look_up(stack: Stack, site_id: int, chat_id: str, customer_id: str) -> dict[str, Any]:
    """The tab beside chat `chat_id` looks `customer_id` up (found); its view."""
    context = {
        "chat_id": chat_id,
        "visitor": {"id": "v", "custom_variables": [{"name": "customer_id", "value": customer_id}]},
    }
    looked = stack.admin.post(
        f"/sites/{site_id}/console/lookup", json={"channel": "livechat", "context": context}
    )
    assert looked.status_code == 200, looked.text
    view: dict[str, Any] = looked.json()
    assert view["status"] == "matched"
    return view


def optimove_reads(stack: Stack, since: float, customer_id: str) -> int:
    requests = stack.optimove.get("/_sandbox/requests", params={"since": since}).json()
    return sum(1 for r in requests if r["method"] == "GET" and customer_id in r["path"])


def test_the_agents_read_serves_the_end_of_its_chat_and_only_of_its_chat(stack: Stack) -> None:
    site = stack.new_site()
    customer = stack.seed_customer(EMAIL=None, FIRST_NAME="Ann")
    chat_id = str(uuid.uuid4())
    look_up(stack, site.site_id, chat_id, customer)
    after_lookup = time.time()

    record = stack.accept(site.livechat_url, the_end_of(chat_id, visitor_of(customer)))

    assert record.outcome == "updated", record.last_error
    assert optimove_reads(stack, after_lookup, customer) == 0
    assert (stack.customer(customer) or {})["EMAIL"] == "ann@example.com"

    # Another chat of the same customer, with no agent beside it, reads Optimove.
    before_other = time.time()
    other = stack.accept(site.livechat_url, the_end_of(str(uuid.uuid4()), visitor_of(customer)))
    assert other.outcome == "unchanged", other.last_error
    assert optimove_reads(stack, before_other, customer) == 1


def test_every_call_names_the_lane_of_the_budget_it_waited_in(stack: Stack) -> None:
    """The agent's read in the agents' lane; a chat end's read and write in the live one: what
    the site page's chart of the budget counts by."""
    site = stack.new_site()
    looked_at, alone = stack.seed_customer(EMAIL=None), stack.seed_customer(EMAIL=None)
    chat_id = str(uuid.uuid4())
    looked = look_up(stack, site.site_id, chat_id, looked_at)
    its_end = stack.accept(site.livechat_url, the_end_of(chat_id, visitor_of(looked_at)))
    other = stack.accept(site.livechat_url, the_end_of(str(uuid.uuid4()), visitor_of(alone)))
    assert (its_end.outcome, other.outcome) == ("updated", "updated")

    def lanes(record_id: int) -> list[tuple[str, str]]:
        detail = stack.admin.get(f"/sites/{site.site_id}/syncs/{record_id}").json()
        return [(call["endpoint"].split()[0], call["lane"]) for call in detail["calls"]]

    assert lanes(looked["record_id"]) == [("GET", "agent")]
    assert lanes(its_end.id) == [("POST", "live")]  # the agent's read served it
    assert lanes(other.id) == [("GET", "live"), ("POST", "live")]
