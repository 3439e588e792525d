"""Every request's text made storable before a route sees it (`safe_text`, the one decision).

A pure ASGI middleware, so that each door of the API gets the same treatment without each route
remembering it: NUL in the path or the query string, and lone surrogates or NUL in a JSON body,
become U+FFFD; a JSON body nested deeper than `safe_text.MAX_DEPTH` is answered 400 with the
error shape (Python's parser would raise RecursionError, a 500, at about a thousand levels); an
id in the path beyond 64 bits is answered 404.

Webhooks and Optimove's callbacks are left to their own intake, which reads the raw body once
with the same rules (`safe_text.loads`): it is the busiest path, and parsing twice would cost it.
"""

from __future__ import annotations

import html
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from optibridge import safe_text
from optibridge.web.errors import error_body

# Bodies of the admin and console APIs are small documents; anything bigger is not one of ours.
MAX_JSON_BODY_BYTES = 1024 * 1024
RAW_BODY_PREFIXES = ("/webhooks/", "/callbacks/")
JSON_PREFIXES = ("/api/", *RAW_BODY_PREFIXES)
_NUL_ESCAPE = b"%00"
_REPLACEMENT_ESCAPE = b"%EF%BF%BD"


class StorableInputMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = _with_storable_address(scope)
        if any(_beyond_64_bits(part) for part in scope["path"].split("/")):
            # Every id we store is a 64-bit integer: such an id names nothing (and PostgreSQL
            # would refuse to even compare with it). Pages for people answer as pages.
            message = "Nothing has that id: it is out of range."
            if scope["path"].startswith(JSON_PREFIXES):
                await _answer(send, 404, "not_found", message)
            else:
                await _answer_page(send, 404, "Not found", message)
            return
        if not _has_json_body(scope):
            await self.app(scope, receive, send)
            return
        body, more = await _read_body(receive)
        if more:  # too big to be one of our documents: the route answers 413 or 422 itself
            await self.app(scope, _replay(body, receive, more_body=True), send)
            return
        try:
            cleaned = safe_text.loads(body)
        except safe_text.JsonTooDeep as error:
            await _answer(
                send, 400, "bad_request", f"The request body is not usable JSON: {error}."
            )
            return
        except ValueError:
            cleaned = None  # not JSON: FastAPI answers 400 with the details
        if cleaned is not None and cleaned.replaced:
            body = json.dumps(cleaned.value, ensure_ascii=False).encode("utf-8")
            scope = _with_content_length(scope, len(body))
        await self.app(scope, _replay(body, receive, more_body=False), send)


def _with_storable_address(scope: Scope) -> Scope:
    path: str = scope["path"]
    query: bytes = scope.get("query_string", b"")
    if "\x00" not in path and _NUL_ESCAPE not in query:
        return scope
    changed = dict(scope)
    changed["path"] = safe_text.storable_text(path)
    changed["query_string"] = query.replace(_NUL_ESCAPE, _REPLACEMENT_ESCAPE)
    return changed


def _with_content_length(scope: Scope, length: int) -> Scope:
    headers = [(name, value) for name, value in scope["headers"] if name != b"content-length"]
    return {**scope, "headers": [*headers, (b"content-length", str(length).encode())]}


def _has_json_body(scope: Scope) -> bool:
    if scope["method"] not in ("POST", "PUT", "PATCH"):
        return False
    if scope["path"].startswith(RAW_BODY_PREFIXES):
        return False
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The body, up to `MAX_JSON_BODY_BYTES`; True when there is more after it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False
        if size > MAX_JSON_BODY_BYTES:
            return b"".join(chunks), True


def _replay(body: bytes, original: Receive, *, more_body: bool) -> Receive:
    """A receive that hands `body` over first, then whatever the original receive says next
    (the rest of the body, or in time the client's disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more_body}
        return await original()

    return receive


def _beyond_64_bits(path_segment: str) -> bool:
    digits = path_segment.removeprefix("-")
    if not digits.isdecimal() or not digits.isascii():
        return False
    return len(digits) > 19 or not -(2**63) <= int(path_segment) < 2**63


async def _answer(send: Send, status: int, code: str, message: str) -> None:
    content = json.dumps(error_body(code, message)).encode()
    await _send(send, status, b"application/json", content)


async def _answer_page(send: Send, status: int, title: str, message: str) -> None:
    page = f"<!doctype html><title>{html.escape(title)}</title><p>{html.escape(message)}</p>"
    await _send(send, status, b"text/html; charset=utf-8", page.encode())


async def _send(send: Send, status: int, content_type: bytes, content: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(content)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
