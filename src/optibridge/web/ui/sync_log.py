"""`/ui/sites/{site_id}/syncs`: the sync log with filters, counts and a picture of the last 24
hours (`sync_charts`), retry, and restore (SPEC 4.7): *Restore…* on a change opens a page that
says what will be written back and asks to confirm; confirming posts it (with the CSRF token)
and comes back to the log.

It reads as what happened to Optimove: what agents only looked at in the Optimove tab is shown
only when asked for (*Show agents' views*), and *Retry* only beside a record it can help."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response

from optibridge.domain.records import CHANNELS, OUTCOMES
from optibridge.domain.settings import CHANNEL_NAMES
from optibridge.errors import AppError, Conflict, NotFound
from optibridge.services import sites as site_service
from optibridge.services import syncs as sync_service
from optibridge.services.activity import day_activity
from optibridge.sync.agents import Agent
from optibridge.web.deps import RuntimeDep
from optibridge.web.ui import backfills
from optibridge.web.ui.auth import check_csrf, safe_next, set_flash
from optibridge.web.ui.charts import HEIGHT, WIDTH
from optibridge.web.ui.deps import FormDep, SessionDep, page_router
from optibridge.web.ui.render import redirect, render
from optibridge.web.ui.sync_charts import SERIES, day_charts

router = page_router()

SYNC_PAGE_SIZE = 25
OUTCOME_LABELS = {
    "created": "Created",
    "updated": "Updated",
    "unchanged": "Unchanged",
    "no_match": "No match",
    "unidentified": "Unidentified",
    "needs_contact": "Needs a contact",
    "skipped": "Skipped",
    "failed": "Failed",
    "pending": "Pending",
}
STATE_LABELS = {
    "queued": "Queued",
    "working": "Working",
    "awaiting_callback": "Awaiting Optimove",
    "done": "Done",
    "failed": "Failed",
}


@router.get("/sites/{site_id}/syncs", response_class=HTMLResponse)
def sync_log(
    site_id: int,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    outcome: Annotated[str, Query(max_length=32)] = "",
    channel: Annotated[str, Query(max_length=32)] = "",
    customer: Annotated[str, Query(max_length=200)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    views: Annotated[str, Query(max_length=8)] = "",
    cursor: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    session.principal.require_admin_of(site_id)
    problems: dict[str, str] = {}
    if outcome and outcome not in OUTCOMES:
        problems["outcome"] = "Choose an outcome from the list."
    if channel and channel not in CHANNELS:
        problems["channel"] = "Choose a channel from the list."
    since_at = _moment(since, "since", problems)
    until_at = _moment(until, "until", problems)
    if since_at and until_at and since_at >= until_at:
        problems["until"] = "Must be later than From."
    filters = sync_service.SyncFilter(
        outcome=outcome if outcome and "outcome" not in problems else None,
        channel=channel if channel and "channel" not in problems else None,
        customer_id=customer.strip() or None,
        since=since_at if "until" not in problems else None,
        until=until_at if "until" not in problems else None,
        include_views=bool(views),
    )
    notice = None
    with runtime.unit_of_work(read_only=True) as db:
        site = site_service.get_site(db, site_id)
        try:
            page = sync_service.list_syncs(
                db, site_id, filters, limit=SYNC_PAGE_SIZE, cursor=cursor or None
            )
        except AppError as error:  # a cursor from other filters, or edited
            notice = error.message + " Showing the newest records."
            page = sync_service.list_syncs(db, site_id, filters, limit=SYNC_PAGE_SIZE)
        details = [sync_service.get_sync(db, site_id, item.id) for item in page.items]
        restorable = {
            record.id for record in details if sync_service.restore_refusal(record) is None
        }
        summary = sync_service.summarize(db, site_id, hours=24)
        activity = day_activity(db, site_id, window_s=runtime.config.optimove_rate_window_s)
        site_name = site.name
    query = {
        key: value
        for key, value in (
            ("outcome", outcome),
            ("channel", channel),
            ("customer", customer),
            ("since", since),
            ("until", until),
            ("views", "1" if views else ""),
        )
        if value
    }
    return render(
        request,
        "ui/syncs.html",
        {
            "site_id": site_id,
            "site_name": site_name,
            "records": details,
            "restorable": restorable,
            "next_cursor": page.next_cursor,
            "summary": summary,
            "charts": day_charts(activity, limit=runtime.config.optimove_rate_limit),
            "chart_series": SERIES,
            "width": WIDTH,
            "height": HEIGHT,
            "limit": runtime.config.optimove_rate_limit,
            "window": f"{runtime.config.optimove_rate_window_s:g} s",
            "filters": {
                "outcome": outcome,
                "channel": channel,
                "customer": customer,
                "since": since,
                "until": until,
                "views": bool(views),
            },
            "filter_problems": problems,
            "query": query,
            "paged": bool(cursor),
            "notice": notice,
            "outcomes": [(key, OUTCOME_LABELS[key]) for key in OUTCOMES],
            "channel_names": CHANNEL_NAMES,
            "outcome_labels": OUTCOME_LABELS,
            "state_labels": STATE_LABELS,
            "current_url": _current_path(request),
            "backfill": backfills.backfill_card(runtime, site_id),
            "backfill_states": backfills.STATE_LABELS,
            "eta_words": backfills.eta_words,
        },
        status=422 if problems else 200,
        session=session,
    )


@router.post("/sites/{site_id}/syncs/{record_id}/retry", response_class=HTMLResponse)
def retry_record(
    site_id: int,
    record_id: int,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    form: FormDep,
) -> Response:
    check_csrf(session, form)
    session.principal.require_admin_of(site_id)
    back = safe_next(form.get("next"), default=f"/ui/sites/{site_id}/syncs")
    response = redirect(request, back)
    try:
        with runtime.unit_of_work() as db:
            sync_service.retry_sync(db, site_id, record_id)
    except Conflict as conflict:
        set_flash(request, response, "error", conflict.message)
        return response
    set_flash(
        request,
        response,
        "success",
        f"Record {record_id} is queued again; reload in a moment to see its new outcome.",
    )
    return response


@router.get("/sites/{site_id}/syncs/{record_id}/restore", response_class=HTMLResponse)
def confirm_restore(
    site_id: int,
    record_id: int,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    next: Annotated[str, Query(max_length=2000)] = "",
) -> Response:
    """The confirmation step: the record's change and what a restore would write back, or
    why it can't be restored (409)."""
    session.principal.require_admin_of(site_id)
    with runtime.unit_of_work(read_only=True) as db:
        site = site_service.get_site(db, site_id)
        record = sync_service.get_sync(db, site_id, record_id)
        site_name = site.name
    refusal = sync_service.restore_refusal(record)
    return render(
        request,
        "ui/restore.html",
        {
            "site_id": site_id,
            "site_name": site_name,
            "record": record,
            "refusal": refusal,
            "back": safe_next(next, default=f"/ui/sites/{site_id}/syncs"),
            "event_labels": sync_service.EVENT_NAMES,
            "channel_names": CHANNEL_NAMES,
        },
        status=409 if refusal else 200,
        session=session,
    )


