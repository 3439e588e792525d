"""Inbound webhooks (SPEC 5.3): Comm100 events, and Optimove's update confirmations."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from optibridge.domain.records import Channel
from optibridge.errors import AppError, PayloadTooLarge
from optibridge.metrics import observe_webhook
from optibridge.runtime import Runtime
from optibridge.sync.callbacks import settle_callback
from optibridge.sync.ingest import (
    MAX_WEBHOOK_BYTES,
    Accepted,
    SiteTokens,
    parse_event,
    store_event,
    verify_site,
)
from optibridge.web.deps import RuntimeDep
from optibridge.web.schemas import error_responses

router = APIRouter(tags=["webhooks"])

TokenQuery = Annotated[
    str | None, Query(description="The site's secret, as in the URL shown to the admin.")
]
WEBHOOK_ERRORS = error_responses(
    {
        400: "Malformed JSON, or not a Comm100 payload (the message says why)",
        401: "Wrong token",
        404: "Unknown site",
        413: "Body over 1 MiB",
    }
)


async def read_limited_body(request: Request) -> bytes:
    """The body, refusing anything over 1 MiB without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLarge(f"The body is over {MAX_WEBHOOK_BYTES} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_WEBHOOK_BYTES:
            raise PayloadTooLarge(f"The body is over {MAX_WEBHOOK_BYTES} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def site_tokens(request: Request) -> SiteTokens:
    tokens: SiteTokens | None = getattr(request.app.state, "site_tokens", None)
    if tokens is None:
        tokens = SiteTokens(request.app.state.runtime)
        request.app.state.site_tokens = tokens
    return tokens


async def _accept(
    channel: Channel, site_id: int, token: str | None, request: Request, runtime: RuntimeDep
) -> JSONResponse:
    started = time.perf_counter()
    answered = status.HTTP_500_INTERNAL_SERVER_ERROR
    try:
        body = await read_limited_body(request)  # bounded (1 MiB) while it is read
        # One hop to a thread for the blocking part: the token, the parse, the durable insert.
        accepted = await run_in_threadpool(
            _verify_and_store, site_tokens(request), runtime, channel, site_id, token, body
        )
        answered = status.HTTP_202_ACCEPTED
    except AppError as error:
        answered = error.status
        raise
    finally:
        observe_webhook(channel, answered, time.perf_counter() - started)
    return JSONResponse(
        {"id": accepted.record_id, "duplicate": accepted.duplicate}, status_code=answered
    )


def _verify_and_store(
    tokens: SiteTokens,
    runtime: Runtime,
    channel: Channel,
    site_id: int,
    token: str | None,
    body: bytes,
) -> Accepted:
    """The site's token first (a wrong one says nothing about the body), then the event."""
    verify_site(tokens, site_id, token)
    return store_event(runtime, site_id, parse_event(channel, body))


@router.post(
    "/webhooks/comm100/{site_id}/livechat",
    status_code=202,
    responses=WEBHOOK_ERRORS,
    summary="A Comm100 Live Chat webhook (chat ended, offline message, …)",
)
async def livechat_webhook(
    site_id: int, request: Request, runtime: RuntimeDep, token: TokenQuery = None
) -> JSONResponse:
    """Stored durably, then answered 202 `{"id", "duplicate"}`; processed in the background."""
    return await _accept("livechat", site_id, token, request, runtime)


@router.post(
    "/webhooks/comm100/{site_id}/ticketing",
    status_code=202,
    responses=WEBHOOK_ERRORS,
    summary="A Comm100 ticket trigger ('when a ticket is created')",
)
async def ticketing_webhook(
    site_id: int, request: Request, runtime: RuntimeDep, token: TokenQuery = None
) -> JSONResponse:
    """Every delivery is treated as *ticket created*; a ticket id seen before is a duplicate."""
    return await _accept("ticketing", site_id, token, request, runtime)


@router.post(
    "/callbacks/optimove/{site_id}",
    responses=WEBHOOK_ERRORS,
    summary="Optimove's asynchronous result of an attribute update",
)
async def optimove_callback(
    site_id: int,
    request: Request,
    runtime: RuntimeDep,
    token: TokenQuery = None,
    write: Annotated[str | None, Query(description="Our id of the write.")] = None,
) -> JSONResponse:
    await run_in_threadpool(verify_site, site_tokens(request), site_id, token)
    body = await read_limited_body(request)
    settled = await run_in_threadpool(settle_callback, runtime, site_id, write, body)
    return JSONResponse({"settled": settled})
