"""Backfills in the administration API (SPEC 5.2): start one, list them, read one, pause, resume
and cancel it. The work is done by the workers (`sync/backfill.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from optibridge.domain.backfills import BACKFILL_STATES, Action
from optibridge.services import backfills as backfill_service
from optibridge.web.deps import PrincipalDep, RuntimeDep
from optibridge.web.schemas import MALFORMED, error_responses

ERRORS = error_responses(
    {
        400: MALFORMED,
        401: "Missing or invalid token",
        403: "The token may not do this",
        404: "Unknown site (or backfill)",
        422: "Invalid input: every problem with a JSON pointer",
    }
)

router = APIRouter(prefix="/api/v1/sites", tags=["backfills"], responses=ERRORS)


class BackfillStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["livechat", "ticketing"] = Field(
        description="`livechat`: the period's chats and offline messages; `ticketing`: its tickets."
    )
    since: datetime = Field(
        description="The period's start (ISO 8601; naive means UTC).",
        examples=["2026-03-01T00:00:00Z"],
    )
    until: datetime | None = Field(
        default=None,
        description="The period's end, excluded; default and latest: now.",
        examples=["2026-04-01T00:00:00Z"],
    )


class BackfillOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    channel: str = Field(description="livechat or ticketing.")
    since: datetime
    until: datetime
    state: str = Field(
        description="One of "
        + ", ".join(BACKFILL_STATES)
        + ". `running` while workers list and replay it; `paused` and `queued` wait; `done`, "
        "`failed` (`error` says why) and `cancelled` are over."
    )
    total: int = Field(
        description="The period's conversations: as Comm100 counts them while listing, what "
        "was listed once done. When done: total = done + skipped + failed."
    )
    done: int = Field(
        description="Replayed and applied (any outcome but failed), or already synced (live "
        "or by an earlier backfill: never applied twice)."
    )
    skipped: int = Field(
        description="Nothing to replay: a chat that never ended, a missed or refused one, an "
        "entry without an id."
    )
    failed: int = Field(description="Replayed, and their sync record failed (retry it there).")
    in_progress: int = Field(description="Replayed, their sync record not final yet.")
    already_synced: int = Field(description="Of `done`: those already in the sync log.")
    created_at: datetime
    started_at: datetime | None = Field(description="When a worker first took it.")
    finished_at: datetime | None
    eta_s: float | None = Field(
        description="Seconds until it is done at the pace so far (running time only); null "
        "while there is no pace, when paused, or over (0 when done)."
    )
    per_minute: float | None = Field(
        description="Conversations finished per minute of running, so far."
    )
    percent: int = Field(description="How far it is, 0 to 100 (a progress bar's width).")
    error: str | None = Field(
        description="Why it failed, or why its listing waits to be tried again."
    )


class BackfillListOut(BaseModel):
    items: list[BackfillOut] = Field(description="Newest first.")


def _out(backfill: backfill_service.BackfillView) -> BackfillOut:
    return BackfillOut.model_validate(backfill, from_attributes=True)


@router.post(
    "/{site_id}/backfills",
    status_code=202,
    responses=error_responses(
        {
            409: "A backfill of this channel is already under way (queued, running or paused)",
            422: "Invalid input, Comm100 not connected (each missing setting with its JSON "
            "pointer), or the channel not enabled",
        }
    ),
)
def start_backfill(
    site_id: int, body: BackfillStart, runtime: RuntimeDep, principal: PrincipalDep
) -> BackfillOut:
    """Replay the period's conversations of a channel through the site's rules, in the
    background on the budget's lowest lane: each becomes a sync record (event `backfill_*`),
    none twice, and none already synced live. Answered at once (202) with the queued backfill;
    follow it with `GET …/backfills/{id}`."""
    principal.require_admin_of(site_id)
    return _out(backfill_service.start(runtime, site_id, body.channel, body.since, body.until))


@router.get("/{site_id}/backfills")
def list_backfills(
    site_id: int,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=backfill_service.MAX_LIST_SIZE)] = (
        backfill_service.DEFAULT_LIST_SIZE
    ),
) -> BackfillListOut:
    """The site's backfills, newest first, each with its progress."""
    principal.require_admin_of(site_id)
    found = backfill_service.list_backfills(runtime, site_id, limit)
    return BackfillListOut(items=[_out(b) for b in found])


@router.get("/{site_id}/backfills/{backfill_id}")
def get_backfill(
    site_id: int, backfill_id: int, runtime: RuntimeDep, principal: PrincipalDep
) -> BackfillOut:
    """One backfill with its counts and ETA."""
    principal.require_admin_of(site_id)
    return _out(backfill_service.get_backfill(runtime, site_id, backfill_id))


MOVE_ERRORS = error_responses({409: "The move does not apply to the backfill's state"})


def _move(site_id: int, backfill_id: int, runtime: RuntimeDep, action: Action) -> BackfillOut:
    return _out(backfill_service.act(runtime, site_id, backfill_id, action))


@router.post("/{site_id}/backfills/{backfill_id}/pause", responses=MOVE_ERRORS)
def pause_backfill(
    site_id: int, backfill_id: int, runtime: RuntimeDep, principal: PrincipalDep
) -> BackfillOut:
    """Stop listing more conversations (the few already queued, at most a page, still
    finish). 409 unless queued or running."""
    principal.require_admin_of(site_id)
    return _move(site_id, backfill_id, runtime, "pause")


@router.post("/{site_id}/backfills/{backfill_id}/resume", responses=MOVE_ERRORS)
def resume_backfill(
    site_id: int, backfill_id: int, runtime: RuntimeDep, principal: PrincipalDep
) -> BackfillOut:
    """Go on from where it paused. 409 unless paused."""
    principal.require_admin_of(site_id)
    return _move(site_id, backfill_id, runtime, "resume")


@router.post("/{site_id}/backfills/{backfill_id}/cancel", responses=MOVE_ERRORS)
def cancel_backfill(
    site_id: int, backfill_id: int, runtime: RuntimeDep, principal: PrincipalDep
) -> BackfillOut:
    """Stop for good: conversations queued but not taken by a worker are dropped (a later
    backfill may replay them); those being applied finish. 409 when already over."""
    principal.require_admin_of(site_id)
    return _move(site_id, backfill_id, runtime, "cancel")
