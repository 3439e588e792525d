"""Hypothesis strategies for text as hostile senders write it.

`st.text()` leaves out the surrogate category (Cs) by default, and rarely draws NUL: exactly the
characters that no database or HTTP body can carry, and that reached us as legal JSON escapes.
These strategies draw them often.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Lone surrogates at both ends of the range, NUL, and other control characters.
NASTY_CHARACTERS = ("\x00", "\ud800", "\udbff", "\udc00", "\udfff", "\x7f", "\u2028", "\ufeff")


def nasty_text(*, min_size: int = 0, max_size: int = 20) -> st.SearchStrategy[str]:
    """Any text, lone surrogates and NUL included and drawn often."""
    characters = st.one_of(st.sampled_from(NASTY_CHARACTERS), st.characters(exclude_categories=()))
    return st.text(characters, min_size=min_size, max_size=max_size)


def json_values(text: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Any]:
    """JSON documents (as Python values) whose strings, keys included, are `text`."""
    strings = text if text is not None else nasty_text(max_size=8)
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | strings
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(strings, inner, max_size=4),
        max_leaves=12,
    )
