"""Reading the audit log on someone's behalf: the ``audit:read`` check and the record of the read.

Every shell that shows audit records (the API, the pages) reads through these helpers, so a read is
decided by the same ``Gatekeeper`` call and leaves the same ``audit.search`` / ``audit.verify`` /
``audit.export`` record wherever it came from. Details hold counts and flags only, never the filter
values (an actor or case named in a search is not itself an event of the person searched for).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from sealroom.audit.log import AuditLog
from sealroom.audit.query import AuditQuery, search
from sealroom.sessions import ActiveSession

if TYPE_CHECKING:
    from sealroom.access import Gatekeeper
    from sealroom.audit.anchor_check import ChainCheckReport

READ_ACTION = "audit:read"


def require_reader(db: Session, gate: Gatekeeper, active: ActiveSession) -> None:
    """Decide (and audit) whether ``active`` may read the audit log.

    Raises ``AccessDeniedError`` after committing the denial's record when the roles do not allow
    ``audit:read``.
    """
    gate.require(db, active, READ_ACTION)


def record_read(
    db: Session,
    log: AuditLog,
    active: ActiveSession,
    action: str,
    details: Mapping[str, Any],
    *,
    ok: bool = True,
) -> None:
    """Append the record of one read of the log (``audit.search``, ``audit.verify``, ``audit.export``)
    inside ``db``'s transaction; the caller commits. Raises ``AuditUnavailableError`` when it cannot."""
    log.record(
        db,
        category="audit",
        action=action,
        outcome="success" if ok else "failure",
        actor=active.username,
        session_id=active.id,
        details=dict(details),
    )


def record_search(
    db: Session, log: AuditLog, active: ActiveSession, query: AuditQuery, returned: int
) -> None:
    """Append the ``audit.search`` record of a search that showed ``returned`` records (the caller
    commits): the count and ``AuditQuery.summary()`` (the named search, bounds and action filters;
    only the *names* of filters whose values identify a person or subject). The one place that decides
    what a search's record says, for every shell."""
    record_read(db, log, active, "audit.search", {"returned": returned, "filter": query.summary()})


def search_audited(
    db: Session, gate: Gatekeeper, log: AuditLog, active: ActiveSession, query: AuditQuery
) -> list[dict[str, Any]]:
    """Check ``audit:read``, run ``query`` and record ``audit.search`` (``returned``); commits.

    Emits ``access.decision`` (through the gate) and ``audit.search``.
    """
    require_reader(db, gate, active)
    records = search(db, query)
    record_search(db, log, active, query, len(records))
    db.commit()
    return records


def verify_audited(
    db: Session,
    gate: Gatekeeper,
    log: AuditLog,
    active: ActiveSession,
    check: Callable[[], ChainCheckReport],
) -> ChainCheckReport:
    """Check ``audit:read``, run ``check`` (the chain and its signed anchors, see
    ``Monitor.check``) and record ``audit.verify`` (``ok``, ``checked``, ``anchors_checked``; outcome
    ``failure`` when the chain is not intact or an anchor does not match); commits."""
    require_reader(db, gate, active)
    report = check()
    details = {"ok": report.ok, "checked": report.chain.checked, "anchors_checked": report.anchors_checked}
    record_read(db, log, active, "audit.verify", details, ok=report.ok)
    db.commit()
    return report
