"""Retention and legal holds, for administrators (``workspace:admin``): run the retention pass,
place, list and release legal holds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from sealroom.api.deps import SessionDep, WorkspaceDep
from sealroom.db.models import LegalHold
from sealroom.retention import MAX_REASON_CHARS
from sealroom.sessions import ActiveSession
from sealroom.workspace import Workspace

router = APIRouter(prefix="/api/v1", tags=["retention"])

HOLD_ID = r"^[0-9a-f]{32}$"


class RunRequest(BaseModel):
    """Run the retention pass now; ``dry_run`` only reports what it would delete."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False


class HoldRequest(BaseModel):
    """Put one case or one image (exactly one) on legal hold, with the reason (the matter)."""

    model_config = ConfigDict(extra="forbid")

    case_id: str | None = Field(default=None, min_length=1, max_length=128)
    image_id: str | None = Field(default=None, pattern=HOLD_ID)
    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS)


def hold_view(hold: LegalHold) -> dict[str, Any]:
    """A legal hold as JSON."""
    return {
        "id": hold.id,
        "case_id": hold.case_id,
        "image_id": hold.image_id,
        "reason": hold.reason,
        "placed_by": hold.placed_by,
        "placed_at": hold.placed_at.isoformat(),
        "released_at": hold.released_at.isoformat() if hold.released_at else None,
        "released_by": hold.released_by,
        "active": hold.released_at is None,
    }


def _require_admin(workspace: Workspace, active: ActiveSession) -> None:
    with workspace.db() as db:
        workspace.gate.require(db, active, "workspace:admin")
        db.commit()  # the allow is on record before anything is done


@router.post("/retention/run")
def run_retention(body: RunRequest, active: SessionDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """Run the retention pass: crypto-shred images past retention that are not on legal hold."""
    _require_admin(workspace, active)
    report = workspace.retention.run(active.username, dry_run=body.dry_run, session_id=active.id)
    return report.as_dict()


@router.get("/legal-holds")
def list_holds(
    active: SessionDep,
    workspace: WorkspaceDep,
    all_: Annotated[bool, Query(alias="all", description="Include released holds.")] = False,
) -> dict[str, Any]:
    """Legal holds (active ones, or all with ``?all=true``)."""
    _require_admin(workspace, active)
    return {"holds": [hold_view(hold) for hold in workspace.retention.list_holds(active_only=not all_)]}


@router.post("/legal-holds", status_code=201)
def place_hold(body: HoldRequest, active: SessionDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """Put a case or an image on legal hold; retention keeps it until the hold is released."""
    _require_admin(workspace, active)
    hold = workspace.retention.place_hold(
        active.username,
        case_id=body.case_id,
        image_id=body.image_id,
        reason=body.reason,
        session_id=active.id,
    )
    return {**hold_view(hold), "images_covered": workspace.retention.images_covered(hold)}


@router.post("/legal-holds/{hold_id}/release")
def release_hold(
    active: SessionDep, workspace: WorkspaceDep, hold_id: Annotated[str, Path(pattern=HOLD_ID)]
) -> dict[str, Any]:
    """Release a legal hold; what it covered falls under retention again."""
    _require_admin(workspace, active)
    return hold_view(workspace.retention.release_hold(active.username, hold_id, session_id=active.id))
