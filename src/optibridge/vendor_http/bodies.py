"""A vendor's answer, classified whatever its Content-Type claims, and what it said about errors.

A body is empty, an HTML page (a web server that is not the API), JSON of any kind (a bare
string too) or plain text; servers mislabel often, so the bytes decide. Which keys hold an
error's message is read with the vendor's own key lookup: its JSON casing stays with the vendor.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from optibridge import safe_text

# Longest server message we quote back to an administrator.
MESSAGE_LIMIT = 300
# How deep into nested error objects a message is looked for.
MAX_MESSAGE_DEPTH = 4

BodyKind = Literal["empty", "json", "html", "text"]
# `obj[name]` as the vendor spells its keys (case, `_`, `-`); None when absent.
KeyLookup = Callable[[Mapping[str, Any], str], Any]

_HTML_START = re.compile(r"^\s*<(!doctype\s+html|html|head|body|title|\?xml)\b", re.IGNORECASE)
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")
_MESSAGE_KEYS = ("message", "error_description", "error", "title", "detail", "errors")


@dataclass(frozen=True)
class Body:
    """A response body, classified. `value` is the parsed JSON, or the text otherwise."""

    kind: BodyKind
    value: Any = None

    def describe(self) -> str:
        """What the body is, in words, for an error message."""
        if self.kind == "empty":
            return "an empty body"
        if self.kind == "html":
            return "an HTML page"
        if self.kind == "text":
            return "plain text"
        return f"a JSON {json_kind(self.value)}"


def decode_body(content: bytes, content_type: str | None) -> Body:
    """Classify a body whatever its Content-Type claims (servers mislabel often)."""
    text = content.decode("utf-8", errors="replace").strip().lstrip("\ufeff")
    if not text:
        return Body("empty")
    if _HTML_START.match(text) or (content_type or "").lower().startswith("text/html"):
        return Body("html", text)
    try:
        # Text a vendor sent is stored and shown: made storable like every input (safe_text).
        return Body("json", safe_text.loads(text).value)
    except ValueError:  # not JSON, or nested deeper than any answer of an API we call
        return Body("text", safe_text.storable_text(text))


def error_message(body: Body, get: KeyLookup) -> str:
    """The server's own explanation, one line and trimmed, or '' when it gave none."""
    if body.kind == "json":
        message = _message_in(body.value, get, 0)
    elif body.kind == "html":
        title = _HTML_TITLE.search(body.value)
        message = _TAG.sub(" ", title.group(1)) if title else ""
    elif body.kind == "text":
        message = str(body.value)
    else:
        message = ""
    return trim(message)


def trim(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """`message` on one line, cut to `limit` characters (an ellipsis says it was cut)."""
    one_line = _SPACES.sub(" ", message).strip()
    return one_line if len(one_line) <= limit else one_line[: limit - 1].rstrip() + "…"


def json_kind(value: Any) -> str:
    """What a parsed JSON value is, in JSON's words: object, list, string, null, boolean, number."""
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"


def _message_in(value: Any, get: KeyLookup, depth: int) -> str:
    if depth > MAX_MESSAGE_DEPTH:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for key in _MESSAGE_KEYS:
            found = get(value, key)
            if isinstance(found, str) and found:
                return found
            if isinstance(found, Mapping | list) and found:
                return _message_in(found, get, depth + 1)
        return ""
    if isinstance(value, list):
        return "; ".join(m for m in (_message_in(v, get, depth + 1) for v in value[:3]) if m)
    return ""
