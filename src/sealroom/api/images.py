"""Images: upload (ingest), metadata, and analysis. There is deliberately no way to fetch pixels."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from sealroom.analysis.models import AnalysisTask
from sealroom.analysis.tasks import MAX_QUESTION_CHARS, build_task
from sealroom.api.deps import SessionDep, WorkspaceDep
from sealroom.errors import TooLargeError
from sealroom.vault.service import IngestRequest

router = APIRouter(prefix="/api/v1/images", tags=["images"])

IMAGE_ID = r"^[0-9a-f]{32}$"


async def read_body_within(request: Request, limit: int) -> bytes:
    """Read the request body into memory, stopping as soon as it passes ``limit`` bytes.

    The upload is kept in memory on purpose: multipart parsers spool large parts to temporary files,
    which would put plaintext image bytes on disk.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLargeError(
            f"the file is {int(declared):,} bytes, over the limit of {limit:,} bytes (limits.max_file_bytes)"
        )
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise TooLargeError(f"the file is over the limit of {limit:,} bytes (limits.max_file_bytes)")
    return bytes(body)


@router.post("", status_code=201)
async def upload_image(
    request: Request,
    active: SessionDep,
    workspace: WorkspaceDep,
    dataset: Annotated[str, Query(min_length=1, max_length=128)],
    case_id: Annotated[str, Query(min_length=1, max_length=128)],
    document_type: Annotated[str, Query(min_length=1, max_length=64)],
    classification: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Ingest one file sent as the raw request body (any content type; the content decides)."""
    ingest = IngestRequest(
        dataset=dataset, case_id=case_id, document_type=document_type, classification=classification
    )
    try:
        data = await read_body_within(request, workspace.settings.limits.max_file_bytes)
    except TooLargeError as exc:
        await run_in_threadpool(workspace.vault.record_refusal, active, ingest, exc)
        raise
    return await run_in_threadpool(workspace.vault.ingest, active, data, ingest)


@router.get("")
def list_images(active: SessionDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """Metadata of every image within the caller's role scope and case grants."""
    return {"images": workspace.vault.list_images(active)}


@router.get("/{image_id}")
def get_image(
    active: SessionDep, workspace: WorkspaceDep, image_id: Annotated[str, Path(pattern=IMAGE_ID)]
) -> dict[str, Any]:
    """Metadata of one image (never its pixels)."""
    return workspace.vault.describe(active, image_id)


class AnalysisRequest(BaseModel):
    """Which engine to run, and the task: ``describe``, ``extract`` (with a preset name or a JSON
    Schema object as ``schema``), ``classify`` or ``ask`` (with a ``question``)."""

    model_config = ConfigDict(extra="forbid")

    engine: str = Field(default="local", max_length=64)
    task: str = Field(default="describe", max_length=16)
    schema_: str | dict[str, Any] | None = Field(default=None, alias="schema")
    question: str | None = Field(default=None, max_length=MAX_QUESTION_CHARS)

    def to_task(self) -> AnalysisTask:
        """The checked task (``InputError`` names what is wrong)."""
        named = self.schema_ if isinstance(self.schema_, str) else None
        custom = self.schema_ if isinstance(self.schema_, dict) else None
        return build_task(self.task, schema_name=named, schema=custom, question=self.question)


@router.post("/{image_id}/analyses")
def analyze_image(
    active: SessionDep,
    workspace: WorkspaceDep,
    image_id: Annotated[str, Path(pattern=IMAGE_ID)],
    body: AnalysisRequest | None = None,
) -> dict[str, Any]:
    """Analyse the image inside the session; the result comes back masked for the caller's role."""
    request = body or AnalysisRequest()
    return workspace.analysis.analyze(active, image_id, request.engine, request.to_task())
