"""How each forwarding sink is doing: ``forwarding_status(db, settings)``.

Read by ``sealroom audit forward --status``, ``GET /api/v1/audit/forwarding`` and the readiness check.
It holds no secret: the target is ``scheme://host:port`` only (a path or query could carry a token),
and a missing signing key is named by its variable, never shown.

``state`` is ``failing`` while the last batch failed (``last_error`` says why), ``never`` while
records wait and none was ever acknowledged (e.g. the sink is new or no forwarder runs), else ``ok``.
``backlog`` counts the records after the cursor that the sink takes (its categories, when set).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sealroom.audit.log import chain_head
from sealroom.config import ForwardingSettings, ForwardSinkSettings, Settings
from sealroom.db.models import AuditEvent
from sealroom.forwarding import cursors
from sealroom.forwarding.sinks import target_of

SinkState = Literal["ok", "failing", "never"]


@dataclass(frozen=True)
class SinkStatus:
    """One sink's delivery state (see the module docstring)."""

    name: str
    kind: str
    target: str
    format: str
    categories: tuple[str, ...]
    last_seq: int
    head_seq: int
    backlog: int
    delivered: int
    oldest_undelivered_at: datetime | None
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    state: SinkState
    forwarder: str | None
    """The lease owner (``host:pid:nonce``) feeding the sink now, if any."""
    problems: tuple[str, ...]
    """Configuration problems found now that keep the sink from working."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values (times as ISO 8601 text)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "target": self.target,
            "format": self.format,
            "categories": list(self.categories),
            "last_seq": self.last_seq,
            "head_seq": self.head_seq,
            "backlog": self.backlog,
            "delivered": self.delivered,
            "oldest_undelivered_at": _iso(self.oldest_undelivered_at),
            "last_success_at": _iso(self.last_success_at),
            "last_attempt_at": _iso(self.last_attempt_at),
            "last_error": self.last_error,
            "consecutive_failures": self.consecutive_failures,
            "state": self.state,
            "forwarder": self.forwarder,
            "problems": list(self.problems),
        }


def forwarding_status(
    db: Session,
    settings: Settings | ForwardingSettings,
    *,
    root: Path | None = None,
    now: datetime | None = None,
) -> list[SinkStatus]:
    """The status of every configured sink, in configuration order (read-only; not audited).

    ``root`` (the workspace folder) lets it check that each ``ca_bundle`` is readable; ``now`` (default
    the system time) decides whether a lease still runs.
    """
    forwarding = settings.forwarding if isinstance(settings, Settings) else settings
    moment = now or datetime.now(UTC)
    head = chain_head(db)
    head_seq = 0 if head is None else head.seq
    known = cursors.load_all(db)
    return [
        _status(db, name, sink, known.get(name), head_seq, moment, root)
        for name, sink in forwarding.sinks.items()
    ]


def _status(
    db: Session,
    name: str,
    sink: ForwardSinkSettings,
    cursor: cursors.Cursor | None,
    head_seq: int,
    now: datetime,
    root: Path | None,
) -> SinkStatus:
    last_seq = cursor.last_seq if cursor else 0
    backlog, oldest = _undelivered(db, sink, last_seq, head_seq)
    failures = cursor.consecutive_failures if cursor else 0
    last_success = cursor.last_success_at if cursor else None
    state: SinkState = "failing" if failures else ("never" if last_success is None and backlog else "ok")
    leased = cursor is not None and cursor.lease_until is not None and cursor.lease_until > now
    return SinkStatus(
        name=name,
        kind=sink.kind,
        target=target_of(sink),
        format=sink.format,
        categories=tuple(sink.categories),
        last_seq=last_seq,
        head_seq=head_seq,
        backlog=backlog,
        delivered=cursor.delivered if cursor else 0,
        oldest_undelivered_at=oldest,
        last_success_at=last_success,
        last_attempt_at=cursor.last_attempt_at if cursor else None,
        last_error=cursor.last_error if cursor else None,
        consecutive_failures=failures,
        state=state,
        forwarder=cursor.lease_owner if leased and cursor else None,
        problems=tuple(sink_problems(sink, root)),
    )


def _undelivered(
    db: Session, sink: ForwardSinkSettings, last_seq: int, head_seq: int
) -> tuple[int, datetime | None]:
    if last_seq >= head_seq:
        return 0, None
    conditions = [AuditEvent.seq > last_seq]
    if sink.categories:
        conditions.append(AuditEvent.category.in_(sink.categories))
    oldest = db.scalar(select(AuditEvent.ts).where(*conditions).order_by(AuditEvent.seq).limit(1))
    if not sink.categories:
        return head_seq - last_seq, oldest  # seqs have no gaps
    count = db.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    return int(count), oldest


def sink_problems(sink: ForwardSinkSettings, root: Path | None) -> list[str]:
    """What in the configuration or environment keeps ``sink`` from delivering (empty when nothing)."""
    problems = []
    if sink.secret_env and not os.environ.get(sink.secret_env):
        problems.append(
            f"the signing key variable {sink.secret_env} is not set: nothing is sent to this sink "
            "(it never sends unsigned)"
        )
    if sink.ca_bundle and root is not None and not os.access(root / sink.ca_bundle, os.R_OK):
        problems.append(f"ca_bundle {sink.ca_bundle} is not a readable file in the workspace")
    return problems


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()
