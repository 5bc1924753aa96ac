"""Case grants for administrators and integrations: create (a set of cases at once), list, revoke.

Two kinds of caller: a signed-in session whose role holds ``workspace:admin`` (the decision goes
through the Gatekeeper and is audited), or an integration sending ``Authorization: Bearer srint_…``
(admitted by ``IntegrationService.authenticate``, audited as ``access.decision`` with actor
``integration:<name>``). An integration token is recognised by its prefix before anything treats the
bearer as a session token; elsewhere in the API it is just an unknown session (401).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sealroom.api.deps import WorkspaceDep, current_session
from sealroom.identity.integrations import integration_actor, is_integration_token
from sealroom.identity.service import canonical_username
from sealroom.policy.grants import MAX_CASES_PER_CALL, MAX_PURPOSE, GrantView, grant_status

router = APIRouter(prefix="/api/v1/grants", tags=["grants"])

GRANT_ID = r"^[0-9a-f]{32}$"
MANAGE = "grant:manage"
"""What an integration is admitted for, as recorded in its ``access.decision``."""
MAX_DURATION_MINUTES = 3650 * 24 * 60  # the schema's bound; access.grant_max_days is the real cap

CaseId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


@dataclass(frozen=True)
class GrantCaller:
    """Who is managing grants: the audit actor and the grant source they create."""

    actor: str
    source: str


def grant_caller(request: Request, workspace: WorkspaceDep) -> GrantCaller:
    """Admit an integration token or an administrator's session; 401 or 403 otherwise."""
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    bearer = bearer.strip()
    if scheme.lower() == "bearer" and is_integration_token(bearer):
        integration = workspace.integrations.authenticate(bearer, requested=MANAGE)
        return GrantCaller(integration_actor(integration.name), "integration")
    active = current_session(request, workspace)
    with workspace.db() as db:
        workspace.gate.require(db, active, "workspace:admin")
        db.commit()
    return GrantCaller(active.username, "admin")


CallerDep = Annotated[GrantCaller, Depends(grant_caller)]


class GrantRequest(BaseModel):
    """Grant one user a set of cases for a purpose, until ``expires_at`` (ISO 8601 with a zone) or for
    ``duration_minutes`` (exactly one of the two). All grants are created, or none."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=128)
    case_ids: list[CaseId] = Field(min_length=1, max_length=MAX_CASES_PER_CALL)
    purpose: str = Field(min_length=1, max_length=MAX_PURPOSE)
    expires_at: datetime | None = None
    duration_minutes: int | None = Field(default=None, ge=1, le=MAX_DURATION_MINUTES)


@router.post("", status_code=201)
def create_grants(caller: CallerDep, workspace: WorkspaceDep, body: GrantRequest) -> dict[str, Any]:
    """Create one grant per case; 201 with the grants, or an error and nothing created."""
    duration = timedelta(minutes=body.duration_minutes) if body.duration_minutes is not None else None
    created = workspace.grants.create_grants(
        body.username,
        body.case_ids,
        body.purpose,
        granted_by=caller.actor,
        expires_at=body.expires_at,
        duration=duration,
        source=caller.source,
    )
    now = workspace.clock.now()
    username = canonical_username(body.username)
    return {"grants": [GrantView(grant, username, grant_status(grant, now)).as_dict() for grant in created]}


@router.get("")
def list_grants(
    _caller: CallerDep,
    workspace: WorkspaceDep,
    username: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    case_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    include_expired: bool = False,
) -> dict[str, Any]:
    """Grants, newest first: active ones, or also expired and revoked with ``include_expired``."""
    views = workspace.grants.list_views(username, case_id=case_id, include_expired=include_expired)
    return {"grants": [view.as_dict() for view in views]}


@router.delete("/{grant_id}")
def revoke_grant(
    caller: CallerDep, workspace: WorkspaceDep, grant_id: Annotated[str, Path(pattern=GRANT_ID)]
) -> dict[str, Any]:
    """Revoke a grant now: the user loses the case at their next request, open sessions included."""
    workspace.grants.revoke_grant(grant_id, revoked_by=caller.actor)
    return workspace.grants.view(grant_id).as_dict()
