"""Exports: ask for one, and download it once approved. The only response that carries pixels.

``POST /api/v1/exports`` creates an export request (it waits for approval);
``POST /api/v1/exports/{request_id}/download`` hands the approved file to its requester, once. There
is deliberately no GET that returns pixels: a download is a state change (it uses the request up),
and a GET could be replayed by a browser, a prefetcher or a cache.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from sealroom.api.deps import SessionDep, WorkspaceDep
from sealroom.exports.service import MAX_REASON, request_view

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])

ID = r"^[0-9a-f]{32}$"
SHA256_HEADER = "X-Sealroom-Export-SHA256"


class ExportRequestBody(BaseModel):
    """Which image, as ``png`` (single page) or ``pdf``, ``redacted`` or ``original``, and why."""

    model_config = ConfigDict(extra="forbid")

    image_id: str = Field(pattern=ID)
    format: str = Field(default="pdf", max_length=16)
    variant: str = Field(default="redacted", max_length=16)
    reason: str = Field(min_length=1, max_length=MAX_REASON)


@router.post("", status_code=201)
def request_export(active: SessionDep, workspace: WorkspaceDep, body: ExportRequestBody) -> dict[str, Any]:
    """Ask for an export; approvers decide it, then the requester downloads it once."""
    request = workspace.exports.request_export(
        active, body.image_id, fmt=body.format, variant=body.variant, reason=body.reason
    )
    return request_view(request)


@router.post("/{request_id}/download")
def download_export(
    active: SessionDep, workspace: WorkspaceDep, request_id: Annotated[str, Path(pattern=ID)]
) -> Response:
    """The approved export's file, once, to its requester (rendered and watermarked unless original)."""
    export = workspace.exports.deliver(active, request_id)
    return Response(
        content=export.data,
        media_type=export.media_type,
        headers={
            # The name is built from the request id only: nothing user-typed reaches the header.
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            SHA256_HEADER: export.sha256,
            "Cache-Control": "no-store",
        },
    )
