"""Audit pages for ``audit:read``: search and filter the log (GET, shareable addresses, keyset pages),
verify the chain, and export evidence. Every read is decided by the Gatekeeper and recorded exactly as
the API's (``sealroom.audit.reading``)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from sealroom.alerting.monitor import Monitor
from sealroom.audit.evidence import FORMATS as EVIDENCE_FORMATS
from sealroom.audit.evidence import export_evidence
from sealroom.audit.query import search
from sealroom.audit.reading import record_search, require_reader, verify_audited
from sealroom.errors import InputError
from sealroom.sessions import ActiveSession
from sealroom.web.audit_filters import (
    KIND_CHOICES,
    OUTCOMES,
    QUICK_SEARCHES,
    AuditFilters,
    ResultPage,
    empty_filters,
    fetch_page,
    read_filters,
)
from sealroom.web.deps import CheckedForm, PageSession, form_text
from sealroom.web.render import page
from sealroom.workspace import Workspace

router = APIRouter(prefix="/audit", include_in_schema=False)

# How the page describes the evidence formats; every format the writer makes is offered.
FORMAT_LABELS = {
    "jsonl": "JSON Lines: the sealed records, closed by a signed manifest",
    "csv": "CSV for a spreadsheet, closed by a signed manifest row",
    "ocsf": "OCSF 1.3.0 events (JSON Lines, for a SIEM), closed by a signed manifest",
}
FORMATS = {name: FORMAT_LABELS.get(name, name) for name in EVIDENCE_FORMATS}


def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


def _details_text(details: Any) -> str:
    # Printed as text (autoescaped by the template), never as markup.
    return json.dumps(details, indent=2, sort_keys=True, ensure_ascii=False) if details else ""


def _context(filters: AuditFilters, found: ResultPage | None, problem: str = "") -> dict[str, Any]:
    rows = (
        [{**record, "details_text": _details_text(record["details"])} for record in found.records]
        if found
        else []
    )
    return {
        "filters": filters,
        "outcomes": OUTCOMES,
        "kinds": KIND_CHOICES,
        "quick": [(label, AuditFilters(text=preset).url()) for label, preset in QUICK_SEARCHES],
        "records": rows,
        "found": found,
        "problem": problem,
        "formats": FORMATS,
    }


def _search(workspace: Workspace, active: ActiveSession, filters: AuditFilters) -> ResultPage:
    with workspace.db() as db:
        require_reader(db, workspace.gate, active)
        found = fetch_page(filters, lambda query: search(db, query))
        viewed = replace(filters.query(), after_seq=filters.after, before_seq=filters.before)
        record_search(db, workspace.audit, active, viewed, len(found.records))
        db.commit()
    return found


@router.get("", response_class=HTMLResponse)
async def audit_log(request: Request, active: PageSession) -> Response:
    """Search the log; the filters are in the address, so a search can be shared with a colleague."""
    workspace = _workspace(request)
    get = request.query_params.get
    try:
        filters = read_filters(get)
        filters.query()  # check every filter before anything is read
    except InputError as exc:
        with workspace.db() as db:
            require_reader(db, workspace.gate, active)  # the refusal of a non-auditor comes first
            db.commit()
        context = _context(empty_filters(get), None, exc.message)
        return page(request, "audit.html", context, active=active, section="audit", status_code=400)
    found = await run_in_threadpool(_search, workspace, active, filters)
    return page(request, "audit.html", _context(filters, found), active=active, section="audit")


@router.post("/verify", response_class=HTMLResponse)
async def verify(request: Request, active: PageSession, _form: CheckedForm) -> Response:
    """Verify every record's seal and link, the head and the signed anchors; name the first bad one."""
    workspace = _workspace(request)

    def run() -> Any:
        with workspace.db() as db:
            return verify_audited(
                db, workspace.gate, workspace.audit, active, lambda: Monitor.of(workspace).check()[0]
            )

    report = await run_in_threadpool(run)
    return page(request, "audit_verify.html", {"report": report}, active=active, section="audit")


@router.post("/export")
async def export(request: Request, active: PageSession, form: CheckedForm) -> Response:
    """Every record matching the posted filters as an evidence file (``sealroom.audit.evidence``), sent
    as an attachment; the export is decided by the gate and recorded (``audit.export``) before a byte
    is sent."""
    workspace = _workspace(request)
    fmt = form_text(form, "format")
    with workspace.db() as db:  # the refusal of a non-auditor comes before any complaint about the form
        require_reader(db, workspace.gate, active)
        db.commit()
    if fmt not in FORMATS:
        raise InputError(f"choose one of the formats: {', '.join(FORMATS)}")
    query = read_filters(lambda name: form_text(form, name) or None).query(limit=None)
    evidence = await run_in_threadpool(export_evidence, workspace, active, query, fmt)
    return StreamingResponse(
        evidence.chunks(),
        media_type=evidence.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{evidence.filename}"',
            "X-Sealroom-Sha256": evidence.summary.file_sha256,
            "X-Sealroom-Key-Id": evidence.summary.key_id,
        },
    )
