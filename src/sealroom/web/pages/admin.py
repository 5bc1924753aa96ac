"""Administration pages: accounts (create with an enrolment link, disable, enable, reset the second
factor) and a read-only view of roles, data sets and case grants."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sealroom.identity.invitations import IssuedInvitation
from sealroom.identity.service import USERNAME_PATTERN
from sealroom.sessions import ActiveSession
from sealroom.web.deps import CheckedForm, PageSession, form_text
from sealroom.web.render import page
from sealroom.workspace import Workspace

router = APIRouter(prefix="/admin", include_in_schema=False)

USERNAME = USERNAME_PATTERN.pattern.replace(r"\Z", "$")


def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


def _invitation_page(request: Request, active: ActiveSession, issued: IssuedInvitation) -> Response:
    link = str(request.base_url).rstrip("/") + issued.path
    context = {"issued": issued, "link": link}
    return page(request, "admin_invitation.html", context, active=active, section="admin")


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, active: PageSession) -> Response:
    """Every account, and the form to create one."""
    workspace = _workspace(request)
    accounts = workspace.accounts.accounts(active)
    context = {"accounts": accounts, "roles": sorted(workspace.settings.roles)}
    return page(request, "admin_users.html", context, active=active, section="admin")


@router.post("/users", response_class=HTMLResponse)
def create_user(request: Request, active: PageSession, form: CheckedForm) -> Response:
    """Create an account; the page shows its one-time enrolment link to hand to the person."""
    roles = [value for value in form.getlist("roles") if isinstance(value, str)]
    issued = _workspace(request).accounts.create(
        active, form_text(form, "username"), roles, form_text(form, "display_name")
    )
    return _invitation_page(request, active, issued)


@router.post("/users/{username}/{action}", response_class=HTMLResponse)
def account_action(
    request: Request,
    active: PageSession,
    _form: CheckedForm,
    username: Annotated[str, Path(pattern=USERNAME)],
    action: Annotated[str, Path(pattern=r"^(disable|enable|reset-mfa)$")],
) -> Response:
    """Disable or enable an account, or withdraw its second factor and issue a new enrolment link."""
    accounts = _workspace(request).accounts
    if action == "reset-mfa":
        return _invitation_page(request, active, accounts.reset_mfa(active, username))
    if action == "disable":
        accounts.disable(active, username)
        return RedirectResponse("/admin/users?notice=user_disabled", status_code=303)
    accounts.enable(active, username)
    return RedirectResponse("/admin/users?notice=user_enabled", status_code=303)


@router.get("/access", response_class=HTMLResponse)
def access(request: Request, active: PageSession) -> Response:
    """Roles and data sets as configured (read-only), and the case grants in force."""
    workspace = _workspace(request)
    workspace.accounts.accounts(active)  # the administrator check, audited
    grants = workspace.grants.list_views(include_expired=False)
    context = {"settings": workspace.settings, "grants": grants}
    return page(request, "admin_access.html", context, active=active, section="admin")
