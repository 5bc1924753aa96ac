"""Requests: ask for access or an export with a reason, decide others' requests, take and review
break-glass, and the one download of an approved export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sealroom.api.exports import SHA256_HEADER
from sealroom.errors import InputError
from sealroom.web.deps import CheckedForm, PageSession, form_text
from sealroom.web.render import actions_of, page
from sealroom.workspace import Workspace

router = APIRouter(include_in_schema=False)

ID = r"^[0-9a-f]{32}$"


def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


def _hours(form_value: str) -> int:
    """Whole hours from a form field, as minutes; ``InputError`` names the problem."""
    try:
        hours = int(form_value)
    except ValueError:
        raise InputError("give the duration as a whole number of hours") from None
    return hours * 60


def _done(path: str, notice: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?notice={notice}", status_code=303)


@router.get("/requests", response_class=HTMLResponse)
def my_requests(request: Request, active: PageSession) -> Response:
    """The user's own requests (access and exports) with their status, and the forms to ask."""
    workspace = _workspace(request)
    settings = workspace.settings
    mine = workspace.requests.list(active, view="mine")
    roles = settings.roles
    covered = sorted({name for role in active.roles if role in roles for name in roles[role].datasets})
    emergency = sorted(
        name
        for role in active.roles
        if role in roles and "image:analyze" in roles[role].actions
        for name in roles[role].datasets
        if settings.datasets[name].break_glass
    )
    context = {
        "mine": mine,
        "datasets": sorted(settings.datasets),
        "roles": sorted(roles),
        "covered": covered,
        "emergency": emergency,
        "max_hours": settings.access.request_max_hours,
    }
    return page(request, "requests.html", context, active=active, section="requests")


@router.post("/requests", response_class=HTMLResponse)
def submit(request: Request, active: PageSession, form: CheckedForm) -> Response:
    """Submit an access request (a case, a role on a data set, or a role)."""
    kind = form_text(form, "kind")
    fields = {name: (form_text(form, name).strip() or None) for name in ("case_id", "dataset", "role")}
    wanted = {"case": ("case_id", "dataset"), "dataset": ("dataset", "role"), "role": ("role",)}.get(kind, ())
    _workspace(request).requests.submit(
        active,
        kind,
        reason=form_text(form, "reason"),
        duration_minutes=_hours(form_text(form, "hours")),
        **{name: value for name, value in fields.items() if name in wanted},
    )
    return _done("/requests", "request_submitted")


@router.get("/requests/review", response_class=HTMLResponse)
def review_queue(request: Request, active: PageSession) -> Response:
    """Pending requests the user may decide (never their own)."""
    pending = _workspace(request).requests.list(active, view="review")
    return page(request, "review.html", {"pending": pending}, active=active, section="review")


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_detail(
    request: Request, active: PageSession, request_id: Annotated[str, Path(pattern=ID)]
) -> Response:
    """One request with its whole review history."""
    workspace = _workspace(request)
    found = workspace.requests.get(active, request_id)
    may_decide = "request:approve" in actions_of(workspace, active) and found["requester"] != active.username
    context = {"req": found, "may_decide": may_decide and found["status"] == "pending"}
    return page(request, "request.html", context, active=active, section="requests")


@router.post("/requests/{request_id}/{decision}", response_class=HTMLResponse)
def decide(
    request: Request,
    active: PageSession,
    form: CheckedForm,
    request_id: Annotated[str, Path(pattern=ID)],
    decision: Annotated[str, Path(pattern=r"^(approve|deny|cancel)$")],
) -> Response:
    """Approve or deny someone else's request, or withdraw one's own."""
    service = _workspace(request).requests
    if decision == "approve":
        service.approve(active, request_id, form_text(form, "note"))
    elif decision == "deny":
        service.deny(active, request_id, form_text(form, "note"))
    else:
        service.cancel(active, request_id)
        return _done("/requests", "request_cancelled")
    return _done("/requests/review", "request_decided")


@router.post("/exports", response_class=HTMLResponse)
def request_export(request: Request, active: PageSession, form: CheckedForm) -> Response:
    """Ask for an export of an image (redacted and watermarked; it waits for someone else's approval)."""
    _workspace(request).exports.request_export(
        active,
        form_text(form, "image_id"),
        fmt=form_text(form, "format") or "pdf",
        variant="redacted",
        reason=form_text(form, "reason"),
    )
    return _done("/requests", "export_requested")


@router.post("/exports/{request_id}/download")
async def download_export(
    request: Request, active: PageSession, _form: CheckedForm, request_id: Annotated[str, Path(pattern=ID)]
) -> Response:
    """The approved export, once, as an attachment: the only way pixels leave (approved, audited)."""
    export = await run_in_threadpool(_workspace(request).exports.deliver, active, request_id)
    return Response(
        content=export.data,
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            SHA256_HEADER: export.sha256,
        },
    )


@router.post("/break-glass", response_class=HTMLResponse)
def take_break_glass(request: Request, active: PageSession, form: CheckedForm) -> Response:
    """Take emergency access to a case now (alerted at once, reviewed later)."""
    _workspace(request).breakglass.take(
        active,
        case_id=form_text(form, "case_id"),
        dataset=form_text(form, "dataset"),
        justification=form_text(form, "justification"),
    )
    return RedirectResponse("/cases", status_code=303)


@router.get("/break-glass", response_class=HTMLResponse)
def break_glass_queue(request: Request, active: PageSession) -> Response:
    """The break-glass review queue (open and recently closed uses)."""
    service = _workspace(request).breakglass
    context = {
        "open": service.queue(active, status="open"),
        "closed": service.queue(active, status="closed")[:50],
    }
    return page(request, "breakglass.html", context, active=active, section="breakglass")


@router.post("/break-glass/{item_id}/review", response_class=HTMLResponse)
def review_break_glass(
    request: Request, active: PageSession, form: CheckedForm, item_id: Annotated[str, Path(pattern=ID)]
) -> Response:
    """Close a break-glass use as justified or unjustified, with a note."""
    _workspace(request).breakglass.review(
        active, item_id, outcome=form_text(form, "outcome"), note=form_text(form, "note")
    )
    return _done("/break-glass", "breakglass_reviewed")
