"""The readiness report for administrators and compliance reviewers: each review item with its checks,
each status written out (not colour alone) and its remedy; and the compliance sign-off.

Administrators (``workspace:admin``) and auditors (``audit:read``) may open the report; whichever the
user holds is the permission decided and recorded (so an administrator is not also on record as a
refused auditor). Signing off is for ``audit:read`` holders, as in the API, and the reviewer is the
signed-in user: no name can be typed in for someone else. Evaluating the report is itself recorded
(``readiness.evaluate``), and a sign-off is recorded as ``readiness.signoff``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sealroom.readiness import SignoffView, config_sha256, evaluate, latest_signoff, record_signoff
from sealroom.readiness.access import may_sign, require_report_reader, require_signer
from sealroom.readiness.signoff import MAX_NOTES_CHARS
from sealroom.sessions import ActiveSession
from sealroom.web.deps import CheckedForm, PageSession, form_text
from sealroom.web.render import page
from sealroom.workspace import Workspace

router = APIRouter(prefix="/admin", include_in_schema=False)

STATUS_TEXT = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


def _open(workspace: Workspace, active: ActiveSession) -> tuple[dict[str, Any], dict[str, Any] | None, bool]:
    """Decide (and record) the reader's permission, evaluate, and the latest sign-off."""
    signer = may_sign(workspace, active)
    require_report_reader(workspace, active)
    report = evaluate(workspace, actor=active.username, session_id=active.id)
    with workspace.db() as db:
        row = latest_signoff(db)
        latest = SignoffView.of(row, config_sha256(workspace.settings)).to_dict() if row else None
    return report.to_dict(), latest, signer


@router.get("/readiness", response_class=HTMLResponse)
async def readiness(request: Request, active: PageSession) -> Response:
    """Run the readiness checks and show each with its status, what was found and what to do."""
    workspace = _workspace(request)
    report, latest, signer = await run_in_threadpool(_open, workspace, active)
    context = {
        "report": report,
        "latest": latest,
        "may_sign": signer,
        "status_text": STATUS_TEXT,
        "max_notes": MAX_NOTES_CHARS,
    }
    return page(request, "readiness.html", context, active=active, section="readiness")


@router.post("/readiness/signoff", response_class=HTMLResponse)
async def sign_off(request: Request, active: PageSession, form: CheckedForm) -> Response:
    """Record the signed-in reviewer's sign-off of the configuration running now (``audit:read``)."""
    workspace = _workspace(request)

    def run() -> None:
        require_signer(workspace, active)
        # A fresh evaluation: the sign-off's record keeps the status it was given over.
        status = evaluate(workspace, actor=active.username, session_id=active.id).status
        record_signoff(
            workspace.db,
            workspace.audit,
            workspace.clock,
            workspace.settings,
            reviewer=active.username,
            notes=form_text(form, "notes"),
            actor=active.username,
            readiness_status=status,
            session_id=active.id,
        )

    await run_in_threadpool(run)
    return RedirectResponse("/admin/readiness?notice=signed_off", status_code=303)
