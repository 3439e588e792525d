"""A preview (SPEC 4.7): what candidate settings would do to a past conversation, by the very
rules an event is decided with (`identify`, `decide`), nothing written.

A conversation is previewed alone, as if it arrived now: its stored context (what Comm100 said
of it), the link remembered for its visitor or contact, and the customer as Optimove has it
today. The engine gathers those (`sync/preview.py`); the rules are here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from optibridge.domain.context import (
    CHAT_ENDED,
    OFFLINE_MESSAGE_SUBMITTED,
    TICKET_CREATED,
    ConversationContext,
)
from optibridge.domain.decide import Plan, decide, mapped_values
from optibridge.domain.identify import Identification, identify
from optibridge.domain.records import Channel
from optibridge.domain.settings import ChannelSettings

DEFAULT_PREVIEW_LIMIT = 20
MAX_PREVIEW_LIMIT = 50

# The events of a channel that are conversations settings act on (SPEC 4.2): a preview shows
# these, not what only gets recorded (a chat started) nor what agents or administrators did.
CONVERSATION_EVENTS: Mapping[Channel, tuple[str, ...]] = {
    "livechat": (CHAT_ENDED, OFFLINE_MESSAGE_SUBMITTED),
    "ticketing": (TICKET_CREATED,),
}


@dataclass(frozen=True)
class Conversation:
    """A past conversation as the engine found it: its event, what Comm100 said of it (a
    ticket's requester already read from Comm100), and the customer its visitor or contact was
    last linked to."""

    event: str
    context: ConversationContext
    linked_customer: str | None = None


def identify_conversation(settings: ChannelSettings, conversation: Conversation) -> Identification:
    """Who the customer would be under these settings' identification rules (SPEC 4.1)."""
    return identify(settings.identification, conversation.context, conversation.linked_customer)


def needs_customer(
    settings: ChannelSettings, conversation: Conversation, identification: Identification
) -> bool:
    """Whether the decision needs the customer from Optimove: the channel is enabled, the event
    acts, and someone was identified. Otherwise no read is spent on it."""
    return (
        settings.enabled
        and settings.policy(conversation.event) is not None
        and identification.customer_id is not None
    )


def preview_plan(
    settings: ChannelSettings,
    conversation: Conversation,
    identification: Identification,
    current: Mapping[str, str | None] | None,
    field_types: Mapping[str, str | None],
) -> Plan:
    """The plan these settings make for the conversation, with the customer's attributes as
    Optimove has them now (`current`; None: not in Optimove, or not needed)."""
    context = conversation.context
    values, rejected = mapped_values(settings.field_mapping, context, field_types)
    return decide(
        policy=settings.policy(conversation.event),
        channel_enabled=settings.enabled,
        identification=identification,
        current=current,
        values=values,
        rejected=rejected,
        field_types=field_types,
        requester_is_visitor=context.requester_is_visitor,
    )
