"""What both sandboxes' vendor APIs do alike: the catch-all route, routing by path segments,
JSON bodies, API key checks. Each vendor keeps its paths, its checks' order and its answers.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, FastAPI, Request, Response

from optibridge.sandbox.control import PREFIX, control_path_miss

_VENDOR_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

VendorApi = Callable[[Request, str], Awaitable[Response]]


def add_vendor_api(app: FastAPI, control: APIRouter, answer: VendorApi) -> None:
    """Route every other path to `answer(request, path)` (the path relative to the sandbox's
    root), but one under `/_sandbox/` that `control` does not take to a control-surface 404/405.
    Add it last: it takes whatever the routes before it did not."""

    async def vendor_api(request: Request) -> Response:
        path: str = request.path_params["vendor_path"]
        if "/" + path.split("/", 1)[0] == PREFIX:
            return control_path_miss(control, request)
        return await answer(request, path)

    app.add_route(
        "/{vendor_path:path}", vendor_api, methods=list(_VENDOR_METHODS), include_in_schema=False
    )


def key_is_accepted(key: str, accepted: Iterable[str]) -> bool:
    # Constant-time, so the answer's timing does not tell how much of a key was right.
    return any(hmac.compare_digest(key.encode(), known.encode()) for known in accepted)


# --- bodies -----------------------------------------------------------------------------------

NOT_JSON = object()  # a body that does not parse


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """The JSON value of `raw` (strict: no NaN or Infinity), else `NOT_JSON`."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, NaN, nesting
        return NOT_JSON


async def read_body(request: Request) -> bytes:
    """The body of a POST, PUT or PATCH; nothing for any other method."""
    return await request.body() if request.method in _BODY_METHODS else b""


# --- routing ----------------------------------------------------------------------------------

HandlerT = TypeVar("HandlerT")
EndpointT = TypeVar("EndpointT", bound="Endpoint[Any]")


@dataclass(frozen=True)
class Endpoint(Generic[HandlerT]):
    pattern: tuple[str | None, ...]  # lower-case fixed segments; None captures one segment
    method: str
    handler: HandlerT

    def matches(self, segments: list[str]) -> bool:
        if len(segments) != len(self.pattern):
            return False
        return all(
            bool(segment) if fixed is None else segment.lower() == fixed
            for fixed, segment in zip(self.pattern, segments, strict=True)
        )

    def captured(self, segments: list[str]) -> list[str]:
        return [s for s, fixed in zip(segments, self.pattern, strict=True) if not fixed]


def path_segments(path: str) -> list[str]:
    segments = path.split("/")
    if len(segments) > 1 and segments[-1] == "":
        segments.pop()  # one trailing slash is tolerated
    return segments


def endpoint_for(
    endpoints: Iterable[EndpointT], segments: list[str], method: str
) -> EndpointT | None:
    return next((e for e in endpoints if e.matches(segments) and e.method == method), None)


def allowed_methods(endpoints: Iterable[Endpoint[Any]], segments: list[str]) -> list[str]:
    """The methods the path takes, sorted (none: there is no such path)."""
    return sorted({e.method for e in endpoints if e.matches(segments)})
