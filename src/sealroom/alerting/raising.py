"""Raising a rule's alert: quiet period, ``alert_firings`` row and ``alert.raise`` record, then the send.

``prepare`` runs inside the caller's transaction. It skips a firing while an earlier one for the same
rule and subject is still quiet (``quiet_until`` after the new firing's moment), else adds the
``alert_firings`` row and the audit record ``alert.raise`` (category ``audit``; details: rule, subject,
counts, window, severity, alert id; never personal values). Only after the caller committed are the
prepared alerts handed to ``AlertDispatcher.send`` (``dispatch``), so an alert never goes out without its
record, and a rolled-back pass sends nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealroom.alerts import Alert, AlertDispatcher, Severity
from sealroom.audit.log import AuditLog
from sealroom.db.models import AlertFiring
from sealroom.rfc5424 import FieldValue

ACTION = "alert.raise"
ACTOR = "system:alert-rules"


@dataclass(frozen=True)
class Firing:
    """One rule firing, before it is recorded: ``at`` is the moment it describes (a record's time)."""

    rule: str
    subject: str
    at: datetime
    quiet_until: datetime
    severity: Severity
    summary: str
    fields: Mapping[str, FieldValue]
    send: bool = True
    """False when the alert already went out elsewhere (break-glass, at the moment of use)."""
    alert_id: str = field(default_factory=lambda: secrets.token_hex(16))


def is_quiet(db: Session, rule: str, subject: str, at: datetime) -> bool:
    """Whether an earlier firing of ``rule`` for ``subject`` keeps this one quiet at ``at``."""
    stmt = select(AlertFiring.id).where(
        AlertFiring.rule == rule, AlertFiring.subject == subject, AlertFiring.quiet_until > at
    )
    return db.scalars(stmt.limit(1)).first() is not None


def prepare(db: Session, audit: AuditLog, firings: Iterable[Firing]) -> list[Alert]:
    """Record every firing that is not quiet (in ``db``'s transaction) and return the alerts to send.

    Raises ``AuditUnavailableError`` (the transaction rolled back) when a record cannot be written.
    """
    to_send: list[Alert] = []
    for firing in firings:
        if is_quiet(db, firing.rule, firing.subject, firing.at):
            continue
        db.add(
            AlertFiring(
                id=secrets.token_hex(16),
                rule=firing.rule,
                subject=firing.subject[:128],
                fired_at=firing.at,
                quiet_until=firing.quiet_until,
                alert_id=firing.alert_id,
                details=dict(firing.fields),
            )
        )
        db.flush()  # the next firing of this pass sees this one's quiet period
        audit.record(
            db,
            category="audit",
            action=ACTION,
            outcome="success",
            actor=ACTOR,
            reason=firing.rule,
            details={
                "rule": firing.rule,
                "subject": firing.subject,
                "alert_id": firing.alert_id,
                "severity": firing.severity,
                "sent_by": "alert_rules" if firing.send else "at_use",
                **firing.fields,
            },
        )
        if firing.send:
            to_send.append(
                Alert(
                    kind=firing.rule,
                    severity=firing.severity,
                    summary=firing.summary,
                    fields={"rule": firing.rule, "subject": firing.subject, **firing.fields},
                    id=firing.alert_id,
                    raised_at=firing.at,
                )
            )
    return to_send


def dispatch(dispatcher: AlertDispatcher, alerts: Iterable[Alert]) -> None:
    """Hand committed alerts to the dispatcher (it returns at once; delivery is audited there)."""
    for alert in alerts:
        dispatcher.send(alert)
