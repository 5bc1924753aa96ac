"""Audit log search and verification for the ``audit:read`` role. Reading is itself audited."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from sealroom.api.deps import SessionDep, WorkspaceDep
from sealroom.audit.query import AuditQuery, search
from sealroom.audit.verify import verify_chain

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("/events")
def list_events(
    active: SessionDep,
    workspace: WorkspaceDep,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    image_id: Annotated[str | None, Query(max_length=32)] = None,
    case_id: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[str | None, Query(max_length=16)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Audit records matching the filters, oldest first; page with ``after_seq``."""
    with workspace.db() as db:
        workspace.gate.require(db, active, "audit:read")
        query = AuditQuery(
            actor=actor,
            image_id=image_id,
            case_id=case_id,
            action=action,
            outcome=outcome,
            since=since,
            until=until,
            after_seq=after_seq,
            limit=limit,
        )
        records = search(db, query)
        workspace.audit.record(
            db,
            category="audit",
            action="audit.search",
            outcome="success",
            actor=active.username,
            session_id=active.id,
            details={"returned": len(records)},
        )
        db.commit()
    next_seq = records[-1]["seq"] if len(records) == limit else None
    return {"events": records, "next_after_seq": next_seq}


@router.get("/verify")
def verify(active: SessionDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """Verify the whole chain; names the first bad record when it is not intact."""
    with workspace.db() as db:
        workspace.gate.require(db, active, "audit:read")
        report = verify_chain(db, workspace.keys.audit_key)
        workspace.audit.record(
            db,
            category="audit",
            action="audit.verify",
            outcome="success" if report.ok else "failure",
            actor=active.username,
            session_id=active.id,
            details={"ok": report.ok, "checked": report.checked},
        )
        db.commit()
    return {
        "ok": report.ok,
        "checked": report.checked,
        "first_bad_seq": report.first_bad_seq,
        "problem": report.problem,
        "last_seq": report.last_seq,
        "last_mac": report.last_mac,
    }
