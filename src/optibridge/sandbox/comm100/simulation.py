"""The Comm100 simulator's memory: where it sends webhooks, the chats played, what it sent.

The simulator (`optibridge.sandbox.comm100.simulator`) lets a person play a Comm100 visitor and
agent. This module holds what those pages need and nothing about HTTP: the configuration set
through `PUT /_sandbox/simulator`, the chats and offline messages with the visitor as they
filled the forms, every webhook delivery with the service's answer, and the chat, visitor and
ticket objects the simulated agent console's App SDK answers the Optimove tab with (`sdk_*`).

Secrets (the webhook token in the webhook URLs, the agent token) are kept here because the
simulator must use them, and are never part of what `public_view()` or `as_dict()` render.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    field_validator,
)

from optibridge.sandbox.comm100.payloads import FieldAnswer, Visitor

SENT_CAPACITY = 1_000  # the oldest deliveries are forgotten first
MASK = "****"
DEFAULT_AGENT_ID = "a9d5e0c4-6b1f-4c7e-8a2d-5f3b9c1e7d20"
DEFAULT_AGENT_NAME = "Demo Agent"
_VISITOR_NAMESPACE = uuid.UUID("3c8b9a70-5d2e-4f61-9b4a-7e0d1c2b3a40")

Channel = Literal["livechat", "ticketing"]
_Label = Annotated[StrictStr, StringConstraints(min_length=1, max_length=200)]
_Text = Annotated[StrictStr, StringConstraints(max_length=2_000)]


def _absolute_http_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    return value


class SampleVisitor(BaseModel):
    """A person the visitor page offers to play, its forms filled in advance."""

    model_config = ConfigDict(extra="forbid")

    label: _Label
    id: uuid.UUID | None = Field(
        default=None, description="The visitor's id; default: derived from the label."
    )
    name: _Text = ""
    email: _Text = ""
    phone: _Text = ""
    company: _Text = ""
    product_service: _Text = ""
    sso_id: _Text = ""
    fields: dict[_Label, _Text] = Field(
        default_factory=dict, description="Custom pre-chat/offline field answers by field name."
    )
    variables: dict[_Label, _Text] = Field(
        default_factory=dict, description="Custom variable values by name."
    )

    @property
    def visitor_id(self) -> str:
        return str(self.id or uuid.uuid5(_VISITOR_NAMESPACE, self.label))


class SimulatorConfig(BaseModel):
    """Where the simulator sends webhooks and which Optimove tab it embeds."""

    model_config = ConfigDict(extra="forbid")

    site_id: StrictInt = Field(ge=1, description="The Comm100 site id in bodies and tab URLs.")
    livechat_webhook_url: StrictStr | None = Field(
        default=None, description="Where Live Chat webhooks go (with the site's token)."
    )
    ticketing_webhook_url: StrictStr | None = Field(
        default=None, description="Where the 'ticket created' trigger posts."
    )
    console_url: StrictStr | None = Field(
        default=None,
        description="The tab's base, e.g. http://host/console/10000: the simulator embeds "
        "{console_url}/livechat and {console_url}/ticketing.",
    )
    agent_token: StrictStr | None = Field(
        default=None, description="Put in the tab's URL as `token` (an agent token)."
    )
    sync_log_url: StrictStr | None = Field(
        default=None, description="A page of the service's sync log, linked after each delivery."
    )
    agent_id: _Label = DEFAULT_AGENT_ID
    agent_name: _Label = DEFAULT_AGENT_NAME
    sample_visitors: list[SampleVisitor] = Field(default_factory=list, max_length=50)

    @field_validator("livechat_webhook_url", "ticketing_webhook_url", "console_url", "sync_log_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _absolute_http_url(value)

    @field_validator("console_url")
    @classmethod
    def _without_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    def webhook_url(self, channel: Channel) -> str | None:
        return self.livechat_webhook_url if channel == "livechat" else self.ticketing_webhook_url

    def tab_url(self, channel: Channel) -> str | None:
        """The Optimove tab's iframe URL, with the query Comm100 gives an app widget."""
        if self.console_url is None:
            return None
        query: dict[str, str] = {"siteId": str(self.site_id), "agentId": self.agent_id}
        if self.agent_token:
            query["token"] = self.agent_token
        return f"{self.console_url}/{channel}?{urlencode(query)}"

    def public_view(self) -> dict[str, Any]:
        """The configuration with the secrets masked: the token query parameters and the token."""
        view = self.model_dump(mode="json")
        view["livechat_webhook_url"] = mask_query_secrets(self.livechat_webhook_url)
        view["ticketing_webhook_url"] = mask_query_secrets(self.ticketing_webhook_url)
        view["agent_token"] = MASK if self.agent_token else None
        return view