@router.post("/sites/{site_id}/syncs/{record_id}/restore", response_class=HTMLResponse)
def restore_record(
    site_id: int,
    record_id: int,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    form: FormDep,
) -> Response:
    """*Restore*, confirmed: the old values written back (or why not), then the log again."""
    check_csrf(session, form)
    session.principal.require_admin_of(site_id)
    back = safe_next(form.get("next"), default=f"/ui/sites/{site_id}/syncs")
    response = redirect(request, back)
    admin = session.comm100_admin
    agent = Agent(admin.agent_id, admin.email, verified=True) if admin is not None else None
    restorer = sync_service.restorer(session.principal, "control_panel", agent)
    try:
        restore = sync_service.restore_sync(runtime, site_id, record_id, restorer)
    except NotFound:
        raise
    except AppError as error:
        set_flash(
            request, response, "error", f"Record {record_id} was not restored: {error.message}"
        )
        return response
    if not restore.changes:
        said = f"Record {restore.id}: Optimove already held record {record_id}'s old values."
    else:
        fields = ", ".join(change.field for change in restore.changes)
        said = (
            f"Record {restore.id} restores record {record_id}: the old value of {fields} was"
            " sent to Optimove. It shows Updated once Optimove confirms it."
        )
    set_flash(request, response, "success", said)
    return response


def _moment(value: str, name: str, problems: dict[str, str]) -> datetime | None:
    """A `datetime-local` value (or any ISO 8601 time), taken as UTC when it has no offset."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        problems[name] = "Enter a date and time like 2025-11-26 14:30."
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _current_path(request: Request) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path
