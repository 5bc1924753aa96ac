"""Request dependencies: the workspace, and the acting session from cookie or bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sealroom.errors import SessionEndedError
from sealroom.sessions import ActiveSession
from sealroom.sso.tokens import looks_like_jwt
from sealroom.workspace import Workspace

SESSION_COOKIE = "sealroom_session"


def get_workspace(request: Request) -> Workspace:
    """The workspace the app was built for."""
    workspace: Workspace = request.app.state.workspace
    return workspace


def session_token(request: Request) -> str | None:
    """The bearer token from ``Authorization: Bearer`` or the session cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(SESSION_COOKIE)


def current_session(
    request: Request, workspace: Annotated[Workspace, Depends(get_workspace)]
) -> ActiveSession:
    """The live session of the caller; 401 when there is none."""
    token = session_token(request)
    if not token:
        raise SessionEndedError("sign in first: no session token was sent")
    if looks_like_jwt(token) and workspace.sso.bearer.accepts_tokens():
        return workspace.sso.bearer.session_for(token)
    return workspace.sessions.resolve(token)


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
SessionDep = Annotated[ActiveSession, Depends(current_session)]