def mask_query_secrets(url: str | None) -> str | None:
    """The URL with every query value masked (webhook URLs carry the site's secret there)."""
    if url is None:
        return None
    parts = urlsplit(url)
    query = urlencode([(name, MASK) for name, _ in parse_qsl(parts.query)], safe="*")
    return urlunsplit(parts._replace(query=query))


def url_path(url: str) -> str:
    """What a page may show of a URL: no query (it carries the token), no credentials."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def now_ms() -> int:
    return round(time.time() * 1000)


# --- chats, offline messages, visitors --------------------------------------------------------


@dataclass
class TranscriptLine:
    at_ms: int
    speaker: str
    text: str

    def as_comm100(self) -> str:
        clock = time.strftime("%H:%M:%S", time.gmtime(self.at_ms / 1000))
        return f"[{clock}] {self.speaker}: {self.text}"


@dataclass
class SimulatedChat:
    """A chat the visitor page started; `visitor` is as the pre-chat form was filled."""

    id: str
    visitor: Visitor
    started_ms: int
    ended_ms: int | None = None
    lines: list[TranscriptLine] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.ended_ms is None

    def transcript(self) -> list[str]:
        return [line.as_comm100() for line in self.lines]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "visitor_id": str(self.visitor.id),
            "visitor_name": self.visitor.name,
            "started_ms": self.started_ms,
            "ended_ms": self.ended_ms,
            "transcript": self.transcript(),
        }


@dataclass
class SimulatedOfflineMessage:
    id: str
    visitor: Visitor
    subject: str
    time_ms: int
    content: str = ""


@dataclass
class SentWebhook:
    """One delivery to the service and its answer (or why there was none)."""

    id: int
    event: str
    channel: Channel
    about: str  # "chat 1a2b…", "ticket 1001": what a person recognises
    url: str | None  # the full URL, token included: never rendered
    body: dict[str, Any]
    time: float
    status: int | None = None
    record_id: int | None = None
    duplicate: bool = False
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def summary(self) -> str:
        """E.g. "Sent chat_ended: 202, sync record #12"."""
        if self.url is None:
            return f"{self.event} not sent: {self.error}"
        if self.status is None:
            return f"{self.event} not delivered: {self.error}"
        text = f"Sent {self.event}: {self.status}"
        if self.record_id is not None:
            text += f", sync record #{self.record_id}"
        if self.duplicate:
            text += " (a duplicate: the service had it already)"
        if self.error:
            text += f" ({self.error})"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event,
            "channel": self.channel,
            "about": self.about,
            "target": url_path(self.url) if self.url else None,
            "time": self.time,
            "status": self.status,
            "record_id": self.record_id,
            "duplicate": self.duplicate,
            "error": self.error,
            "summary": self.summary(),
            "body": self.body,
        }


@dataclass
class Simulation:
    """The simulator's whole state; a sandbox reset replaces it with a new one."""

    config: SimulatorConfig | None = None
    chats: dict[str, SimulatedChat] = field(default_factory=dict)
    offline_messages: list[SimulatedOfflineMessage] = field(default_factory=list)
    sent: deque[SentWebhook] = field(default_factory=lambda: deque(maxlen=SENT_CAPACITY))
    _next_sent_id: int = 1

    def visitors(self) -> dict[str, Visitor]:
        """Every visitor seen, as they last described themselves, newest last."""
        seen: list[tuple[int, Visitor]] = [(c.started_ms, c.visitor) for c in self.chats.values()]
        seen += [(m.time_ms, m.visitor) for m in self.offline_messages]
        latest: dict[str, Visitor] = {}
        for _, visitor in sorted(seen, key=lambda pair: pair[0]):
            latest.pop(str(visitor.id), None)
            latest[str(visitor.id)] = visitor
        return latest

    def visits_of(self, visitor_id: str) -> int:
        chats = sum(1 for c in self.chats.values() if str(c.visitor.id) == visitor_id)
        return chats + sum(1 for m in self.offline_messages if str(m.visitor.id) == visitor_id)

    def start_chat(self, visitor: Visitor, greeting: str) -> SimulatedChat:
        started = now_ms()
        chat = SimulatedChat(id=str(uuid.uuid4()), visitor=visitor, started_ms=started)
        if greeting:
            chat.lines.append(TranscriptLine(started, visitor.name or "Visitor", greeting))
        self.chats[chat.id] = chat
        return chat

    def record_sent(
        self, *, event: str, channel: Channel, about: str, url: str | None, body: dict[str, Any]
    ) -> SentWebhook:
        sent = SentWebhook(
            id=self._next_sent_id,
            event=event,
            channel=channel,
            about=about,
            url=url,
            body=body,
            time=time.time(),
        )
        self._next_sent_id += 1
        self.sent.append(sent)
        return sent

    def find_sent(self, sent_id: int) -> SentWebhook | None:
        return next((s for s in self.sent if s.id == sent_id), None)

    def recent_sent(self, limit: int = 10) -> list[SentWebhook]:
        return list(reversed(self.sent))[:limit]


