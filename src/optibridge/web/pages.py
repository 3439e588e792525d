"""The control panel (SPEC 5.6): server-rendered pages for administrators.

- `/ui/login`, `/ui/logout`: sign in with an admin token (a session cookie; see `ui_auth`).
- `/ui/sites`: the sites this administrator may manage; a deployment admin creates sites here.
- `/ui/sites/{site_id}`: the site's Optimove page, in the order a Comm100 administrator knows:
  *Connect* (Optimove account, Comm100 site; each button tests the connection for real and
  saves it only when it works), *Manage Integration Settings* (saved as a whole, every problem
  shown beside its field), and the webhook URLs to paste into Comm100.
- `/ui/sites/{site_id}/syncs`: the sync log with filters, counts for the last 24 hours, retry.

Transport only: every rule lives in the services. Forms are plain HTML forms (urlencoded), each
POST carries a CSRF token, and every POST that changes something answers with a redirect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from optibridge.domain.attributes import AttributeInfo
from optibridge.domain.records import CHANNELS, OUTCOMES, Channel
from optibridge.domain.settings import CHANNEL_NAMES
from optibridge.errors import AppError, Conflict, Invalid, Problem, Unauthorized
from optibridge.optimove.errors import OptimoveError
from optibridge.runtime import Runtime
from optibridge.services import comm100_connection as comm100_service
from optibridge.services import settings as settings_service
from optibridge.services import sites as site_service
from optibridge.services import syncs as sync_service
from optibridge.services.comm100_connection import FieldChoices
from optibridge.services.tokens import Role, authenticate
from optibridge.store.repositories import SettingsRepository
from optibridge.store.sync_log import SyncFilter
from optibridge.web.deps import RuntimeDep, public_url
from optibridge.web.ui_auth import (
    UiSession,
    check_csrf,
    check_login_csrf,
    current_session,
    end_session,
    login_form_token,
    read_form,
    remember_login_nonce,
    require_session,
    safe_next,
    set_flash,
    start_session,
)
from optibridge.web.ui_render import (
    STATIC_DIR,
    STATIC_PATH,
    PageRoute,
    error_page,
    redirect,
    render,
)
from optibridge.web.ui_settings_form import (
    EVENTS,
    NO_MATCH_CHOICES,
    UPDATE_CHOICES,
    ErrorIndex,
    SettingsForm,
    apply_op,
    document_with_form,
    element_id,
    form_from_document,
    form_from_post,
    known_pointers,
)

__all__ = ["STATIC_PATH", "router", "static_files"]

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)

SessionDep = Annotated[UiSession, Depends(require_session)]
FormDep = Annotated[dict[str, str], Depends(read_form)]

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
EVENT_LABELS = {
    "chat_ended": "Chat ended",
    "offline_message_submitted": "Offline message submitted",
    "ticket_created": "Ticket created",
    "chat_started": "Chat started",
    "chat_wrapped_up": "Chat wrapped up",
}


def static_files() -> StaticFiles:
    """The control panel's stylesheet and script, for `app.mount(STATIC_PATH, …)`."""
    return StaticFiles(directory=STATIC_DIR)


# --- signing in and out ------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return redirect(request, "/ui/sites")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    if current_session(request) is not None:
        return redirect(request, safe_next(next))
    return _login_form(request, next_path=safe_next(next), error=None, status=200)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, runtime: RuntimeDep, form: FormDep) -> Response:
    check_login_csrf(request, form)
    next_path = safe_next(form.get("next"))
    token = form.get("token", "").strip()
    if not token:
        return _login_form(request, next_path, "Enter an admin token.", status=422)
    bootstrap = runtime.config.admin_token
    try:
        with runtime.unit_of_work(read_only=True) as db:
            principal = authenticate(db, token, bootstrap.get_secret_value() if bootstrap else None)
    except Unauthorized:
        return _login_form(
            request,
            next_path,
            "That token is not valid. Use an admin token as printed by `optibridge serve` or "
            "`optibridge demo`, or one created with `optibridge tokens create`.",
            status=401,
        )
    if principal.role is not Role.ADMIN:
        return _login_form(
            request,
            next_path,
            "That is an agent token (for the agent console). The control panel needs an admin "
            "token.",
            status=403,
        )
    response = redirect(request, next_path)
    start_session(request, response, principal)
    return response


def _login_form(request: Request, next_path: str, error: str | None, status: int) -> Response:
    nonce, token = login_form_token(request)
    response = render(
        request,
        "ui/login.html",
        {"login_csrf": token, "next_path": next_path, "error": error},
        status=status,
    )
    remember_login_nonce(request, response, nonce)
    return response


