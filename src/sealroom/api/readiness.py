"""The readiness report and compliance sign-off over HTTP.

``GET /api/v1/readiness`` runs the checks for a holder of ``workspace:admin`` or ``audit:read`` (the
reviewer must see what they sign). ``POST /api/v1/readiness/signoff`` records a sign-off for a holder of
``audit:read`` who does not also hold ``workspace:admin``: the sign-off is the compliance function's
independent review of a configuration the administrators made (``sealroom.readiness.access``), and the
reviewer is the signed-in user (no name can be typed in for someone else). Each call's permission is an
audited ``access.decision``; the evaluation and the sign-off are audited too (``readiness.evaluate``,
``readiness.signoff``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from sealroom.api.deps import SessionDep, WorkspaceDep
from sealroom.readiness import evaluate, record_signoff
from sealroom.readiness.access import require_report_reader, require_signer
from sealroom.readiness.signoff import MAX_NOTES_CHARS

router = APIRouter(prefix="/api/v1/readiness", tags=["readiness"])


class SignoffRequest(BaseModel):
    """What the reviewer reviewed, and any risks they accept."""

    model_config = ConfigDict(extra="forbid")

    notes: str = Field(min_length=1, max_length=MAX_NOTES_CHARS)


@router.get("")
def readiness(active: SessionDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """Run the readiness checks; the report's ``exit_code`` is 0 pass, 1 warnings, 2 failures."""
    require_report_reader(workspace, active)
    return evaluate(workspace, actor=active.username, session_id=active.id).to_dict()


@router.post("/signoff", status_code=201)
def signoff(body: SignoffRequest, active: SessionDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """Sign off the current configuration as the signed-in reviewer; returns the sign-off and the
    overall readiness status it was given against (the report itself: ``GET``)."""
    require_signer(workspace, active)  # the allow is on record before anything is done
    report = evaluate(workspace, actor=active.username, session_id=active.id)
    view = record_signoff(
        workspace.db,
        workspace.audit,
        workspace.clock,
        workspace.settings,
        reviewer=active.username,
        notes=body.notes,
        actor=active.username,
        readiness_status=report.status,
        session_id=active.id,
    )
    return {"signoff": view.to_dict(), "readiness_status": report.status}
