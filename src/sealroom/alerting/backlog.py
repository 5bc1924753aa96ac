"""The forwarding backlog rule: a SIEM sink fell behind, and when it caught up again.

A sink is *behind* when more than ``forwarding.backlog_alert_records`` records wait for it, or its oldest
waiting record is older than ``forwarding.backlog_alert_minutes`` (``forwarding_status`` computes both).
The alert is raised once per episode: ``forward_cursors.backlog_alerted_at`` is set by a conditional
update (only the process that sets it raises the alert), and cleared the same way when the sink is no
longer behind, which raises a ``notice`` that it recovered. A disabled rule neither raises nor clears.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session, sessionmaker

from sealroom.alerting.raising import Firing, prepare
from sealroom.alerts import Alert
from sealroom.audit.log import AuditLog
from sealroom.config import Settings
from sealroom.db.models import Base, ForwardCursor
from sealroom.forwarding import cursors
from sealroom.forwarding.status import SinkStatus, forwarding_status

RULE = "forwarding_backlog"
_table = Base.metadata.tables[ForwardCursor.__tablename__]


def is_behind(status: SinkStatus, settings: Settings, now: datetime) -> bool:
    """Whether ``status`` crosses either backlog threshold at ``now``."""
    forwarding = settings.forwarding
    if status.backlog > forwarding.backlog_alert_records:
        return True
    oldest = status.oldest_undelivered_at
    return oldest is not None and now - oldest > timedelta(minutes=forwarding.backlog_alert_minutes)


def check_backlog(
    sessions: sessionmaker[Session], audit: AuditLog, settings: Settings, root: Path, now: datetime
) -> list[Alert]:
    """Raise or clear the backlog alert of every configured sink; returns the committed alerts to send."""
    if not settings.alerts.rules.forwarding_backlog.enabled or not settings.forwarding.sinks:
        return []
    with sessions() as db:
        statuses = forwarding_status(db, settings, root=root, now=now)
    alerts: list[Alert] = []
    for status in statuses:
        cursors.ensure(sessions, status.name)
        behind = is_behind(status, settings, now)
        with sessions() as db, db.begin():
            if not _flip(db, status.name, now if behind else None):
                continue
            alerts += prepare(db, audit, [_firing(status, settings, now, behind)])
    return alerts


def _flip(db: Session, sink: str, alerted_at: datetime | None) -> bool:
    """Set (or clear) ``backlog_alerted_at`` when it is clear (or set); True if this call changed it."""
    column = _table.c.backlog_alerted_at
    condition = column.is_(None) if alerted_at is not None else column.is_not(None)
    stmt = update(_table).where(_table.c.sink == sink, condition).values(backlog_alerted_at=alerted_at)
    result = db.execute(stmt)
    return isinstance(result, CursorResult) and result.rowcount == 1


def _firing(status: SinkStatus, settings: Settings, now: datetime, behind: bool) -> Firing:
    oldest = status.oldest_undelivered_at
    return Firing(
        rule=RULE,
        subject=status.name,
        at=now,
        quiet_until=now,  # one alert per episode is kept by ``backlog_alerted_at``, not by time
        severity="error" if behind else "notice",
        summary=(
            f"SIEM sink {status.name} is behind: audit records are not reaching it"
            if behind
            else f"SIEM sink {status.name} has caught up"
        ),
        fields={
            "sink": status.name,
            "state": "behind" if behind else "recovered",
            "backlog": status.backlog,
            "oldest_undelivered_at": None if oldest is None else oldest.isoformat(),
            "last_error": status.last_error,
            "threshold_records": settings.forwarding.backlog_alert_records,
            "threshold_minutes": settings.forwarding.backlog_alert_minutes,
        },
    )
