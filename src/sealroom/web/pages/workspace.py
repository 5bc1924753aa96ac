"""Cases and images (metadata only), and analyses: start one, watch it, read the masked result."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sealroom.analysis.catalog import engine_catalog
from sealroom.analysis.tasks import build_task
from sealroom.api.images import IMAGE_ID
from sealroom.web.deps import CheckedForm, PageSession, form_text
from sealroom.web.render import actions_of, page
from sealroom.workspace import Workspace

router = APIRouter(include_in_schema=False)

JOB_ID = r"^[0-9a-f]{32}$"
# The first page a person lands on: the first of these their roles allow (otherwise their requests).
START_PAGES = (("metadata:view", "/cases"), ("audit:read", "/audit"), ("workspace:admin", "/admin/users"))
TASKS = {"describe": "Describe", "extract": "Extract fields", "classify": "Classify", "ask": "Ask a question"}


def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


@router.get("/", response_class=HTMLResponse)
def home(request: Request, active: PageSession) -> Response:
    """Where each person starts: their cases, the audit log (auditors), accounts (administrators), or
    the requests page."""
    actions = actions_of(_workspace(request), active)
    start = next((path for action, path in START_PAGES if action in actions), "/requests")
    return RedirectResponse(start, status_code=303)


@router.get("/cases", response_class=HTMLResponse)
def cases(request: Request, active: PageSession) -> Response:
    """The images the user may see, by case, with the access they hold now and when it ends."""
    workspace = _workspace(request)
    images = workspace.vault.list_images(active)
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for image in images:
        by_case[image["case_id"]].append(image)
    with workspace.db() as db:
        elevations = workspace.gate.elevations(db, active)
    grants = workspace.grants.active_grants(active.user_id)
    context = {"cases": dict(sorted(by_case.items())), "grants": grants, "elevations": elevations}
    return page(request, "cases.html", context, active=active, section="cases")


@router.get("/images/{image_id}", response_class=HTMLResponse)
async def image(
    request: Request, active: PageSession, image_id: Annotated[str, Path(pattern=IMAGE_ID)]
) -> Response:
    """One image's metadata, and the analysis form (engines and tasks the user may choose)."""
    workspace = _workspace(request)
    meta = await run_in_threadpool(workspace.vault.describe, active, image_id)
    roles = workspace.settings.roles
    datasets = {name for role in active.roles if role in roles for name in roles[role].datasets}
    catalog = await run_in_threadpool(engine_catalog, workspace.engines, workspace.gate.egress, datasets)
    context = {"image": meta, "catalog": catalog, "tasks": TASKS, "problem": ""}
    return page(request, "image.html", context, active=active, section="cases")


@router.post("/images/{image_id}/analyze", response_class=HTMLResponse)
def start_analysis(
    request: Request, active: PageSession, form: CheckedForm, image_id: Annotated[str, Path(pattern=IMAGE_ID)]
) -> Response:
    """Start the chosen analysis in the background and go to its page."""
    workspace = _workspace(request)
    kind = form_text(form, "task") or "describe"
    task = build_task(
        kind,
        schema_name=(form_text(form, "schema") or None) if kind == "extract" else None,
        question=(form_text(form, "question") or None) if kind == "ask" else None,
    )
    job = workspace.jobs.start(active, image_id, form_text(form, "engine") or "local", task)
    return RedirectResponse(f"/analyses/{job.id}", status_code=303)


@router.get("/analyses/{job_id}", response_class=HTMLResponse)
def analysis(request: Request, active: PageSession, job_id: Annotated[str, Path(pattern=JOB_ID)]) -> Response:
    """The analysis page: progress, then the result drawn by the page's script from the job's JSON."""
    job = _workspace(request).jobs.get(active, job_id)
    return page(request, "analysis.html", {"job": job}, active=active, section="cases")
