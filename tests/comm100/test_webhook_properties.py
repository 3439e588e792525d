"""Properties of the webhook parser over generated bodies (hypothesis)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from optibridge.comm100.webhooks import (
    InboundEvent,
    WebhookShapeError,
    parse_livechat_webhook,
    parse_ticket_trigger,
)
from optibridge.errors import BadRequest
from optibridge.sync.ingest import parse_event
from tests.support.strategies import nasty_text

# --- strategies -------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | nasty_text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(nasty_text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)

LIVECHAT_EVENTS = [
    "chat_ended",
    "offline_message_submitted",
    "chat_started",
    "chat_wrapped_up",
    "chat_transferred",
    "agent_status_changed",
]
# Keys the parser reads, so that generated objects hit the code that reads them.
KNOWN_KEYS = [
    "id",
    "chat_id",
    "visitor_id",
    "name",
    "email",
    "phone",
    "company",
    "department",
    "product",
    "sso_id",
    "end_time",
    "start_time",
    "time",
    "custom_fields",
    "custom_variables",
    "custom_variable",
    "value",
    "subject",
    "content",
    "Id",
    "ContactOrVisitorType",
    "ContactOrVisitorId",
    "TicketId",
]
keys = st.sampled_from(KNOWN_KEYS) | nasty_text(max_size=8)
shaped_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=30,
)
# Objects of known keys with mostly scalar values, so that the readers run on odd values.
field_values = st.one_of(scalars, shaped_values)
objects = st.dictionaries(keys, field_values, max_size=8)
livechat_like = st.fixed_dictionaries(
    {"event": st.sampled_from(LIVECHAT_EVENTS)},
    optional={
        "visitor": objects,
        "chat": objects,
        "offline_message": objects,
        "wrapup": objects,
        "chat_id": scalars,
    },
)
trigger_like = st.fixed_dictionaries(
    {},
    optional={
        "TicketInfo": objects,
        "ticketInfo": objects,
        "TicketId": scalars,
        "TriggerId": scalars,
    },
)


def parses_or_refuses_with_a_reason(parse: Any, body: object) -> None:
    try:
        event = parse(body)
    except WebhookShapeError as exc:
        reason = str(exc)
        assert reason, "a refusal says why"
        return
    assert isinstance(event, InboundEvent)
    assert len(event.dedupe_key) == 64
    assert event.order_key
    assert all(isinstance(v, str) and v for v in event.comm100_ids.values())
    for part in (event.context.system, event.context.prechat, event.context.offline):
        assert all(isinstance(v, str) and v == v.strip() and v for v in part.values())


@given(json_values)
def test_any_json_is_parsed_or_refused_with_a_shape_error(body: Any) -> None:
    parses_or_refuses_with_a_reason(parse_livechat_webhook, body)
    parses_or_refuses_with_a_reason(parse_ticket_trigger, body)


@given(st.sampled_from(["livechat", "ticketing"]), livechat_like | trigger_like | json_values)
def test_any_json_text_is_an_event_with_storable_text_or_a_400(channel: Any, body: Any) -> None:
    """What the webhook door does with the bytes: lone surrogates and NUL, spelled as JSON
    escapes, never reach an event; anything unusable is a 400 that says why."""
    try:
        event = parse_event(channel, json.dumps(body).encode())
    except BadRequest as refused:
        refusal = refused.message
        assert refusal
        return
    parts = [event.dedupe_key, event.order_key, event.comm100_ids, event.context.to_json()]
    stored = json.dumps(parts, ensure_ascii=False)
    stored.encode("utf-8")  # no lone surrogate left
    assert "\x00" not in stored


@given(livechat_like)
def test_any_live_chat_like_body_is_parsed_or_refused_with_a_shape_error(body: Any) -> None:
    parses_or_refuses_with_a_reason(parse_livechat_webhook, body)


@given(trigger_like)
def test_any_trigger_like_body_is_parsed_or_refused_with_a_shape_error(body: Any) -> None:
    parses_or_refuses_with_a_reason(parse_ticket_trigger, body)


# --- documented bodies, and their variants ----------------------------------------------------

ids = st.integers(min_value=1, max_value=10**12)
times_ms = st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000)  # 2000 to 2100
texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=10)
named = st.lists(st.fixed_dictionaries({"name": texts, "value": texts | st.integers()}), max_size=3)


@st.composite
def people(draw: st.DrawFn) -> dict[str, Any]:
    person: dict[str, Any] = {
        key: draw(texts)
        for key in ("name", "email", "phone", "company", "city", "department")
        if draw(st.booleans())
    }
    person["custom_fields"] = draw(named)
    person["custom_variables"] = draw(named)
    return person


@st.composite
def documented_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A Live Chat body of a documented shape, ids as integers and dates as epoch ms."""
    event = draw(st.sampled_from(LIVECHAT_EVENTS[:4]))
    visitor = {"id": draw(ids), "chat_id": draw(ids), **draw(people())}
    body: dict[str, Any] = {"event": event, "visitor": visitor}
    if event == "chat_ended" or (event == "chat_started" and draw(st.booleans())):
        body["chat"] = {
            "id": draw(ids),
            "start_time": draw(times_ms),
            "end_time": draw(times_ms),
            **draw(people()),
        }
    if event == "offline_message_submitted":
        body["offline_message"] = {
            "id": draw(ids),
            "time": draw(times_ms),
            "subject": draw(texts),
            **draw(people()),
        }
    if event == "chat_wrapped_up":
        body["chat_id"] = draw(ids)
        body["wrapup"] = {"category": draw(texts), "time": draw(times_ms), "fields": []}
    return body


