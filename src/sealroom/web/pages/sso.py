"""Single sign-on in the browser: off to the provider, back at the callback, a Sealroom code when the
provider did not confirm a second factor, step-up by re-authenticating, and the provider's logout.

The pending-sign-in cookie is ``SameSite=Lax`` because the provider sends the browser back with a
cross-site navigation (a ``Strict`` cookie would not come with it). The session cookie stays ``Strict``;
that is why the callback answers with a page that moves on by itself instead of a redirect: the next
request then starts from this site and carries the new session cookie.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sealroom.api.deps import SESSION_COOKIE
from sealroom.errors import AuthenticationError, NotFoundError, SealroomError, ThrottledError
from sealroom.sso.provider import ProviderUnavailableError
from sealroom.sso.signin import SignInOutcome
from sealroom.web.csrf import LOGIN_COOKIE, check_login_value, new_login_value
from sealroom.web.deps import PageSession, form_text
from sealroom.web.pages.auth import local_path, login_page
from sealroom.web.render import page
from sealroom.workspace import Workspace

router = APIRouter(include_in_schema=False)

PENDING_COOKIE = "sealroom_sso"
SECOND_FACTOR_COOKIE = "sealroom_sso_mfa"
PROVIDER = r"^[a-z][a-z0-9-]{0,31}$"
ProviderName = Annotated[str, Path(pattern=PROVIDER)]


def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


def _secure(request: Request) -> bool:
    return _workspace(request).settings.server.behind_tls


def _to_provider(request: Request, url: str, cookie: str) -> Response:
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        PENDING_COOKIE,
        cookie,
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/sso/",
    )
    return response


@router.get("/sso/{provider}/login")
def sso_login(request: Request, provider: ProviderName) -> Response:
    """Send the browser to the provider to sign in (``next``: where to go afterwards)."""
    next_path = local_path(request.query_params.get("next"))
    try:
        start = _workspace(request).sso.signin.begin(provider, next_path)
    except (NotFoundError, ProviderUnavailableError) as exc:
        return login_page(request, problem=exc.message, next_path=next_path, status_code=exc.http_status)
    return _to_provider(request, start.url, start.cookie)


@router.get("/sso/{provider}/step-up")
def sso_step_up(request: Request, provider: ProviderName, active: PageSession) -> Response:
    """Re-authenticate at the provider (``prompt=login``, ``max_age=0``) to confirm a second factor."""
    next_path = local_path(request.query_params.get("next"))
    start = _workspace(request).sso.signin.begin(provider, next_path, step_up=active)
    return _to_provider(request, start.url, start.cookie)


@router.get("/sso/{provider}/callback", response_class=HTMLResponse)
async def sso_callback(request: Request, provider: ProviderName) -> Response:
    """Where the provider sends the browser back with a code (or an error)."""
    workspace = _workspace(request)
    params = request.query_params
    try:
        outcome = await run_in_threadpool(
            workspace.sso.signin.complete,
            provider,
            cookie=request.cookies.get(PENDING_COOKIE),
            state=params.get("state", "")[:512],
            code=params.get("code"),
            error=params.get("error"),
            issuer=params.get("iss"),
        )
    except SealroomError as exc:
        response = login_page(request, problem=exc.message, status_code=exc.http_status)
        response.delete_cookie(PENDING_COOKIE, path="/sso/")
        return response
    response = _after_sign_in(request, outcome)
    response.delete_cookie(PENDING_COOKIE, path="/sso/")
    return response


def _after_sign_in(request: Request, outcome: SignInOutcome) -> HTMLResponse:
    secure = _secure(request)
    if outcome.totp_key is not None:
        login_token = new_login_value()
        context = {"next": outcome.next_path, "problem": "", "login_token": login_token}
        response = page(request, "sso_totp.html", context)
        response.set_cookie(
            SECOND_FACTOR_COOKIE,
            outcome.totp_key,
            max_age=600,
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/sso/",
        )
        response.set_cookie(
            LOGIN_COOKIE, login_token, httponly=True, samesite="strict", secure=secure, path="/"
        )
        return response
    response = page(request, "signed_in.html", {"next": outcome.next_path})
    if outcome.token is not None:
        response.set_cookie(
            SESSION_COOKIE, outcome.token, httponly=True, samesite="strict", secure=secure, path="/"
        )
    return response


@router.post("/sso/totp", response_class=HTMLResponse)
async def sso_totp(request: Request) -> Response:
    """The Sealroom code, when the provider did not confirm a second factor."""
    workspace = _workspace(request)
    form = await request.form()
    next_path = local_path(form_text(form, "next"))
    try:
        check_login_value(request.cookies.get(LOGIN_COOKIE), form_text(form, "login_token"))
        outcome = await run_in_threadpool(
            workspace.sso.signin.complete_totp,
            request.cookies.get(SECOND_FACTOR_COOKIE),
            form_text(form, "totp"),
        )
    except (AuthenticationError, ThrottledError) as exc:
        login_token = new_login_value()
        context = {"next": next_path, "problem": exc.message, "login_token": login_token}
        response = page(request, "sso_totp.html", context, status_code=exc.http_status)
        response.set_cookie(
            LOGIN_COOKIE, login_token, httponly=True, samesite="strict", secure=_secure(request), path="/"
        )
        return response
    except SealroomError as exc:
        if exc.reason != "csrf":
            raise
        return login_page(request, problem=exc.message, status_code=403)
    response = _after_sign_in(request, outcome)
    response.delete_cookie(SECOND_FACTOR_COOKIE, path="/sso/")
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/sso/{provider}/backchannel-logout")
def sso_backchannel_logout(
    request: Request, provider: ProviderName, logout_token: Annotated[str, Form(max_length=16384)]
) -> Response:
    """The provider's back-channel logout (a server-to-server POST): ends the sessions it names."""
    try:
        _workspace(request).sso.lifecycle.backchannel_logout(provider, logout_token)
    except NotFoundError:
        return JSONResponse({"error": "invalid_request"}, status_code=404)
    except SealroomError as exc:
        return JSONResponse({"error": "invalid_request", "error_description": exc.reason}, status_code=400)
    return Response(status_code=200)


@router.get("/signed-out", response_class=HTMLResponse)
def signed_out(request: Request) -> Response:
    """Where the provider sends the browser after its own logout."""
    response = page(request, "signed_out.html")
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response