# --- what the Optimove tab receives -----------------------------------------------------------


def _pairs(answers: Any) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in answers]


def sdk_chat(chat: SimulatedChat) -> dict[str, Any]:
    """The current chat as the agent console's App SDK gives it (`agentconsole.currentChat`):
    what was typed in this chat (name, e-mail, phone, company, product) and its pre-chat
    fields, by name (reference/comm100.md, "Agent console apps")."""
    visitor = chat.visitor
    return {
        "id": chat.id,
        "visitorId": str(visitor.id),
        "name": visitor.name,
        "email": visitor.email,
        "phone": visitor.phone,
        "company": visitor.company,
        "productService": visitor.product_service,
        "department": visitor.department,
        "fields": _pairs((a.name, a.value) for a in visitor.custom_fields),
        "requestPage": visitor.landing_page,
    }


def sdk_visitor(chat: SimulatedChat) -> dict[str, Any]:
    """The chat's visitor as the App SDK gives it (`agentconsole.currentChat.visitor`): no phone
    or company (those are the chat's), custom variables and the SSO id."""
    visitor = chat.visitor
    return {
        "id": str(visitor.id),
        "name": visitor.name,
        "email": visitor.email,
        "status": "chatting" if chat.is_open else "offline",
        "location": {
            "ip": visitor.ip,
            "city": visitor.city,
            "state": visitor.state,
            "country": visitor.country,
        },
        "customVariables": _pairs(visitor.custom_variables.items()),
        "ssoId": visitor.sso_id or "",
        "landingPage": visitor.landing_page,
        "referrer": visitor.referrer_url,
    }


def sdk_ticket(ticket: dict[str, Any], requester: dict[str, Any] | None) -> dict[str, Any]:
    """The current ticket as the App SDK gives it (`agentconsole.ticketing.currentTicket`):
    its requester as `relatedType` / `relatedId`, and the requester itself."""
    return {
        "id": int(ticket["id"]),
        "subject": ticket.get("subject", ""),
        "relatedType": ticket["contactOrVisitorType"],
        "relatedId": ticket["contactOrVisitorId"],
        "contactOrVisitor": requester,
        "status": ticket.get("status"),
        "priority": ticket.get("priority"),
        "customFields": [],
    }


def field_answers(answers: list[tuple[str, str, str]]) -> tuple[FieldAnswer, ...]:
    """(field id, field name, value) → a webhook's answers; like Comm100, empty ones too."""
    return tuple(FieldAnswer(id=i, name=name, value=value) for i, name, value in answers)
