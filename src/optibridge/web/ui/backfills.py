"""The sync log page's *Backfill* card (SPEC 4.7): start a backfill of a channel and a period,
follow its progress bar, counts and ETA, pause, resume or cancel it.

`backfill_card` is what the card shows (drawn with the sync log page); the two routes are its
forms: `POST /ui/sites/{site_id}/backfills` starts one, `POST /ui/sites/{site_id}/backfills/
{backfill_id}` with `action` (pause, resume, cancel) moves one. Both answer with a redirect to
the card and a message, as the other forms of the control panel do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from optibridge.domain.backfills import ACTIONS, Action
from optibridge.domain.settings import CHANNEL_NAMES
from optibridge.errors import AppError
from optibridge.runtime import Runtime
from optibridge.services import backfills as backfill_service
from optibridge.services.backfills import BackfillView
from optibridge.web.deps import RuntimeDep
from optibridge.web.ui.auth import check_csrf, set_flash
from optibridge.web.ui.deps import FormDep, SessionDep, page_router
from optibridge.web.ui.render import redirect

router = page_router()

UNDER_WAY = ("queued", "running", "paused")
RECENT = 5
STATE_LABELS = {
    "queued": "Queued",
    "running": "Running",
    "paused": "Paused",
    "done": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
_MOVED = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}
_CHANNEL_NAMES: dict[str, str] = {str(k): v for k, v in CHANNEL_NAMES.items()}


@dataclass(frozen=True)
class BackfillCard:
    """The card: the backfills under way (with their bars), the last ones over."""

    under_way: list[BackfillView]
    recent: list[BackfillView]

    @property
    def live(self) -> bool:
        """Whether its numbers move (the page's script then refreshes them)."""
        return any(b.state in ("queued", "running") for b in self.under_way)


def backfill_card(runtime: Runtime, site_id: int) -> BackfillCard:
    backfills = backfill_service.list_backfills(runtime, site_id, limit=RECENT + 2)
    return BackfillCard(
        under_way=[b for b in backfills if b.state in UNDER_WAY],
        recent=[b for b in backfills if b.state not in UNDER_WAY][:RECENT],
    )


def eta_words(eta_s: float | None) -> str:
    """'about 6 minutes left', or why there is no ETA yet."""
    if eta_s is None:
        return "time left: not known yet"
    minutes = round(eta_s / 60)
    if eta_s < 60:
        return "less than a minute left"
    if minutes < 60:
        return f"about {minutes} minute{'s' if minutes != 1 else ''} left"
    hours, rest = divmod(minutes, 60)
    return f"about {hours} h {rest} min left"


@router.post("/sites/{site_id}/backfills", response_class=HTMLResponse)
def start_backfill(
    site_id: int, request: Request, runtime: RuntimeDep, session: SessionDep, form: FormDep
) -> Response:
    """*Start backfill*: the channel and the period (`since`, `until` as `datetime-local`, UTC;
    `until` empty means now)."""
    check_csrf(session, form)
    session.principal.require_admin_of(site_id)
    response = redirect(request, f"/ui/sites/{site_id}/syncs#backfill")
    channel = form.get("channel", "")
    since = _moment(form.get("since", ""))
    until = _moment(form.get("until", ""))
    if since is None or (form.get("until") and until is None):
        set_flash(
            request,
            response,
            "error",
            "The backfill was not started: give its period as dates and times (From, and "
            "optionally To).",
        )
        return response
    try:
        started = backfill_service.start(runtime, site_id, channel, since, until)
    except AppError as error:
        if error.status == 404:
            raise
        set_flash(request, response, "error", _refusal(error))
        return response
    set_flash(
        request,
        response,
        "success",
        f"Backfill {started.id} of {_CHANNEL_NAMES.get(channel, channel)} started: it runs in "
        "the background, and its records appear below as they are replayed.",
    )
    return response


@router.post("/sites/{site_id}/backfills/{backfill_id}", response_class=HTMLResponse)
def move_backfill(
    site_id: int,
    backfill_id: int,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    form: FormDep,
) -> Response:
    """*Pause*, *Resume* or *Cancel* (the form's `action`)."""
    check_csrf(session, form)
    session.principal.require_admin_of(site_id)
    response = redirect(request, f"/ui/sites/{site_id}/syncs#backfill")
    action = form.get("action", "")
    if action not in ACTIONS:
        set_flash(request, response, "error", "Choose Pause, Resume or Cancel.")
        return response
    try:
        backfill_service.act(runtime, site_id, backfill_id, _action(action))
    except AppError as error:
        if error.status == 404:
            raise
        set_flash(request, response, "error", error.message)
        return response
    set_flash(request, response, "success", f"Backfill {backfill_id} {_MOVED[action]}.")
    return response


def _action(action: str) -> Action:
    return next(a for a in ACTIONS if a == action)


def _refusal(error: AppError) -> str:
    """The service's refusal in words, each problem after it."""
    problems = " ".join(
        p.message[:1].upper() + p.message[1:] + ("" if p.message.endswith(".") else ".")
        for p in error.details
    )
    return f"The backfill was not started. {problems}".strip() if problems else error.message


def _moment(value: str) -> datetime | None:
    """A `datetime-local` value (or any ISO 8601 time), taken as UTC without an offset."""
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
