"""Sign-in, sign-out and the current session."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from sealroom.api.deps import SESSION_COOKIE, SessionDep, WorkspaceDep
from sealroom.sessions import ActiveSession

router = APIRouter(prefix="/api/v1", tags=["session"])


class LoginRequest(BaseModel):
    """Credentials: password, plus the current TOTP code for users enrolled in MFA."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)
    totp: str | None = Field(default=None, max_length=12)


def session_info(active: ActiveSession) -> dict[str, Any]:
    """What a client may know about its session."""
    return {
        "session_id": active.id,
        "username": active.username,
        "roles": list(active.roles),
        "idle_expires_at": active.idle_expires_at.isoformat(),
        "absolute_expires_at": active.absolute_expires_at.isoformat(),
        "mfa_verified_at": active.mfa_verified_at.isoformat() if active.mfa_verified_at else None,
    }


@router.post("/login")
def login(body: LoginRequest, response: Response, workspace: WorkspaceDep) -> dict[str, Any]:
    """Sign in and open a workspace session; the token comes as an HttpOnly cookie and in the body."""
    user = workspace.identity.authenticate(body.username, body.password, body.totp)
    active, token = workspace.sessions.open(user, mfa_verified=user.mfa_enrolled)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=workspace.settings.server.behind_tls,
        path="/",
    )
    return {**session_info(active), "token": token}


@router.post("/logout")
def logout(response: Response, active: SessionDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """End the session now and destroy every image it held. A session opened through single sign-on
    also gets ``idp_logout_url``: open it in the browser to end the provider session too."""
    idp_logout = workspace.sso.lifecycle.provider_logout_url(active.id)
    purged = workspace.sessions.end(active.id, "logout")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return {"ended": True, "images_purged": len(purged), "idp_logout_url": idp_logout}


class StepUpRequest(BaseModel):
    """The current code from the user's authenticator app."""

    model_config = ConfigDict(extra="forbid")

    totp: str = Field(min_length=1, max_length=12)


@router.post("/session/step-up")
def step_up(body: StepUpRequest, active: SessionDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """Re-verify the second factor inside the session, for images whose classification needs a recent
    check; the session then counts as verified from now."""
    user = workspace.identity.get_user(active.username)
    workspace.identity.verify_totp(user, body.totp, session_id=active.id)
    return session_info(workspace.sessions.mark_mfa(active.id))


@router.get("/session")
def get_session(active: SessionDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """The caller's session: who, which roles, when it ends, and the access they hold right now (case
    grants and temporary role elevations, with when each ends)."""
    with workspace.db() as db:
        elevations = workspace.gate.elevations(db, active)
    grants = workspace.grants.active_grants(active.user_id)
    return {
        **session_info(active),
        "grants": [
            {"case_id": g.case_id, "source": g.source, "expires_at": g.expires_at.isoformat()} for g in grants
        ],
        "elevations": [
            {"role": e.role, "dataset": e.dataset, "expires_at": e.expires_at.isoformat()} for e in elevations
        ],
    }
