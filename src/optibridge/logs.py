"""Structured logs: JSON off a terminal, readable on one; secrets are redacted before output."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SECRET_FIELD = re.compile(r"(api[_-]?key|token|secret|password|authorization|cookie)", re.I)
SECRET_IN_TEXT = re.compile(
    r"((?:token|api[_-]?key|secret|password)=)[^&\s\"']+|(x-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+",
    re.I,
)
REDACTED = "[redacted]"


def redact_text(text: str) -> str:
    """Hide secret values carried in query strings or header dumps inside free text."""
    return SECRET_IN_TEXT.sub(lambda m: (m.group(1) or m.group(2)) + REDACTED, text)


def _redact_secrets(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if SECRET_FIELD.search(key) and value is not None:
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = redact_text(value)
    return event


def configure_logging(log_format: str = "auto", level: str = "info") -> None:
    as_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # uvicorn's access log prints full URLs (webhook tokens); ours logs redacted paths instead.
    logging.getLogger("uvicorn.access").disabled = True


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
