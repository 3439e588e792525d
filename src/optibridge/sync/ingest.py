"""Webhook intake: verify, parse, store durably, acknowledge. No outside call happens here."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from optibridge import safe_text
from optibridge.comm100.webhooks import (
    InboundEvent,
    WebhookShapeError,
    parse_livechat_webhook,
    parse_ticket_trigger,
)
from optibridge.domain.records import Channel
from optibridge.errors import BadRequest, NotFound, Unauthorized
from optibridge.logs import get_logger
from optibridge.runtime import Runtime
from optibridge.secret_box import same_secret
from optibridge.store.repositories import SiteRepository
from optibridge.store.sync_records import NewRecord
from optibridge.sync.sites import webhook_token

log = get_logger(__name__)

MAX_WEBHOOK_BYTES = 1024 * 1024
# Site secrets rarely change; decrypting them on every delivery would cost more than the insert.
TOKEN_CACHE_S = 30.0


@dataclass(frozen=True)
class Accepted:
    record_id: int
    duplicate: bool


class SiteTokens:
    """The sites' webhook secrets, decrypted once and kept for a short while."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._lock = threading.Lock()
        self._tokens: dict[int, tuple[str | None, float]] = {}

    def token_of(self, site_id: int) -> str | None:
        now = time.monotonic()
        with self._lock:
            cached = self._tokens.get(site_id)
        if cached is not None and now - cached[1] < TOKEN_CACHE_S:
            return cached[0]
        with self._runtime.unit_of_work(read_only=True) as session:
            site = SiteRepository(session).get(site_id)
            token = webhook_token(self._runtime.box, site) if site is not None else None
        with self._lock:
            self._tokens[site_id] = (token, now)
        return token


def verify_site(tokens: SiteTokens, site_id: int, given_token: str | None) -> None:
    expected = tokens.token_of(site_id)
    if expected is None:
        raise NotFound(f"Site {site_id} does not exist.")
    if not given_token or not same_secret(given_token, expected):
        raise Unauthorized("The webhook token is not valid for this site.")


def parse_event(channel: Channel, body: bytes) -> InboundEvent:
    try:
        cleaned = safe_text.loads(body)
    except safe_text.JsonTooDeep as error:
        raise BadRequest(f"The body is not usable JSON: {error}.") from None
    except ValueError as error:
        raise BadRequest(f"The body is not valid JSON: {error}.") from None
    if cleaned.replaced:
        log.info("webhook_characters_replaced", channel=channel, replaced=cleaned.replaced)
    document = cleaned.value
    try:
        if channel == "livechat":
            return parse_livechat_webhook(document)
        return parse_ticket_trigger(document)
    except WebhookShapeError as error:
        raise BadRequest(f"The body is not a Comm100 {_kind(channel)}: {error}") from None


def store_event(runtime: Runtime, site_id: int, event: InboundEvent) -> Accepted:
    record = NewRecord(
        site_id=site_id,
        channel=event.channel,
        event=event.event,
        dedupe_key=event.dedupe_key,
        order_key=event.order_key,
        comm100_ids=dict(event.comm100_ids),
        context=event.context.to_json(),
        conversation_key=event.conversation_key,
    )
    record_id, duplicate = runtime.intake.store(record)  # on disk when it returns
    return Accepted(record_id, duplicate)


def _kind(channel: Channel) -> str:
    return "Live Chat webhook" if channel == "livechat" else "ticket trigger payload"
