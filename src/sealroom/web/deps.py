"""Who is asking, for the pages: the session from the cookie (never a bearer token), and checked forms.

A page asked for without a live session redirects to the sign-in page; a form whose CSRF token is not
the session's is refused before anything is read from it.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.datastructures import FormData

from sealroom.api.deps import SESSION_COOKIE
from sealroom.errors import SessionEndedError
from sealroom.sessions import ActiveSession
from sealroom.web.csrf import FIELD, check_session_token
from sealroom.workspace import Workspace


class SignInRequiredError(SessionEndedError):
    """A page needs a session: answered with a redirect to the sign-in page (``next`` kept)."""

    def __init__(self, message: str, next_path: str) -> None:
        super().__init__(message)
        self.next_path = next_path


def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


def optional_session(request: Request) -> ActiveSession | None:
    """The live session of the browser's cookie, or None."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return _workspace(request).sessions.resolve(token)
    except SessionEndedError:
        return None


def page_session(request: Request) -> ActiveSession:
    """The live session of the browser; otherwise ``SignInRequiredError`` (a redirect to sign in)."""
    active = optional_session(request)
    if active is None:
        path = request.url.path if request.method == "GET" else "/"
        raise SignInRequiredError("sign in to continue", next_path=path)
    return active


async def checked_form(request: Request, active: Annotated[ActiveSession, Depends(page_session)]) -> FormData:
    """The posted form, after checking its CSRF token belongs to this session."""
    form = await request.form()
    sent = form.get(FIELD)
    check_session_token(_workspace(request).keys.csrf_key, active.id, sent if isinstance(sent, str) else None)
    return form


def form_text(form: FormData, name: str) -> str:
    """A text field of a form ('' when absent or not text); the services check lengths and content."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def sign_in_location(next_path: str, notice: str | None = "session_ended") -> str:
    """Where a page without a session sends the browser (``notice``: the message to show, if any)."""
    safe_next = next_path if next_path.startswith("/") and not next_path.startswith("//") else "/"
    shown = f"notice={notice}&" if notice else ""
    return f"/login?{shown}next={quote(safe_next, safe='/')}"


def ended_notice(request: Request) -> str | None:
    """``session_ended`` when the browser presented a session cookie (its session is over); a first
    visit, with no cookie, gets the plain sign-in page."""
    return "session_ended" if request.cookies.get(SESSION_COOKIE) else None


PageSession = Annotated[ActiveSession, Depends(page_session)]
CheckedForm = Annotated[FormData, Depends(checked_form)]
