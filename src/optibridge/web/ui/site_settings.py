"""`/ui/sites/{site_id}`: the site's Optimove page, in the order a Comm100 administrator knows.

*Connect* (Optimove account, Comm100 site): each button tests the connection for real and saves
it only when it works; a Comm100 site, once connected, gets its Live Chat webhooks registered.
*Manage Integration Settings*: the whole document saved at once, or every problem shown beside
its field; *Preview* beside *Save* (`settings_preview`) shows in a table what the settings on
screen would do to the channel's recent conversations. The cards of
`comm100_app` (sign-in, the app manifest) and `comm100_webhooks` (each needed Live Chat
webhook's state read from Comm100, *Register in Comm100*, the ticket trigger's steps) are drawn
here too. Then the webhook URLs, for whoever adds them by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response

from optibridge.domain.decide import field_names
from optibridge.domain.mapping_types import TypeMismatch, type_mismatches
from optibridge.domain.preview import DEFAULT_PREVIEW_LIMIT
from optibridge.domain.records import Channel
from optibridge.domain.settings import CHANNEL_NAMES
from optibridge.errors import AppError, Invalid, Problem
from optibridge.runtime import Runtime
from optibridge.services import comm100_connection as comm100_service
from optibridge.services import comm100_webhooks as webhooks_service
from optibridge.services import preview as preview_service
from optibridge.services import settings as settings_service
from optibridge.services import sites as site_service
from optibridge.services import syncs as syncs_service
from optibridge.services.comm100_connection import FieldChoices
from optibridge.services.settings import AttributeInfo, StoredSettings
from optibridge.web.deps import RuntimeDep, public_url
from optibridge.web.ui import drafts
from optibridge.web.ui.auth import UiSession, check_csrf, set_flash
from optibridge.web.ui.charts import HEIGHT, WIDTH
from optibridge.web.ui.deps import FormDep, SessionDep, page_router
from optibridge.web.ui.drafts import keeps_typed
from optibridge.web.ui.render import error_page, redirect, render
from optibridge.web.ui.settings_form import (
    CHANNELS,
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
    is_settings_field,
    known_pointers,
)
from optibridge.web.ui.site_cards import (
    Result,
    Status,
    budget_card,
    comm100_app_view,
    sentence,
    webhooks_card,
)
from optibridge.web.ui.sync_log import OUTCOME_LABELS

router = page_router()

# A form of the page that can fail and be shown again with what was typed.
ConnectionSection = Literal["optimove", "comm100", "sign_in"]


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
    # What was typed into a *Connect* form that failed, and what the test said, by section.
    typed: dict[ConnectionSection, dict[str, str]] = field(default_factory=dict)
    results: dict[ConnectionSection, Result] = field(default_factory=dict)
    unsaved_list: str | None = None
    summary_title: str | None = None  # list every problem at the top of the page
    refresh_fields: bool = False
    webhooks_result: Result | None = None  # why *Register in Comm100* failed
    preview: PreviewCard | None = None  # what *Preview* found, or why it could not
    draft_notice: str | None = None  # the settings form is what was typed in an ended session
    status: int = 200


@dataclass(frozen=True)
class PreviewCard:
    """*Preview*'s answer: the conversations decided with the settings on screen, or why not."""

    channel: Channel
    result: preview_service.Preview | None = None
    problem: str | None = None


@router.get("/sites/{site_id}", response_class=HTMLResponse)
def site_page(
    site_id: int,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    refresh: Annotated[bool, Query()] = False,
) -> Response:
    session.principal.require_admin_of(site_id)
    page = SitePage(refresh_fields=refresh)
    draft = drafts.draft_for(request, site_id, session.principal)
    if draft is not None:
        page = _with_draft(page, draft)
    response = site_page_response(request, runtime, session, site_id, page)
    drafts.forget_draft(request, response, site_id)
    return response


_SECTIONS: dict[str, ConnectionSection] = {s: s for s in ("optimove", "comm100", "sign_in")}


def _with_draft(page: SitePage, draft: drafts.Draft) -> SitePage:
    """The page with what was typed in a session that had ended, marked unsaved."""
    if draft.form == "settings":
        form = form_from_post(draft.values).with_spares()
        return replace(page, form=form, draft_notice=drafts.DRAFT_NOTICE)
    section = _SECTIONS[draft.form]
    result = Result(False, drafts.DRAFT_RESULT, "Not done yet.")
    return replace(page, typed={section: draft.values}, results={section: result})


