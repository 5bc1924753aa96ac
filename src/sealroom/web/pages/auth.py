"""Sign-in, sign-out, second-factor step-up and enrolment through a one-time link."""

from __future__ import annotations

import re
from typing import Annotated

import segno
from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sealroom.api.deps import SESSION_COOKIE
from sealroom.errors import AuthenticationError, InputError, SealroomError, ThrottledError
from sealroom.sessions import ActiveSession
from sealroom.web.csrf import LOGIN_COOKIE, check_login_value, new_login_value
from sealroom.web.deps import CheckedForm, PageSession, form_text, optional_session
from sealroom.web.render import page
from sealroom.workspace import Workspace

router = APIRouter(include_in_schema=False)

ENROL_LINK = r"^[A-Za-z0-9_-]{20,64}$"


LOCAL_PATH = re.compile(r"/(?![/\\])[\x21-\x5b\x5d-\x7e]*")
"""A path on this site: one leading slash not followed by another or a backslash, then printable ASCII
without backslashes. Browsers drop tabs and newlines from addresses and read ``\\`` as ``/``, so
``/<TAB>/evil.example`` would otherwise become ``//evil.example`` in a redirect or a meta refresh."""


def local_path(candidate: str | None, default: str = "/") -> str:
    """``candidate`` if it is a path on this site (see ``LOCAL_PATH``), else ``default``."""
    if candidate and len(candidate) <= 512 and LOCAL_PATH.fullmatch(candidate):
        return candidate
    return default


def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


def _with_login_cookie(response: HTMLResponse, value: str, secure: bool) -> HTMLResponse:
    response.set_cookie(LOGIN_COOKIE, value, httponly=True, samesite="strict", secure=secure, path="/")
    return response


