"""Live Chat webhooks as Comm100's API manages them (`livechat/webhooks`): `{id, event, targetUrl}`.

Read as tolerantly as the rest of `optibridge.comm100.schemas`: keys in any casing, the list
bare or wrapped, ids as guids (kept as written: they go back into the path) or integers, and
the event in its documented spelling or a variant of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from optibridge.comm100.schemas import (
    BadId,
    ShapeError,
    get,
    identifier,
    list_of_objects,
    normal_key,
    single_object,
    text,
)

# The documented events, as the API spells them (reference/comm100.md).
LIVECHAT_WEBHOOK_EVENTS = (
    "chatStarts",
    "chatEnds",
    "chatIsWrappedUp",
    "offlineMessageIsSubmitted",
    "chatIsRequested",
    "chatIsTransferred",
    "agentStatusChanges",
)
# Other spellings an answer may use: the webhook bodies' past tense (`chat_ended`), no "is".
_EVENT_ALIASES = {
    "chatstarted": "chatStarts",
    "chatended": "chatEnds",
    "chatwrappedup": "chatIsWrappedUp",
    "offlinemessagesubmitted": "offlineMessageIsSubmitted",
    "chatrequested": "chatIsRequested",
    "chattransferred": "chatIsTransferred",
    "agentstatuschanged": "agentStatusChanges",
}
_EVENT_BY_KEY = {normal_key(e): e for e in LIVECHAT_WEBHOOK_EVENTS} | _EVENT_ALIASES


def webhook_event(value: Any) -> str | None:
    """The API's spelling of a Live Chat webhook event (an unknown one is kept as sent)."""
    name = text(value)
    if name is None:
        return None
    return _EVENT_BY_KEY.get(normal_key(name), name)


@dataclass(frozen=True)
class LiveChatWebhook:
    """One webhook. `id` is as Comm100 wrote it, None when an answer gave none; `target_url`
    is None when the entry has no target."""

    id: str | None
    event: str
    target_url: str | None


def _webhook_id(value: Any, where: str) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    try:
        return identifier(value)
    except BadId as exc:
        raise ShapeError(f"{where}: an id is {exc}") from None


def parse_livechat_webhook(value: Any) -> LiveChatWebhook:
    """`{id, event, targetUrl}`, also wrapped in `{"webhook": …}`."""
    where = "the webhook"
    webhook = single_object(value, where, "webhook")
    event = webhook_event(get(webhook, "event", "eventType"))
    if event is None:
        raise ShapeError(f"{where}: no event")
    return LiveChatWebhook(
        id=_webhook_id(get(webhook, "id", "webhookId"), where),
        event=event,
        target_url=text(get(webhook, "targetUrl", "url")),
    )


def parse_livechat_webhooks(value: Any) -> list[LiveChatWebhook]:
    """The list `GET livechat/webhooks` answers, bare or wrapped (`{"webhooks": [...]}`)."""
    return [
        parse_livechat_webhook(item) for item in list_of_objects(value, "the webhooks", "webhooks")
    ]


def written_webhook(value: Any, sent: LiveChatWebhook) -> LiveChatWebhook:
    """The webhook a create or change answered, completed with what was sent: the answer may be
    the webhook, its id alone, or nothing."""
    if isinstance(value, Mapping):
        webhook = single_object(value, "the webhook", "webhook")
        return LiveChatWebhook(
            id=_webhook_id(get(webhook, "id", "webhookId"), "the webhook") or sent.id,
            event=webhook_event(get(webhook, "event", "eventType")) or sent.event,
            target_url=text(get(webhook, "targetUrl", "url")) or sent.target_url,
        )
    if isinstance(value, str | int) and not isinstance(value, bool):
        return LiveChatWebhook(
            _webhook_id(value, "the webhook") or sent.id, sent.event, sent.target_url
        )
    return sent
