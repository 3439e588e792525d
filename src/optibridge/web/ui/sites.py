"""`/ui/sites`: the sites this administrator may manage; a deployment admin creates sites here.
`/ui` itself leads here."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from optibridge.errors import Conflict, Invalid, Problem
from optibridge.runtime import Runtime
from optibridge.services import sites as site_service
from optibridge.web.deps import RuntimeDep
from optibridge.web.ui.auth import UiSession, check_csrf, set_flash
from optibridge.web.ui.deps import FormDep, SessionDep, page_router
from optibridge.web.ui.render import redirect, render
from optibridge.web.ui.settings_form import ErrorIndex, element_id

router = page_router()


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return redirect(request, "/ui/sites")


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
    with runtime.unit_of_work(read_only=True) as db:
        rows = site_service.site_overviews(db, only=principal.site_id)
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
