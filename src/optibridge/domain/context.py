"""What Comm100 told us about one conversation, in one vendor-neutral shape.

The Comm100 webhook parser (and, for tickets, the contact read from the Comm100 API) fill it;
identification and value resolution read it. Keys are as the administrator names them in a
`FieldRef`: system fields by their SPEC 2 names, form fields and custom variables by their
Comm100 names, contact fields by name, identities by type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from optibridge.domain.records import Channel

# Live Chat events we act on, and the ticket trigger; anything else is recorded as skipped.
CHAT_ENDED = "chat_ended"
OFFLINE_MESSAGE_SUBMITTED = "offline_message_submitted"
TICKET_CREATED = "ticket_created"


@dataclass(frozen=True)
class ConversationContext:
    channel: Channel
    event: str
    # Live Chat: system fields (name, email, phone, company, product_service, department, ip,
    # visitor_id, sso_id, city, state, country, language, referrer_url, landing_page).
    system: Mapping[str, str] = field(default_factory=dict)
    # Live Chat: pre-chat form answers by field name.
    prechat: Mapping[str, str] = field(default_factory=dict)
    # Live Chat: offline message form fields by name, system ones included (name, email, phone,
    # company, subject, content).
    offline: Mapping[str, str] = field(default_factory=dict)
    # Live Chat: custom variables by name.
    custom_variables: Mapping[str, str] = field(default_factory=dict)
    # Ticketing: the requesting contact's fields by name (name, firstName, …, custom fields).
    contact: Mapping[str, str] = field(default_factory=dict)
    # Ticketing: the contact's identities, by type (Email, SMS, …); the first of each type.
    identities: Mapping[str, str] = field(default_factory=dict)
    # Who this is in Comm100, for remembered links (SPEC 4.1): a visitor guid for Live Chat,
    # the contact (or visitor) id of a ticket's requester.
    subject_kind: Literal["visitor", "contact"] | None = None
    subject_id: str | None = None

    @property
    def requester_is_visitor(self) -> bool:
        """A ticket whose requester has not become a Comm100 contact yet."""
        return self.channel == "ticketing" and self.subject_kind == "visitor"

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "event": self.event,
            "system": dict(self.system),
            "prechat": dict(self.prechat),
            "offline": dict(self.offline),
            "custom_variables": dict(self.custom_variables),
            "contact": dict(self.contact),
            "identities": dict(self.identities),
            "subject_kind": self.subject_kind,
            "subject_id": self.subject_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConversationContext:
        return cls(
            channel=data["channel"],
            event=data["event"],
            system=dict(data.get("system", {})),
            prechat=dict(data.get("prechat", {})),
            offline=dict(data.get("offline", {})),
            custom_variables=dict(data.get("custom_variables", {})),
            contact=dict(data.get("contact", {})),
            identities=dict(data.get("identities", {})),
            subject_kind=data.get("subject_kind"),
            subject_id=data.get("subject_id"),
        )