@router.post("/logout", response_class=HTMLResponse)
def logout(request: Request, form: FormDep) -> Response:
    session = current_session(request)
    if session is not None:
        check_csrf(session, form)
    response = redirect(request, "/ui/login")
    end_session(request, response)
    set_flash(request, response, "info", "You are signed out.")
    return response


# --- sites -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteRow:
    site_id: int
    name: str
    created_at: datetime
    optimove_connected: bool
    comm100_connected: bool
    livechat: bool
    ticketing: bool


@router.get("/sites", response_class=HTMLResponse)
def sites_page(request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    return _sites_page(request, runtime, session)


@router.post("/sites", response_class=HTMLResponse)
def create_site(
    request: Request, runtime: RuntimeDep, session: SessionDep, form: FormDep
) -> Response:
    check_csrf(session, form)
    session.principal.require_deployment_admin()
    raw_id = form.get("site_id", "").strip()
    name = form.get("name", "")
    values = {"site_id": raw_id, "name": name}
    if not raw_id.isdigit():
        problem = Problem("/site_id", "Enter the Comm100 site id: a whole number, e.g. 10000.")
        problems = [problem]
        if not name.strip():
            problems.append(Problem("/name", "must not be empty"))
        return _sites_page(request, runtime, session, ErrorIndex(problems), values, 422)
    site_id = int(raw_id)
    try:
        with runtime.unit_of_work() as db:
            site_service.create_site(db, runtime.box, site_id, name)
    except Invalid as invalid:
        return _sites_page(request, runtime, session, ErrorIndex(invalid.details), values, 422)
    except Conflict as conflict:
        errors = ErrorIndex([Problem("/site_id", conflict.message)])
        return _sites_page(request, runtime, session, errors, values, 409)
    response = redirect(request, f"/ui/sites/{site_id}")
    set_flash(
        request,
        response,
        "success",
        f"Site {site_id} is created. Next: connect its Optimove account and the Comm100 site.",
    )
    return response


def _sites_page(
    request: Request,
    runtime: Runtime,
    session: UiSession,
    errors: ErrorIndex | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    principal = session.principal
    rows = []
    with runtime.unit_of_work(read_only=True) as db:
        settings = SettingsRepository(db)
        for site in site_service.list_sites(db, only=principal.site_id):
            stored = settings.get(site.site_id)
            document: dict[str, Any] = stored.document if stored is not None else {}
            rows.append(
                SiteRow(
                    site_id=site.site_id,
                    name=site.name,
                    created_at=site.created_at,
                    optimove_connected=bool(
                        stored is not None
                        and stored.optimove_api_key_enc
                        and (document.get("optimove") or {}).get("base_url")
                    ),
                    comm100_connected=bool(
                        stored is not None
                        and stored.comm100_api_key_enc
                        and (document.get("comm100") or {}).get("api_base_url")
                    ),
                    livechat=bool((document.get("livechat") or {}).get("enabled")),
                    ticketing=bool((document.get("ticketing") or {}).get("enabled")),
                )
            )
    return render(
        request,
        "ui/sites.html",
        {
            "sites": rows,
            "can_create": principal.is_deployment_admin,
            "errors": ErrorIndex(errors.problems if errors else (), {"/site_id", "/name"}),
            "values": values or {"site_id": "", "name": ""},
            "element_id": element_id,
        },
        status=status,
        session=session,
    )


# --- a site's Optimove page -----------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    kind: Literal["on", "off", "failing"]
    text: str


@dataclass(frozen=True)
class Result:
    ok: bool
    message: str


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class OptionGroup:
    label: str
    options: tuple[Option, ...]


@dataclass
class SitePage:
    """What the settings page shows besides the stored document."""

    form: SettingsForm | None = None
    errors: ErrorIndex | None = None
    optimove_values: dict[str, str] | None = None
    optimove_result: Result | None = None
    comm100_values: dict[str, str] | None = None
    comm100_result: Result | None = None
    unsaved_list: str | None = None
    summary_title: str | None = None  # list every problem at the top of the page
    refresh_fields: bool = False
    status: int = 200


@router.get("/sites/{site_id}", response_class=HTMLResponse)
def site_page(
    site_id: int,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    refresh: Annotated[bool, Query()] = False,
) -> Response:
    session.principal.require_admin_of(site_id)
    return _site_page(request, runtime, session, site_id, SitePage(refresh_fields=refresh))


@router.post("/sites/{site_id}/optimove", response_class=HTMLResponse)
def connect_optimove(
    site_id: int, request: Request, runtime: RuntimeDep, session: SessionDep, form: FormDep
) -> Response:
    """*Connect Optimove Account*: a real call with what was typed; saved only if it works."""
    check_csrf(session, form)
    session.principal.require_admin_of(site_id)
    base_url = form.get("base_url", "").strip()
    api_key = form.get("api_key", "").strip()
    values = {"base_url": base_url}
    if not base_url:
        problem = Problem("/optimove/base_url", "Enter the account's Base URL.")
        page = SitePage(
            errors=ErrorIndex([problem]),
            optimove_values=values,
            optimove_result=Result(False, "Enter the Base URL to connect."),
            status=422,
        )
        return _site_page(request, runtime, session, site_id, page)
    try:
        count = settings_service.check_connection(
            runtime, site_id, {"base_url": base_url, "api_key": api_key or None}
        )
    except AppError as error:
        page = SitePage(
            errors=ErrorIndex(error.details),
            optimove_values=values,
            optimove_result=Result(False, _sentence(error.message)),
            status=error.status,
        )
        return _site_page(request, runtime, session, site_id, page)
    try:
        _save_section(runtime, site_id, "optimove", {**values, **_key_if_given(api_key)})
    except Invalid as invalid:
        page = SitePage(
            errors=ErrorIndex(invalid.details),
            optimove_values=values,
            optimove_result=Result(
                False,
                f"The account answered ({_attributes(count)}), but the connection was not saved: "
                "the settings below do not fit it (see the problems listed). Correct them, save, "
                "and connect again.",
            ),
            summary_title="The connection was not saved",
            status=422,
        )
        return _site_page(request, runtime, session, site_id, page)
    response = redirect(request, f"/ui/sites/{site_id}")
    set_flash(
        request,
        response,
        "success",
        f"Optimove account connected: it has {_attributes(count)}. The connection is saved.",
    )
    return response


@router.post("/sites/{site_id}/comm100", response_class=HTMLResponse)
def connect_comm100(
    site_id: int, request: Request, runtime: RuntimeDep, session: SessionDep, form: FormDep
) -> Response:
    """*Connect Comm100 Site*: a real call with what was typed; saved only if it works."""
    check_csrf(session, form)
    session.principal.require_admin_of(site_id)
    values = {
        "api_base_url": form.get("api_base_url", "").strip(),
        "agent_email": form.get("agent_email", "").strip(),
    }
    api_key = form.get("api_key", "").strip()
    problems = [
        Problem(f"/comm100/{key}", message)
        for key, message in (
            ("api_base_url", "Enter the Comm100 API base URL, e.g. https://api11.comm100.io/v4."),
            ("agent_email", "Enter the e-mail address of the agent whose API key this is."),
        )
        if not values[key]
    ]
    if problems:
        page = SitePage(
            errors=ErrorIndex(problems),
            comm100_values=values,
            comm100_result=Result(False, "Fill in the connection to test it."),
            status=422,
        )
        return _site_page(request, runtime, session, site_id, page)
    override = {**values, "api_key": api_key or None}
    try:
        count = comm100_service.check_connection(runtime, site_id, override)
    except AppError as error:
        page = SitePage(
            errors=ErrorIndex(error.details),
            comm100_values=values,
            comm100_result=Result(False, _sentence(error.message)),
            status=error.status,
        )
        return _site_page(request, runtime, session, site_id, page)
    try:
        _save_section(runtime, site_id, "comm100", {**values, **_key_if_given(api_key)})
    except Invalid as invalid:
        page = SitePage(
            errors=ErrorIndex(invalid.details),
            comm100_values=values,
            comm100_result=Result(
                False,
                "Comm100 answered, but the connection was not saved: the settings have "
                "problems (listed above).",
            ),
            summary_title="The connection was not saved",
            status=422,
        )
        return _site_page(request, runtime, session, site_id, page)
    response = redirect(request, f"/ui/sites/{site_id}")
    fields = f"{count} contact field" + ("" if count == 1 else "s")
    set_flash(
        request,
        response,
        "success",
        f"Comm100 site connected: the API answered with {fields}. The connection is saved.",
    )
    return response


@router.post("/sites/{site_id}/settings", response_class=HTMLResponse)
def save_settings(
    site_id: int, request: Request, runtime: RuntimeDep, session: SessionDep, form: FormDep
) -> Response:
    """*Save*: the whole document validated and saved, or every problem beside its field. The
    rows' buttons (without JavaScript) post here too, with an `op`: nothing is saved then."""
    check_csrf(session, form)
    session.principal.require_admin_of(site_id)
    posted = form_from_post(form)
    op = form.get("op", "save")
    if op != "save":
        changed = apply_op(posted, op)
        if changed is None:
            return error_page(request, 400, "Unknown action", "The page sent an unknown action.")
        page = SitePage(form=posted.with_spares(), unsaved_list=changed)
        return _site_page(request, runtime, session, site_id, page)
    document = document_with_form(settings_service.read_document(runtime, site_id), posted)
    try:
        settings_service.save_document(runtime, site_id, document)
    except Invalid as invalid:
        shown = posted.compacted()
        page = SitePage(
            form=shown.with_spares(),
            errors=ErrorIndex(invalid.details, known_pointers(shown)),
            summary_title="The settings were not saved",
            status=422,
        )
        return _site_page(request, runtime, session, site_id, page)
    response = redirect(request, f"/ui/sites/{site_id}")
    set_flash(request, response, "success", "Settings saved.")
    return response


def _save_section(runtime: Runtime, site_id: int, section: str, values: dict[str, str]) -> None:
    """Save the stored document with one section changed (masked keys keep the stored ones)."""
    document = settings_service.read_document(runtime, site_id)
    document[section] = {**document.get(section, {}), **values}
    settings_service.save_document(runtime, site_id, document)


def _key_if_given(api_key: str) -> dict[str, str]:
    return {"api_key": api_key} if api_key else {}


def _site_page(
    request: Request, runtime: Runtime, session: UiSession, site_id: int, page: SitePage
) -> Response:
    with runtime.unit_of_work(read_only=True) as db:
        site = site_service.get_site(db, site_id)
        site_name = site.name
        urls = site_service.webhook_urls(runtime.box, site, public_url(runtime, request))
    stored = settings_service.load_settings(runtime, site_id)
    document = settings_service.read_document(runtime, site_id)
    form = page.form or form_from_document(document).with_spares()
    errors = page.errors or ErrorIndex()
    errors = ErrorIndex(errors.problems, known_pointers(form))
    attributes, optimove_status = _optimove_status(runtime, site_id, stored)
    choices = comm100_service.field_choices(runtime, site_id, refresh=page.refresh_fields)
    comm100 = stored.settings.comm100
    comm100_saved = bool(comm100.api_base_url and comm100.agent_email and stored.comm100_api_key)
    comm100_status = _comm100_status(comm100_saved, choices)
    optimove_doc = document["optimove"]
    comm100_doc = document["comm100"]
    # What was typed into a connection form that failed stays; otherwise what is saved.
    optimove_values = page.optimove_values or {"base_url": optimove_doc.get("base_url") or ""}
    comm100_values = page.comm100_values or {
        "api_base_url": comm100_doc.get("api_base_url") or "",
        "agent_email": comm100_doc.get("agent_email") or "",
    }
    return render(
        request,
        "ui/site.html",
        {
            "site_id": site_id,
            "site_name": site_name,
            "form": form,
            "errors": errors,
            "element_id": element_id,
            "channels": [(name, CHANNEL_NAMES[name]) for name in ("livechat", "ticketing")],
            "events": EVENTS,
            "update_choices": UPDATE_CHOICES,
            "no_match_choices": NO_MATCH_CHOICES,
            "optimove": {
                **optimove_values,
                "key_mask": optimove_doc.get("api_key"),
                "status": optimove_status,
                "result": page.optimove_result,
            },
            "comm100": {
                **comm100_values,
                "key_mask": comm100_doc.get("api_key"),
                "status": comm100_status,
                "result": page.comm100_result,
            },
            "attribute_options": _attribute_options(attributes, form),
            "field_groups": {
                channel: _field_groups(choices, channel, form)
                for channel in ("livechat", "ticketing")
            },
            "ref_labels": {
                channel: _ref_labels(choices, channel) for channel in ("livechat", "ticketing")
            },
            "fields_problem": choices.problem,
            "unsaved_list": page.unsaved_list,
            "summary_title": page.summary_title,
            "webhooks": urls,
        },
        status=page.status,
        session=session,
    )


def _optimove_status(
    runtime: Runtime, site_id: int, stored: settings_service.StoredSettings
) -> tuple[list[AttributeInfo] | None, Status]:
    try:
        connection = settings_service.optimove_connection(stored)
    except Invalid:
        return None, Status("off", "Not connected yet.")
    try:
        attributes, _cached = settings_service.fetch_attributes(
            runtime, site_id, connection, saved=True
        )
    except OptimoveError as error:
        return None, Status("failing", f"Saved, but Optimove can't be read now: {error.message}")
    return attributes, Status("on", f"Connected: the account has {_attributes(len(attributes))}.")


def _comm100_status(saved: bool, choices: FieldChoices) -> Status:
    if not saved:
        return Status("off", "Not connected yet.")
    if choices.read_from_comm100:
        return Status("on", "Connected: the field lists below are read from Comm100.")
    return Status("failing", f"Saved, but {_lower_first(choices.problem or 'Comm100 failed.')}")


def _attribute_options(
    attributes: list[AttributeInfo] | None, form: SettingsForm
) -> list[Option] | None:
    """The account's attributes by alias (None when they can't be read: then a text input)."""
    if attributes is None:
        return None
    options = sorted(
        (Option(a.real_field_name, _attribute_label(a)) for a in attributes),
        key=lambda option: option.label.casefold(),
    )
    known = {a.real_field_name for a in attributes}
    for used in dict.fromkeys(form.used_optimove_fields()):
        if used not in known:
            options.append(Option(used, f"{used} (not in the account)"))
    return options


def _attribute_label(attribute: AttributeInfo) -> str:
    """By alias when the account gives one (`Email (EMAIL)`); else the name and description."""
    name = attribute.real_field_name
    if attribute.alias and attribute.alias != name:
        return f"{attribute.alias} ({name})"
    if attribute.description:
        return f"{name} — {attribute.description}"
    return name


_SOURCE_WORDS = {
    "system": "system field",
    "prechat": "pre-chat field",
    "offline": "offline message field",
    "custom_variable": "custom variable",
    "contact": "contact field",
    "identity": "contact identity",
}


def _field_groups(choices: FieldChoices, channel: Channel, form: SettingsForm) -> list[OptionGroup]:
    groups = [
        OptionGroup(
            group.label,
            tuple(Option(f"{c.source}:{c.name}", c.label) for c in group.choices),
        )
        for group in choices.of(channel)
        if group.choices
    ]
    offered = {option.value for group in groups for option in group.options}
    extra = []
    for used in dict.fromkeys(form.used_refs(channel)):
        if used not in offered:
            source, _, name = used.partition(":")
            extra.append(Option(used, f"{name} ({_SOURCE_WORDS.get(source, source)})"))
    if extra:
        groups.append(OptionGroup("Currently chosen", tuple(extra)))
    return groups


def _ref_labels(choices: FieldChoices, channel: Channel) -> dict[str, str]:
    labels: dict[str, str] = {}
    for group in choices.of(channel):
        for choice in group.choices:
            labels.setdefault(
                f"{choice.source}:{choice.name}",
                f"{choice.label} ({_SOURCE_WORDS.get(choice.source, choice.source)})",
            )
    return labels


def _attributes(count: int) -> str:
    return f"{count} customer attribute" + ("" if count == 1 else "s")


def _sentence(message: str) -> str:
    message = message.strip()
    return message if message.endswith((".", "!", "?")) else message + "."


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


# --- the sync log ---------------------------------------------------------------------------------


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
    filters = SyncFilter(
        outcome=outcome if outcome and "outcome" not in problems else None,
        channel=channel if channel and "channel" not in problems else None,
        customer_id=customer.strip() or None,
        since=since_at if "until" not in problems else None,
        until=until_at if "until" not in problems else None,
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
        summary = sync_service.summarize(db, site_id, hours=24)
        site_name = site.name
    query = {
        key: value
        for key, value in (
            ("outcome", outcome),
            ("channel", channel),
            ("customer", customer),
            ("since", since),
            ("until", until),
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
            "next_cursor": page.next_cursor,
            "summary": summary,
            "filters": {
                "outcome": outcome,
                "channel": channel,
                "customer": customer,
                "since": since,
                "until": until,
            },
            "filter_problems": problems,
            "query": query,
            "paged": bool(cursor),
            "notice": notice,
            "outcomes": [(key, OUTCOME_LABELS[key]) for key in OUTCOMES],
            "channel_names": CHANNEL_NAMES,
            "outcome_labels": OUTCOME_LABELS,
            "state_labels": STATE_LABELS,
            "event_labels": EVENT_LABELS,
            "current_url": _current_path(request),
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


# --- anything else under /ui ------------------------------------------------------------------


@router.get("/{path:path}", response_class=HTMLResponse)
def not_found(request: Request, path: str) -> Response:
    return error_page(request, 404, "Not found", "There is no such page in the control panel.")
