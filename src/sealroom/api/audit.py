"""Audit log search, evidence export and verification for the ``audit:read`` role. Reading is audited.

``GET /events`` pages with keyset cursors (``after_seq``/``before_seq``; the response's ``next`` holds the
one to send back). ``GET /export`` streams an evidence file (``sealroom.audit.evidence``) as an attachment
once its ``audit.export`` record is committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from sealroom.alerting.monitor import Monitor
from sealroom.api.deps import SessionDep, WorkspaceDep
from sealroom.audit.evidence import export_evidence
from sealroom.audit.filters_text import action_filter
from sealroom.audit.query import AuditQuery, page
from sealroom.audit.reading import record_read, require_reader, verify_audited
from sealroom.errors import InputError

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

Kind = Literal["access", "denials", "break-glass", "exports"]
_MAX_SEQ = 2**63 - 1


@dataclass(frozen=True)
class Filters:
    """The filters shared by search and export (query parameters)."""

    actor: Annotated[str | None, Query(max_length=128)] = None
    image_id: Annotated[str | None, Query(max_length=32)] = None
    case_id: Annotated[str | None, Query(max_length=128)] = None
    action: Annotated[
        str | None,
        Query(max_length=64, description="An action, or a family ending in * or . (access.*, access.)."),
    ] = None
    outcome: Annotated[str | None, Query(max_length=16)] = None
    kind: Annotated[Kind | None, Query(description="A named search.")] = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: Annotated[int | None, Query(ge=0, le=_MAX_SEQ)] = None
    before_seq: Annotated[int | None, Query(ge=1, le=_MAX_SEQ)] = None

    def query(self, **paging: Any) -> AuditQuery:
        """The ``AuditQuery``; 400 for times without a zone or a named search that contradicts a filter.

        ``action`` ending in ``*`` or ``.`` is a family (``access.*``), as on the CLI and the audit page.
        """
        action, action_prefix = action_filter(self.action)
        try:
            return AuditQuery(
                actor=self.actor, image_id=self.image_id, case_id=self.case_id, action=action,
                action_prefix=action_prefix, outcome=self.outcome, kind=self.kind, since=self.since,
                until=self.until,
                after_seq=self.after_seq, before_seq=self.before_seq, **paging,
            )  # fmt: skip
        except ValueError as exc:
            raise InputError(str(exc)) from exc


FiltersDep = Annotated[Filters, Depends()]


@router.get("/events")
def list_events(
    active: SessionDep,
    workspace: WorkspaceDep,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    newest_first: bool = False,
) -> dict[str, Any]:
    """Audit records matching the filters, oldest first (or newest first); ``next`` is the cursor of the
    next page (``{"after_seq": n}`` or ``{"before_seq": n}``) or ``null`` on the last page.

    Emits ``access.decision`` (``audit:read``) and ``audit.search`` (filters used, count returned).
    """
    query = filters.query(limit=limit, newest_first=newest_first)
    with workspace.db() as db:
        require_reader(db, workspace.gate, active)
        result = page(db, query)
        details = {"returned": len(result.records), "filter": query.summary()}
        record_read(db, workspace.audit, active, "audit.search", details)
        db.commit()
    cursor = result.next_cursor
    return {
        "events": result.records,
        "next": cursor,
        "next_after_seq": cursor.get("after_seq") if cursor else None,
    }


@router.get("/export")
def export(
    active: SessionDep,
    workspace: WorkspaceDep,
    filters: FiltersDep,
    fmt: Annotated[Literal["jsonl", "csv", "ocsf"], Query(alias="format")] = "jsonl",
) -> StreamingResponse:
    """Every record matching the filters as an evidence file with a signed manifest (an attachment).

    Emits ``access.decision`` (``audit:read``) and ``audit.export`` (format, filters used, count, SHA-256
    of the file) before the first byte is sent; the SHA-256 is also in ``X-Sealroom-Sha256``.
    """
    evidence = export_evidence(workspace, active, filters.query(limit=None), fmt)
    headers = {
        "Content-Disposition": f'attachment; filename="{evidence.filename}"',
        "X-Sealroom-Sha256": evidence.summary.file_sha256,
        "X-Sealroom-Key-Id": evidence.summary.key_id,
        "Cache-Control": "no-store",
    }
    return StreamingResponse(evidence.chunks(), media_type=evidence.media_type, headers=headers)


@router.get("/verify")
def verify(active: SessionDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """Verify the whole chain and its signed anchors; names the first bad record or anchor."""
    with workspace.db() as db:
        report = verify_audited(
            db, workspace.gate, workspace.audit, active, lambda: Monitor.of(workspace).check()[0]
        )
    chain = report.chain
    bad_anchor = report.first_bad_anchor
    return {
        "ok": report.ok,
        "checked": chain.checked,
        "first_bad_seq": chain.first_bad_seq if bad_anchor is None else bad_anchor.seq,
        "problem": None if report.ok else report.summary(),
        "last_seq": chain.last_seq,
        "last_mac": chain.last_mac,
        "anchors_checked": report.anchors_checked,
        "newest_anchor_seq": report.newest_anchor_seq,
    }