@dataclass(frozen=True)
class Connection:
    """One *Connect* form: what it asks for, how it is tested, and what the page says."""

    section: ConnectionSection  # the settings document's section it saves, and the form's
    required: tuple[tuple[str, str], ...]  # (field, what to say when it is left empty)
    incomplete: str  # the result shown when a required field is empty
    is_saved: Callable[[StoredSettings], bool]  # a connection of this kind is saved already
    check: Callable[[Runtime, int, dict[str, Any]], int]  # one real call: a count, or raises
    not_saved: Callable[[int], str]  # answered, but the settings with it do not validate
    saved: Callable[[int], str]  # the flash message once it is saved
    registers_webhooks: bool = False  # once saved, the Live Chat webhooks are registered


OPTIMOVE = Connection(
    section="optimove",
    required=(("base_url", "Enter the account's Base URL."),),
    incomplete="Enter the Base URL to connect.",
    is_saved=lambda stored: bool(stored.settings.optimove.base_url and stored.optimove_api_key),
    check=settings_service.check_connection,
    not_saved=lambda count: (
        f"The account answered ({_attributes(count)}), but the connection was not saved: "
        "the settings below do not fit it (see the problems listed). Correct them, save, "
        "and connect again."
    ),
    saved=lambda count: (
        f"Optimove account connected: it has {_attributes(count)}. The connection is saved."
    ),
)
COMM100 = Connection(
    section="comm100",
    required=(
        ("api_base_url", "Enter the Comm100 API base URL, e.g. https://api11.comm100.io/v4."),
        ("agent_email", "Enter the e-mail address of the agent whose API key this is."),
    ),
    incomplete="Fill in the connection to test it.",
    is_saved=lambda stored: _comm100_saved(stored),
    check=comm100_service.check_connection,
    not_saved=lambda _count: (
        "Comm100 answered, but the connection was not saved: the settings have "
        "problems (listed above)."
    ),
    saved=lambda count: (
        "Comm100 site connected: the API answered with "
        f"{count} contact field{'' if count == 1 else 's'}. The connection is saved."
    ),
    registers_webhooks=True,
)


@router.post("/sites/{site_id}/optimove", response_class=HTMLResponse)
@keeps_typed("optimove", ("base_url",), anchor="optimove-connection")
def connect_optimove(
    site_id: int, request: Request, runtime: RuntimeDep, session: SessionDep, form: FormDep
) -> Response:
    """*Connect Optimove Account*: a real call with what was typed; saved only if it works."""
    return _connect(OPTIMOVE, site_id, request, runtime, session, form)


@router.post("/sites/{site_id}/comm100", response_class=HTMLResponse)
@keeps_typed("comm100", ("api_base_url", "agent_email"), anchor="comm100-connection")
def connect_comm100(
    site_id: int, request: Request, runtime: RuntimeDep, session: SessionDep, form: FormDep
) -> Response:
    """*Connect Comm100 Site*: a real call with what was typed; saved only if it works."""
    return _connect(COMM100, site_id, request, runtime, session, form)


