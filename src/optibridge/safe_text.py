"""Text we can store and send, whatever arrived: the one decision for every door.

JSON may spell characters that no database or HTTP body can carry: a lone UTF-16 surrogate
(`"\\ud800"`, legal JSON, not encodable as UTF-8) and NUL (`"\\u0000"`, which PostgreSQL text
refuses). Refusing such a webhook would lose the whole event for one odd character a visitor
typed, so every door replaces them instead, the same way everywhere: each becomes U+FFFD
(the replacement character, as a UTF-8 decoder would show it). Webhooks, Optimove's
callbacks and answers, the admin and console APIs, the control panel's forms and the CLI all
pass what they receive through here before anything is stored, compared or sent
(docs/decisions.md, "Text that can't be stored").

JSON nested deeper than `MAX_DEPTH` is refused: no document we accept comes near it, and
Python's parser would otherwise stop with a RecursionError at about a thousand levels.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

REPLACEMENT = "\ufffd"
MAX_DEPTH = 64

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class JsonTooDeep(ValueError):
    """The document nests arrays or objects more than `MAX_DEPTH` deep."""

    def __init__(self, max_depth: int = MAX_DEPTH) -> None:
        super().__init__(f"it nests arrays or objects more than {max_depth} levels deep")


@dataclass(frozen=True)
class Cleaned:
    """A value made storable, and how many characters had to be replaced in it."""

    value: Any
    replaced: int = 0


def storable_text(text: str) -> str:
    """`text` with every lone surrogate and NUL replaced by U+FFFD."""
    if text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub(REPLACEMENT, text)


def unstorable_characters(text: str) -> int:
    """How many characters of `text` `storable_text` would replace."""
    if text.isascii() and "\x00" not in text:
        return 0
    return len(_UNSTORABLE.findall(text))


def clean(value: Any, max_depth: int = MAX_DEPTH) -> Cleaned:
    """A parsed JSON value with its strings (keys too) made storable; `JsonTooDeep` past
    `max_depth` levels of arrays and objects."""
    replaced = 0

    def walk(item: Any, depth: int) -> Any:
        nonlocal replaced
        if isinstance(item, str):
            count = unstorable_characters(item)
            if count:
                replaced += count
                return _UNSTORABLE.sub(REPLACEMENT, item)
            return item
        if isinstance(item, dict | list):
            if depth >= max_depth:
                raise JsonTooDeep(max_depth)
            if isinstance(item, list):
                return [walk(element, depth + 1) for element in item]
            return {walk(key, depth + 1): walk(element, depth + 1) for key, element in item.items()}
        return item

    return Cleaned(walk(value, 0), replaced)


def loads(document: bytes | str, max_depth: int = MAX_DEPTH) -> Cleaned:
    """Parse JSON and make it storable. `ValueError` (with `JsonTooDeep` among its kinds) when
    it is not JSON, not UTF-8, or nested too deep."""
    try:
        value = json.loads(document)
    except RecursionError:
        raise JsonTooDeep(max_depth) from None
    return clean(value, max_depth)
