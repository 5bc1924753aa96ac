"""Engines: what a signed-in user may choose, and the egress policy each data set runs under."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from sealroom.analysis.catalog import engine_catalog
from sealroom.api.deps import SessionDep, WorkspaceDep

router = APIRouter(prefix="/api/v1/engines", tags=["engines"])


@router.get("")
async def list_engines(active: SessionDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """Configured engines with readiness (never credentials), the egress modes of the data sets the
    caller's roles cover, and the extraction presets."""
    roles = workspace.settings.roles
    datasets = {name for role in active.roles if role in roles for name in roles[role].datasets}
    return await run_in_threadpool(engine_catalog, workspace.engines, workspace.gate.egress, datasets)