ID_KEYS = {"id", "chat_id", "visitor_id"}
TIME_KEYS = {"end_time", "start_time", "time"}


def date_variant(ms: int, style: int) -> Any:
    if style == 0:
        return f"/Date({ms})/"
    if style == 1:
        return str(ms)
    if style == 2:
        return f"/Date({ms}+0800)/"
    if style == 3:
        iso = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
        return iso.replace("+00:00", "Z")
    return ms


def variant(value: Any, rng: random.Random) -> Any:
    """The same delivery as another Comm100 version might write it."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        result = {}
        for key, item in items:
            if key in ID_KEYS and isinstance(item, int):
                result[key] = rng.choice([item, str(item), f" {item} "])
            elif key in TIME_KEYS and isinstance(item, int):
                result[key] = date_variant(item, rng.randrange(5))
            else:
                result[key] = variant(item, rng)
        return result
    if isinstance(value, list):
        return [variant(item, rng) for item in value]
    return value


@given(documented_bodies(), st.randoms(use_true_random=False))
def test_a_delivery_spelled_differently_is_the_same_event(
    body: dict[str, Any], rng: random.Random
) -> None:
    assert parse_livechat_webhook(variant(body, rng)) == parse_livechat_webhook(body)


@given(documented_bodies(), people())
def test_the_key_of_a_documented_event_depends_on_its_ids_and_time_only(
    body: dict[str, Any], person: dict[str, Any]
) -> None:
    changed = {**body, "visitor": {**body["visitor"], **person}}
    assert parse_livechat_webhook(changed).dedupe_key == parse_livechat_webhook(body).dedupe_key


def unknown_key_names() -> st.SearchStrategy[str]:
    # No key the parser reads starts with "zz", whatever its spelling.
    return st.text(st.characters(categories=["Ll", "Lu", "Nd"]), max_size=6).map(
        lambda s: f"zz_{s}"
    )


@st.composite
def with_unknown_keys(draw: st.DrawFn, body: Any) -> Any:
    if isinstance(body, dict):
        grown = {key: draw(with_unknown_keys(item)) for key, item in body.items()}
        for key in draw(st.lists(unknown_key_names(), max_size=2)):
            grown[key] = draw(json_values)
        return grown
    if isinstance(body, list):
        return [draw(with_unknown_keys(item)) for item in body]
    return body


@given(st.data())
def test_unknown_keys_change_nothing(data: st.DataObject) -> None:
    body = data.draw(documented_bodies())
    grown = data.draw(with_unknown_keys(body))
    assert parse_livechat_webhook(grown) == parse_livechat_webhook(body)


@st.composite
def unknown_events(draw: st.DrawFn) -> dict[str, Any]:
    payload = draw(st.dictionaries(st.text(max_size=6), shaped_values, max_size=4))
    return {"event": "agent_status_changed", **payload}


@settings(max_examples=200)
@given(unknown_events(), st.randoms(use_true_random=False))
def test_a_body_keyed_as_a_whole_is_stable_under_key_order_and_id_types(
    body: dict[str, Any], rng: random.Random
) -> None:
    def respelled(value: Any) -> Any:
        if isinstance(value, dict):
            items = list(value.items())
            rng.shuffle(items)
            return {k: respelled(v) for k, v in items}
        if isinstance(value, list):
            return [respelled(v) for v in value]
        if isinstance(value, int) and not isinstance(value, bool) and rng.random() < 0.5:
            return str(value)
        return value

    try:
        expected = parse_livechat_webhook(body)
    except WebhookShapeError:
        return
    assert parse_livechat_webhook(respelled(body)).dedupe_key == expected.dedupe_key


@given(ids, st.sampled_from(["contact", "visitor"]), st.booleans(), st.booleans())
def test_a_ticket_is_one_event_in_either_casing_and_id_type(
    ticket_id: int, kind: str, pascal: bool, as_text: bool
) -> None:
    sent_id: Any = str(ticket_id) if as_text else ticket_id
    if pascal:
        body: dict[str, Any] = {
            "TicketInfo": {
                "Id": sent_id,
                "ContactOrVisitorType": kind.title(),
                "ContactOrVisitorId": "c",
            }
        }
    else:
        body = {
            "ticketInfo": {"id": sent_id, "contactOrVisitorType": kind, "contactOrVisitorId": "c"}
        }
    reference = {
        "ticketInfo": {"id": ticket_id, "contactOrVisitorType": kind, "contactOrVisitorId": "c"}
    }
    assert parse_ticket_trigger(body) == parse_ticket_trigger(reference)
