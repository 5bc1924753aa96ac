"""Compliance sign-off: a reviewer's recorded approval of the deployment, bound to the configuration.

A sign-off holds the reviewer's name, the time, their notes and the SHA-256 of the configuration they
reviewed (``confighash.config_sha256``). It is *current* while the live configuration still has that
hash; any change of a setting leaves it *stale*, and the readiness check fails until someone signs
off again. Sign-offs are never edited or deleted: each new one is a new row, and the latest counts.

The reviewer's name and the notes are kept in the table only; the audit record carries the sign-off
id, the configuration hash, the readiness status at the time and the lengths of the texts, as with
every other free text in Sealroom.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.db.models import ComplianceSignoff
from sealroom.readiness.confighash import config_sha256
from sealroom.sessions import new_id
from sealroom.statements import clean_statement

MAX_REVIEWER_CHARS: Final = 128
MAX_NOTES_CHARS: Final = 4000
SIGNOFF_ACTION: Final = "readiness.signoff"


@dataclass(frozen=True)
class SignoffView:
    """A sign-off and whether it still matches the live configuration."""

    id: str
    reviewer: str
    signed_at: str
    notes: str
    config_sha256: str
    recorded_by: str
    current: bool

    @classmethod
    def of(cls, row: ComplianceSignoff, current_sha256: str) -> SignoffView:
        """The view of ``row`` against the live configuration hash."""
        return cls(
            id=row.id,
            reviewer=row.reviewer,
            signed_at=row.signed_at.isoformat(),
            notes=row.notes,
            config_sha256=row.config_sha256,
            recorded_by=row.recorded_by,
            current=row.config_sha256 == current_sha256,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (shown to operators and signers only, never in the readiness report)."""
        return {
            "id": self.id,
            "reviewer": self.reviewer,
            "signed_at": self.signed_at,
            "notes": self.notes,
            "config_sha256": self.config_sha256,
            "recorded_by": self.recorded_by,
            "current": self.current,
        }


def latest_signoff(db: Session) -> ComplianceSignoff | None:
    """The most recent sign-off, or None."""
    return db.scalar(
        select(ComplianceSignoff).order_by(ComplianceSignoff.signed_at.desc(), ComplianceSignoff.id).limit(1)
    )


def record_signoff(
    db_factory: sessionmaker[Session],
    audit: AuditLog,
    clock: Clock,
    settings: Settings,
    *,
    reviewer: str,
    notes: str,
    actor: str,
    readiness_status: str,
    session_id: str | None = None,
) -> SignoffView:
    """Record a sign-off of the live configuration by ``reviewer``; returns it.

    ``readiness_status`` is the overall status of a readiness evaluation just made (kept in the audit
    record, so a sign-off given over known failures is visible as such). Raises ``InputError`` for an
    empty or over-long reviewer name or notes, ``AuditUnavailableError`` when the audit record cannot be
    written (then nothing is recorded). Audit: ``readiness.signoff``.
    """
    reviewer = clean_statement(reviewer, what="reviewer name", maximum=MAX_REVIEWER_CHARS)
    notes = clean_statement(notes, what="sign-off notes", maximum=MAX_NOTES_CHARS)
    digest = config_sha256(settings)
    with db_factory.begin() as db:
        # The latest sign-off is the one with the latest time, so times only move forward: a clock
        # stepped back (or two sign-offs within one clock tick) must not let an older one win.
        previous = latest_signoff(db)
        signed_at = clock.now()
        if previous is not None and signed_at <= previous.signed_at:
            signed_at = previous.signed_at + timedelta(microseconds=1)
        row = ComplianceSignoff(
            id=new_id(),
            reviewer=reviewer,
            signed_at=signed_at,
            notes=notes,
            config_sha256=digest,
            recorded_by=actor,
        )
        db.add(row)
        audit.record(
            db,
            category="admin",
            action=SIGNOFF_ACTION,
            outcome="success",
            actor=actor,
            session_id=session_id,
            details={
                "signoff_id": row.id,
                "config_sha256": digest,
                "readiness_status": readiness_status,
                "reviewer_chars": len(reviewer),
                "notes_chars": len(notes),
            },
        )
    return SignoffView.of(row, digest)
