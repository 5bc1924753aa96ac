"""Errors on pages: the same error tree as the API, answered with a page instead of JSON.

A page that needs a session redirects to the sign-in page; a step-up redirects to the second-factor
prompt and back; everything else is an error page that says what happened and what to do, with the
same status the API would give (and, like the API, a 404 that says nothing about scope).
"""

from __future__ import annotations

import logging
import re
import secrets

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from sealroom.errors import SealroomError, StepUpRequiredError
from sealroom.web.deps import SignInRequiredError, ended_notice, optional_session, sign_in_location
from sealroom.web.render import page

log = logging.getLogger("sealroom.web")

TITLES = {
    400: "The request was not understood",
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible now",
    410: "No longer available",
    413: "Too large",
    422: "Not accepted",
    429: "Too many attempts",
    503: "Unavailable",
}


# Where the form posted to a path came from (matched in order): the error page links back to it.
FORM_PAGES = (
    (re.compile(r"^/images/([0-9a-f]{32})/analyze$"), r"/images/\1"),
    (re.compile(r"^/requests/[0-9a-f]{32}/(approve|deny)$"), "/requests/review"),
    (re.compile(r"^/break-glass/[0-9a-f]{32}/review$"), "/break-glass"),
    (re.compile(r"^/(requests|exports|break-glass)(/.*)?$"), "/requests"),
    (re.compile(r"^/admin/users(/.*)?$"), "/admin/users"),
    (re.compile(r"^/admin/readiness(/.*)?$"), "/admin/readiness"),
    (re.compile(r"^/audit(/.*)?$"), "/audit"),
)


def back_link(request: Request, signed_in: bool) -> str:
    """Where the error page's "go back" leads: the page itself, or the page whose form was posted."""
    if not signed_in:
        return "/login"
    path = request.url.path
    if request.method == "GET":
        return "/"
    for pattern, target in FORM_PAGES:
        if pattern.match(path):
            return pattern.sub(target, path)
    return "/"


def render_error(request: Request, exc: Exception) -> Response:
    """The page (or redirect) for an error raised while serving a page."""
    if isinstance(exc, SignInRequiredError):
        return RedirectResponse(sign_in_location(exc.next_path, ended_notice(request)), status_code=303)
    active = optional_session(request)
    if isinstance(exc, StepUpRequiredError) and request.method == "GET" and active is not None:
        return RedirectResponse(f"/step-up?next={request.url.path}", status_code=303)
    status, message = 500, ""
    if isinstance(exc, SealroomError) and exc.http_status != 500:
        status, message = exc.http_status, exc.message
    elif isinstance(exc, SealroomError | Exception):
        request_id = secrets.token_hex(8)
        log.error("internal error %s on a page: %s", request_id, type(exc).__name__)
        message = f"Something went wrong inside Sealroom (reference {request_id}); nothing was delivered."
    if status == 401 and active is None:
        return RedirectResponse(sign_in_location(request.url.path, ended_notice(request)), status_code=303)
    context = {
        "title": TITLES.get(status, "Something went wrong"),
        "message": message,
        "step_up": request.url.path if isinstance(exc, StepUpRequiredError) else "",
        "back": back_link(request, active is not None),
    }
    return page(request, "error.html", context, active=active, status_code=status)


def page_error(request: Request, status: int, message: str) -> Response:
    """An error page for a status raised by the framework (unknown page, malformed form)."""
    active = optional_session(request)
    context = {
        "title": TITLES.get(status, "Something went wrong"),
        "message": message,
        "step_up": "",
        "back": "/" if active else "/login",
    }
    return page(request, "error.html", context, active=active, status_code=status)
