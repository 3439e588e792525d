"""The vendors' published samples, verbatim (`tests/fixtures/vendor/`, described in its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "vendor"


def sample(vendor: str, name: str) -> Any:
    """The published sample `name` (without `.json`) of `vendor`, parsed: its `payload`."""
    document = json.loads((SAMPLES / vendor / f"{name}.json").read_text(encoding="utf-8"))
    assert "payload" in document, f"{name} has no parsed payload"
    return document["payload"]
