"""Break-glass over the API: take emergency access, list the review queue, review a use."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from sealroom.api.deps import SessionDep, WorkspaceDep
from sealroom.policy.breakglass import MAX_JUSTIFICATION, MAX_NOTE, describe

router = APIRouter(prefix="/api/v1/break-glass", tags=["break-glass"])

RECORD_ID = r"^[0-9a-f]{32}$"


class TakeBody(BaseModel):
    """Emergency access to one case of a data set that allows it, with the reason."""

    model_config = ConfigDict(extra="forbid")

    case_id: str = Field(min_length=1, max_length=128)
    dataset: str = Field(min_length=1, max_length=128)
    justification: str = Field(max_length=MAX_JUSTIFICATION + 200)  # stripped, then checked by the service
    minutes: int | None = Field(default=None, ge=1, le=24 * 60, strict=True)  # JSON true is not 1


class ReviewBody(BaseModel):
    """A reviewer's conclusion on one break-glass use."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["justified", "unjustified"]
    note: str = Field(min_length=1, max_length=MAX_NOTE + 200)


@router.post("", status_code=201)
def take_break_glass(body: TakeBody, active: SessionDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """Take emergency access now: the grant is live on return; the alert goes out in the background."""
    record = workspace.breakglass.take(
        active,
        case_id=body.case_id,
        dataset=body.dataset,
        justification=body.justification,
        minutes=body.minutes,
    )
    return {
        "id": record.id,
        "case_id": record.case_id,
        "dataset": record.dataset,
        "grant_id": record.grant_id,
        "expires_at": record.expires_at.isoformat(),
        "alert_status": record.alert_status,
    }


@router.get("")
def break_glass_queue(
    active: SessionDep,
    workspace: WorkspaceDep,
    status: Annotated[Literal["open", "closed", "all"], Query()] = "open",
) -> dict[str, Any]:
    """The review queue (``breakglass:review``): open uses by default, newest first."""
    return {"items": workspace.breakglass.queue(active, status=status)}


@router.post("/{record_id}/review")
def review_break_glass(
    body: ReviewBody,
    active: SessionDep,
    workspace: WorkspaceDep,
    record_id: Annotated[str, Path(pattern=RECORD_ID)],
) -> dict[str, Any]:
    """Close a break-glass use as justified or unjustified (not your own)."""
    record = workspace.breakglass.review(active, record_id, outcome=body.outcome, note=body.note)
    return describe(record, workspace.clock.now())