def _connect(
    connection: Connection,
    site_id: int,
    request: Request,
    runtime: Runtime,
    session: UiSession,
    form: dict[str, str],
) -> Response:
    """Test the connection as typed; save it only when it works (and the settings with it are
    valid); show the result on the site page. An empty API key keeps the stored one."""
    check_csrf(session, form)
    session.principal.require_admin_of(site_id)
    section = connection.section
    values = {name: form.get(name, "").strip() for name, _message in connection.required}
    api_key = form.get("api_key", "").strip()

    def shown(
        title: str, result: str, errors: ErrorIndex, status: int, summary: str | None = None
    ) -> Response:
        page = SitePage(
            errors=errors,
            typed={section: values},
            results={section: Result(False, result, title)},
            summary_title=summary,
            status=status,
        )
        return site_page_response(request, runtime, session, site_id, page)

    problems = [
        Problem(f"/{section}/{name}", message)
        for name, message in connection.required
        if not values[name]
    ]
    if problems:
        return shown("Not tested.", connection.incomplete, ErrorIndex(problems), 422)
    try:
        count = connection.check(runtime, site_id, {**values, "api_key": api_key or None})
    except AppError as error:
        # The status above may say the saved connection works: this is only about what was typed.
        saved = connection.is_saved(settings_service.load_settings(runtime, site_id))
        in_use = ": the connection in use is still the saved one" if saved else ""
        return shown(
            "Connection test failed.",
            f"{sentence(error.message)} Nothing was saved{in_use}.",
            ErrorIndex(error.details),
            error.status,
        )
    try:
        _save_section(runtime, site_id, section, {**values, **_key_if_given(api_key)})
    except Invalid as invalid:
        return shown(
            "Not saved.",
            connection.not_saved(count),
            ErrorIndex(invalid.details),
            422,
            summary="The connection was not saved",
        )
    message = connection.saved(count)
    registered = True
    if connection.registers_webhooks:
        public = public_url(runtime, request)
        registered, said = _register_after_connecting(runtime, site_id, public)
        message = f"{message} {said}"
    response = redirect(request, f"/ui/sites/{site_id}")
    set_flash(request, response, "success" if registered else "info", message)
    return response


def _register_after_connecting(runtime: Runtime, site_id: int, public: str) -> tuple[bool, str]:
    """SPEC 5.2: connecting Comm100 registers the webhooks and says how that went. A failure
    (no Manage Integration, an address Comm100 can't reach) leaves the connection saved."""
    try:
        report = webhooks_service.register_webhooks(runtime, site_id, public)
    except AppError as error:
        return False, (
            f"Its Live Chat webhooks were not registered: {sentence(error.message)} "
            "See Webhooks in Comm100 below."
        )
    if report.changed:
        return True, "Its Live Chat webhooks are registered in Comm100."
    return True, "Its Live Chat webhooks were registered in Comm100 already."


@router.post("/sites/{site_id}/settings", response_class=HTMLResponse)
@keeps_typed("settings", is_settings_field, anchor="settings")
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
        return site_page_response(request, runtime, session, site_id, page)
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
        return site_page_response(request, runtime, session, site_id, page)
    response = redirect(request, f"/ui/sites/{site_id}")
    warnings = mapping_warnings(runtime, site_id)
    if warnings:
        set_flash(request, response, "info", _saved_with_warnings(warnings))
    else:
        set_flash(request, response, "success", "Settings saved.")
    return response


def mapping_warnings(
    runtime: Runtime, site_id: int, choices: FieldChoices | None = None
) -> list[TypeMismatch]:
    """The saved mappings whose Comm100 values may not fit their Optimove attribute (none
    while the attributes' types can't be known, nor while the account can't be read: the page
    says so, and doesn't wait for a silent account twice)."""
    stored = settings_service.load_settings(runtime, site_id)
    if settings_service.saved_account(runtime, site_id, stored).attributes is None:
        return []
    field_types = settings_service.attribute_types(runtime, site_id)
    if not field_types:
        return []
    choices = choices or comm100_service.field_choices(runtime, site_id)
    return type_mismatches(stored.settings, field_types, choices.kinds)


def _saved_with_warnings(warnings: list[TypeMismatch]) -> str:
    if len(warnings) == 1:
        return f"Settings saved, with a warning: {sentence(warnings[0].message)}"
    fields = field_names(dict.fromkeys(w.optimove_field for w in warnings))
    return (
        f"Settings saved, with {len(warnings)} warnings: values for {fields} may be left out"
        " of Optimove. See the warnings beside Contact Field Mapping."
    )


def _save_section(runtime: Runtime, site_id: int, section: str, values: dict[str, str]) -> None:
    """Save the stored document with one section changed (masked keys keep the stored ones)."""
    document = settings_service.read_document(runtime, site_id)
    document[section] = {**document.get(section, {}), **values}
    settings_service.save_document(runtime, site_id, document)


def _key_if_given(api_key: str) -> dict[str, str]:
    return {"api_key": api_key} if api_key else {}


