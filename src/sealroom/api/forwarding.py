"""SIEM forwarding status for ``audit:read`` or ``workspace:admin`` holders. Reading it is audited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from sealroom.api.deps import SessionDep, WorkspaceDep
from sealroom.forwarding import forwarding_status

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("/forwarding")
def forwarding(active: SessionDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """Each sink's target (scheme, host and port only), format, cursor, backlog, last success, last
    error and state (``ok``, ``failing``, ``never``); never a secret."""
    with workspace.db() as db:
        # Whichever of the two permissions the caller holds is the one decided (and audited), so an
        # administrator's read is not also on record as an auditor's denial.
        elevations = [(e.role, e.dataset) for e in workspace.gate.elevations(db, active)]
        auditor = workspace.gate.policy.decide(
            list(active.roles), "audit:read", now=workspace.clock.now(), elevations=elevations
        ).allowed
        workspace.gate.require(db, active, "audit:read" if auditor else "workspace:admin")
        sinks = forwarding_status(db, workspace.settings, root=workspace.root, now=workspace.clock.now())
        workspace.audit.record(
            db,
            category="audit",
            action="audit.forwarding.read",
            outcome="success",
            actor=active.username,
            session_id=active.id,
            details={"sinks": len(sinks)},
        )
        db.commit()
    return {"sinks": [sink.as_dict() for sink in sinks]}
