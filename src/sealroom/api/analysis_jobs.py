"""Background analyses: start one and return at once, then ask how it is going and for its result."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from sealroom.api.deps import SessionDep, WorkspaceDep
from sealroom.api.images import IMAGE_ID, AnalysisRequest

router = APIRouter(prefix="/api/v1", tags=["analysis"])

JOB_ID = r"^[0-9a-f]{32}$"


@router.post("/images/{image_id}/analysis-jobs", status_code=202)
def start_job(
    active: SessionDep,
    workspace: WorkspaceDep,
    image_id: Annotated[str, Path(pattern=IMAGE_ID)],
    body: AnalysisRequest | None = None,
) -> dict[str, Any]:
    """Start analysing the image in the session; poll ``GET /api/v1/analysis-jobs/{id}``."""
    request = body or AnalysisRequest()
    job = workspace.jobs.start(active, image_id, request.engine, request.to_task())
    return job.view(workspace.clock.now())


@router.get("/analysis-jobs/{job_id}")
def get_job(
    active: SessionDep, workspace: WorkspaceDep, job_id: Annotated[str, Path(pattern=JOB_ID)]
) -> dict[str, Any]:
    """The job's status, and once it ended its masked result or its error; kept until the session ends."""
    return workspace.jobs.get(active, job_id).view(workspace.clock.now())