def site_page_response(
    request: Request, runtime: Runtime, session: UiSession, site_id: int, page: SitePage
) -> Response:
    with runtime.unit_of_work(read_only=True) as db:
        site = site_service.get_site(db, site_id)
        site_name = site.name
        webhook_base = public_url(runtime, request)
        urls = site_service.webhook_urls(runtime.box, site, webhook_base)
    stored = settings_service.load_settings(runtime, site_id)
    document = settings_service.read_document(runtime, site_id)
    form = page.form or form_from_document(document).with_spares()
    errors = page.errors or ErrorIndex()
    errors = ErrorIndex(errors.problems, known_pointers(form))
    account = settings_service.saved_account(runtime, site_id, stored)
    choices = comm100_service.field_choices(runtime, site_id, refresh=page.refresh_fields)
    # About the saved mappings: shown only while the page shows them (not a form sent back),
    # and while the account answers (its problem is said instead).
    readable = account.attributes is not None
    warnings = mapping_warnings(runtime, site_id, choices) if readable and not page.form else []
    url_warnings = site_service.public_url_warnings(webhook_base, runtime.public_url_configured)
    comm100_saved = _comm100_saved(stored)
    comm100_status = _comm100_status(comm100_saved, choices)
    optimove_doc = document["optimove"]
    comm100_doc = document["comm100"]
    # What was typed into a connection form that failed stays; otherwise what is saved.
    optimove_values = page.typed.get("optimove") or {"base_url": optimove_doc.get("base_url") or ""}
    comm100_values = page.typed.get("comm100") or {
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
                "status": _optimove_status(account),
                "result": page.results.get("optimove"),
            },
            "comm100": {
                **comm100_values,
                "key_mask": comm100_doc.get("api_key"),
                "status": comm100_status,
                "result": page.results.get("comm100"),
            },
            "attribute_options": _attribute_options(account.attributes, form),
            "field_groups": {
                channel: _field_groups(choices, channel, form)
                for channel in ("livechat", "ticketing")
            },
            "ref_labels": {
                channel: _ref_labels(choices, channel) for channel in ("livechat", "ticketing")
            },
            "fields_problem": choices.problem,
            "mapping_warnings": {
                channel: [w for w in warnings if w.pointer.startswith(f"/{channel}/")]
                for channel in ("livechat", "ticketing")
            },
            "unsaved_list": page.unsaved_list,
            "preview": page.preview,
            "preview_limit": DEFAULT_PREVIEW_LIMIT,
            "preview_channel": _preview_channel(page, form),
            "outcome_labels": OUTCOME_LABELS,
            "event_labels": syncs_service.EVENT_NAMES,
            "draft_notice": page.draft_notice,
            "summary_title": page.summary_title,
            "webhooks": urls,
            "comm100_app": comm100_app_view(
                stored, document, public_url(runtime, request), page.typed.get("sign_in", {})
            ),
            "sign_in_result": page.results.get("sign_in"),
            "budget": budget_card(runtime, site_id),
            "width": WIDTH,
            "height": HEIGHT,
            # Warnings: OPTIBRIDGE_PUBLIC_URL unset (Comm100 can't reach it), loopback, plain http.
            "unreachable_webhook_base": (None if runtime.public_url_configured else webhook_base),
            "webhook_url_warnings": url_warnings,
            "comm100_webhooks": webhooks_card(
                runtime,
                site_id,
                public_url(runtime, request),
                comm100_saved=comm100_saved,
                choices=choices,
                result=page.webhooks_result,
            ),
        },
        status=page.status,
        session=session,
    )


def _preview_channel(page: SitePage, form: SettingsForm) -> Channel:
    """The channel *Preview* offers first: the one just previewed, else the first enabled."""
    if page.preview is not None:
        return page.preview.channel
    enabled = [channel for channel in CHANNELS if form.channel(channel).enabled]
    return enabled[0] if enabled else "livechat"


def _comm100_saved(stored: StoredSettings) -> bool:
    comm100 = stored.settings.comm100
    return bool(comm100.api_base_url and comm100.agent_email and stored.comm100_api_key)


def _optimove_status(account: settings_service.SavedAccount) -> Status:
    if not account.connected:
        return Status("off", "Not connected yet.")
    if account.attributes is None:
        return Status("failing", f"Saved, but Optimove can't be read now: {account.problem}")
    return Status("on", f"Connected: the account has {_attributes(len(account.attributes))}.")


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
            tuple(Option(f"{c.source}:{c.name}", group.named(c)) for c in group.choices),
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


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
