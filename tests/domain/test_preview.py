"""A preview (SPEC 4.7) decides a past conversation by the same rules as a live event: one
scenario per test, then a property against `decide` itself."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from optibridge.domain.context import ConversationContext
from optibridge.domain.decide import Change, decide, mapped_values
from optibridge.domain.identify import identify
from optibridge.domain.preview import (
    CONVERSATION_EVENTS,
    Conversation,
    identify_conversation,
    needs_customer,
    preview_plan,
)
from optibridge.domain.settings import (
    EventPolicy,
    FieldMapping,
    FieldRef,
    LiveChatSettings,
    TicketingSettings,
    UpdateStrategy,
)

TYPES: dict[str, str | None] = {"EMAIL": "Nvarchar(100)", "PHONE": "Nvarchar(30)"}
MAPPING = (
    FieldMapping(optimove_field="EMAIL", comm100_field=FieldRef(source="system", name="email")),
    FieldMapping(optimove_field="PHONE", comm100_field=FieldRef(source="system", name="phone")),
)
RULES = (FieldRef(source="custom_variable", name="customer_id"),)


def livechat(update: UpdateStrategy = "overwrite", *, enabled: bool = True) -> LiveChatSettings:
    return LiveChatSettings(
        enabled=enabled,
        field_mapping=MAPPING,
        identification=RULES,
        on_chat_end=EventPolicy(update=update, no_match="never"),
    )


def a_chat(
    customer_id: str | None = "C-1", event: str = "chat_ended", **system: str
) -> Conversation:
    variables = {"customer_id": customer_id} if customer_id else {}
    context = ConversationContext(
        channel="livechat", event=event, system=system, custom_variables=variables
    )
    return Conversation(event, context)


def test_overwrite_over_a_chat_shows_every_value_that_differs() -> None:
    settings = livechat("overwrite")
    chat = a_chat(email="new@example.com", phone="+1 555")
    identification = identify_conversation(settings, chat)
    assert needs_customer(settings, chat, identification)
    plan = preview_plan(
        settings, chat, identification, {"EMAIL": "old@example.com", "PHONE": "+1 555"}, TYPES
    )
    assert plan.outcome == "updated"
    assert plan.changes == (Change("EMAIL", "old@example.com", "new@example.com"),)


def test_update_none_shows_nothing_written() -> None:
    settings = livechat("none")
    chat = a_chat(email="new@example.com")
    plan = preview_plan(
        settings, chat, identify_conversation(settings, chat), {"EMAIL": "old@example.com"}, TYPES
    )
    assert (plan.outcome, plan.changes) == ("unchanged", ())


def test_a_disabled_channel_needs_no_read_and_skips() -> None:
    settings = livechat(enabled=False)
    chat = a_chat(email="new@example.com")
    identification = identify_conversation(settings, chat)
    assert not needs_customer(settings, chat, identification)
    assert preview_plan(settings, chat, identification, None, TYPES).outcome == "skipped"


def test_an_unidentified_chat_needs_no_read() -> None:
    settings = livechat()
    chat = a_chat(None, email="new@example.com")
    identification = identify_conversation(settings, chat)
    assert not needs_customer(settings, chat, identification)
    assert preview_plan(settings, chat, identification, None, TYPES).outcome == "unidentified"


def test_the_remembered_link_identifies_a_returning_visitor() -> None:
    settings = livechat()
    chat = a_chat(None, email="new@example.com")
    linked = Conversation(chat.event, chat.context, linked_customer="C-9")
    identification = identify_conversation(settings, linked)
    assert (identification.customer_id, identification.via) == ("C-9", "link")


def test_a_ticket_by_a_visitor_needs_a_contact() -> None:
    settings = TicketingSettings(
        enabled=True,
        identification=(FieldRef(source="contact", name="Customer ID"),),
        on_ticket_created=EventPolicy(update="overwrite", no_match="auto_create"),
    )
    context = ConversationContext(
        channel="ticketing", event="ticket_created", subject_kind="visitor", subject_id="v-1"
    )
    ticket = Conversation("ticket_created", context)
    plan = preview_plan(settings, ticket, identify_conversation(settings, ticket), None, {})
    assert plan.outcome == "needs_contact"


def test_each_channel_previews_the_events_its_settings_act_on() -> None:
    assert CONVERSATION_EVENTS["livechat"] == ("chat_ended", "offline_message_submitted")
    assert CONVERSATION_EVENTS["ticketing"] == ("ticket_created",)
    for event in CONVERSATION_EVENTS["livechat"]:
        assert livechat().policy(event) is not None


@given(
    update=st.sampled_from(["none", "overwrite", "fill_empty"]),
    email=st.sampled_from(["", "a@example.com", "b@example.com"]),
    current=st.none()
    | st.fixed_dictionaries(
        {"EMAIL": st.sampled_from([None, "", "a@example.com"]), "PHONE": st.none()}
    ),
    event=st.sampled_from(["chat_ended", "chat_started", "offline_message_submitted"]),
)
def test_a_preview_is_the_decision_an_event_would_get(
    update: UpdateStrategy, email: str, current: dict[str, str | None] | None, event: str
) -> None:
    settings = livechat(update)
    chat = a_chat(email=email, event=event)
    identification = identify(settings.identification, chat.context, None)
    values, rejected = mapped_values(settings.field_mapping, chat.context, TYPES)
    expected = decide(
        policy=settings.policy(event),
        channel_enabled=True,
        identification=identification,
        current=current,
        values=values,
        rejected=rejected,
        field_types=TYPES,
        requester_is_visitor=False,
    )
    assert preview_plan(settings, chat, identification, current, TYPES) == expected
    if update == "none" or settings.policy(event) is None:
        assert not expected.writes
