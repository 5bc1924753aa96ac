"""Access requests: submit, list, read, approve, deny and cancel (``/api/v1/requests``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from sealroom.api.deps import SessionDep, WorkspaceDep
from sealroom.policy.requests import MAX_NOTE, MAX_REASON

router = APIRouter(prefix="/api/v1/requests", tags=["requests"])

REQUEST_ID = r"^[0-9a-f]{32}$"
RequestId = Annotated[str, Path(pattern=REQUEST_ID)]


class SubmitBody(BaseModel):
    """A request for access: ``case`` (dataset, case_id), ``dataset`` (dataset, role) or ``role``."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(max_length=16)
    # Bounds here only stop oversized bodies; the service checks (and audits) the real limits.
    reason: str = Field(max_length=2 * MAX_REASON)
    # Strict: JSON true is not a number of minutes.
    duration_minutes: int = Field(ge=-(2**31), le=2**31, strict=True)
    case_id: str | None = Field(default=None, max_length=128)
    dataset: str | None = Field(default=None, max_length=128)
    role: str | None = Field(default=None, max_length=64)


class NoteBody(BaseModel):
    """An approver's note (optional for an approval)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=MAX_NOTE)


class DenyBody(BaseModel):
    """A denial's note: why, so the requester knows what to do next."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=MAX_NOTE)


@router.post("", status_code=201)
def submit_request(body: SubmitBody, active: SessionDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """Submit a request; it waits for approval by others allowed to decide it."""
    req = workspace.requests.submit(
        active,
        body.kind,
        reason=body.reason,
        duration_minutes=body.duration_minutes,
        case_id=body.case_id,
        dataset=body.dataset,
        role=body.role,
    )
    return workspace.requests.get(active, req.id)


@router.get("")
def list_requests(
    active: SessionDep,
    workspace: WorkspaceDep,
    view: Annotated[str, Query(pattern=r"^(mine|review|all)$")] = "mine",
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> dict[str, Any]:
    """Your requests (``mine``), those waiting for your decision (``review``) or all (auditors)."""
    return {"requests": workspace.requests.list(active, view=view, status=status)}


@router.get("/{request_id}")
def get_request(active: SessionDep, workspace: WorkspaceDep, request_id: RequestId) -> dict[str, Any]:
    """One request with its reviews."""
    return workspace.requests.get(active, request_id)


@router.post("/{request_id}/approve")
def approve_request(
    active: SessionDep, workspace: WorkspaceDep, request_id: RequestId, body: NoteBody | None = None
) -> dict[str, Any]:
    """Approve a request you may decide (never your own)."""
    workspace.requests.approve(active, request_id, (body or NoteBody()).note)
    return workspace.requests.get(active, request_id)


@router.post("/{request_id}/deny")
def deny_request(
    active: SessionDep, workspace: WorkspaceDep, request_id: RequestId, body: DenyBody
) -> dict[str, Any]:
    """Deny a request you may decide; the note says why."""
    workspace.requests.deny(active, request_id, body.note)
    return workspace.requests.get(active, request_id)


@router.post("/{request_id}/cancel")
def cancel_request(active: SessionDep, workspace: WorkspaceDep, request_id: RequestId) -> dict[str, Any]:
    """Withdraw your own pending request."""
    workspace.requests.cancel(active, request_id)
    return workspace.requests.get(active, request_id)