def login_page(
    request: Request, *, problem: str = "", username: str = "", next_path: str = "/", status_code: int = 200
) -> HTMLResponse:
    """The sign-in page: the password form (unless local accounts are off) and a button per provider."""
    settings = _workspace(request).settings
    value = new_login_value()
    providers = [(name, p.display_name) for name, p in settings.sso.providers.items()]
    context = {
        "login_token": value,
        "problem": problem,
        "username": username,
        "next": next_path,
        "providers": providers,
        "local_accounts": settings.login.local_accounts,
    }
    response = page(request, "login.html", context, status_code=status_code)
    return _with_login_cookie(response, value, _workspace(request).settings.server.behind_tls)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    """The sign-in form (or, already signed in, where the user was going)."""
    next_path = local_path(request.query_params.get("next"))
    if optional_session(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    return login_page(request, next_path=next_path)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Check password and code, open a session and set its cookie (HttpOnly, SameSite=Strict)."""
    workspace = _workspace(request)
    form = await request.form()
    text = {name: form_text(form, name) for name in ("username", "password", "totp", "next", "login_token")}
    next_path = local_path(text["next"])
    try:
        check_login_value(request.cookies.get(LOGIN_COOKIE), text["login_token"])
        user = await run_in_threadpool(
            workspace.identity.authenticate, text["username"], text["password"], text["totp"] or None
        )
    except (AuthenticationError, ThrottledError, InputError) as exc:
        return login_page(
            request,
            problem=exc.message,
            username=text["username"][:128],
            next_path=next_path,
            status_code=exc.http_status,
        )
    except SealroomError as exc:
        if exc.reason != "csrf":
            raise
        return login_page(request, problem=exc.message, next_path=next_path, status_code=403)
    _active, token = workspace.sessions.open(user, mfa_verified=user.mfa_enrolled)
    response = RedirectResponse(next_path, status_code=303)
    secure = workspace.settings.server.behind_tls
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/")
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout", response_class=HTMLResponse)
def logout(request: Request, active: PageSession, _form: CheckedForm) -> Response:
    """End the session (destroying what it opened) and tell the browser to forget this site; a
    session opened through single sign-on goes on to the provider's logout, which ends that too."""
    workspace = _workspace(request)
    lifecycle = workspace.sso.lifecycle
    provider = lifecycle.provider_of_session(active.id)
    idp_logout = lifecycle.provider_logout_url(active.id)
    workspace.sessions.end(active.id, "logout")
    if idp_logout and provider is not None:
        # A page that moves on by itself, not a redirect: the CSP's form-action 'self' stops a form's
        # redirect to another origin, and the provider session must end too (a shared workstation).
        context = {"idp_logout": idp_logout, "idp": provider.settings.display_name}
        response = page(request, "signing_out.html", context)
    else:
        response = page(request, "signed_out.html")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


@router.get("/step-up", response_class=HTMLResponse)
def step_up_form(request: Request, active: PageSession) -> Response:
    """Ask for a fresh second-factor code."""
    next_path = local_path(request.query_params.get("next"))
    return page(request, "step_up.html", _step_up_context(request, active, next_path, ""), active=active)


def _step_up_context(
    request: Request, active: ActiveSession, next_path: str, problem: str
) -> dict[str, object]:
    provider = _workspace(request).sso.lifecycle.provider_of_session(active.id)
    sso = (provider.name, provider.settings.display_name) if provider is not None else None
    user = _workspace(request).identity.get_user(active.username)
    return {"next": next_path, "problem": problem, "sso": sso, "totp": user.mfa_enrolled}


@router.post("/step-up", response_class=HTMLResponse)
def step_up(request: Request, active: PageSession, form: CheckedForm) -> Response:
    """Check the code; the session counts as freshly verified from now."""
    workspace = _workspace(request)
    next_path = local_path(form_text(form, "next"))
    try:
        user = workspace.identity.get_user(active.username)
        workspace.identity.verify_totp(user, form_text(form, "totp"), session_id=active.id)
    except (AuthenticationError, ThrottledError) as exc:
        context = _step_up_context(request, active, next_path, exc.message)
        return page(request, "step_up.html", context, active=active, status_code=exc.http_status)
    workspace.sessions.mark_mfa(active.id)
    return RedirectResponse(next_path, status_code=303)


def _qr(uri: str) -> str:
    # Inline SVG markup (no image request, no inline style): allowed by the strict CSP.
    return segno.make(uri, error="m").svg_inline(scale=5, svgclass="qr-code", lineclass=None, title="")


def _enrol_page(request: Request, token: str, problem: str = "", status_code: int = 200) -> HTMLResponse:
    enrolment = _workspace(request).invitations.open(token)
    value = new_login_value()
    context = {
        "page": enrolment,
        "qr": _qr(enrolment.provisioning_uri),
        "token": token,
        "problem": problem,
        "login_token": value,
    }
    response = page(request, "enrol.html", context, status_code=status_code)
    return _with_login_cookie(response, value, _workspace(request).settings.server.behind_tls)


@router.get("/enrol/{token}", response_class=HTMLResponse)
def enrol_form(request: Request, token: Annotated[str, Path(pattern=ENROL_LINK)]) -> Response:
    """The enrolment page of a one-time link: a QR code to scan, then code and password."""
    return _enrol_page(request, token)


@router.post("/enrol/{token}", response_class=HTMLResponse)
async def enrol(request: Request, token: Annotated[str, Path(pattern=ENROL_LINK)]) -> Response:
    """Finish enrolment; then the person signs in normally."""
    workspace = _workspace(request)
    form = await request.form()
    try:
        check_login_value(request.cookies.get(LOGIN_COOKIE), form_text(form, "login_token"))
        password = form_text(form, "password")
        if "confirm" in form and form_text(form, "confirm") != password:
            raise InputError("the two passwords differ; type the same new password twice")
        await run_in_threadpool(workspace.invitations.complete, token, password, form_text(form, "totp"))
    except (AuthenticationError, InputError) as exc:
        return _enrol_page(request, token, exc.message, exc.http_status)
    except SealroomError as exc:
        if exc.reason != "csrf":
            raise
        return _enrol_page(request, token, exc.message, 403)
    response = RedirectResponse("/login?notice=enrolled", status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response
