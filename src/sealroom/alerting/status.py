"""What the watch last found, for the readiness check and the CLI (read-only, not audited).

* ``last_verify(db)``: the periodic verification's last result (marker ``audit.verify``);
* ``last_anchor(db)``: the newest signed anchor in the table; ``anchor_covers_head(db)``: whether it
  still vouches for the head (an idle workspace signs no new one);
* ``watch_problems(settings, root, dispatcher)``: configuration that keeps alerts or anchors from
  doing their job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from sealroom.alerting import markers
from sealroom.alerting.monitor import ANCHOR_MARKER, VERIFY_MARKER
from sealroom.alerts import AlertDispatcher
from sealroom.audit.anchors import SignedAnchor, anchor_file_path, latest_anchor
from sealroom.audit.log import chain_head
from sealroom.config import Settings


@dataclass(frozen=True)
class VerifyStatus:
    """The last periodic verification (``data`` of marker ``audit.verify``, as ``monitor.verify_data``)."""

    ok: bool
    verified_at: datetime
    summary: str
    data: dict[str, Any]
    """Every stored field: ok, verified_at, checked, last_seq, first_bad_seq, problem, anchors_checked,
    newest_anchor_seq, anchor_problem {source, anchor_id, seq, problem} | null, anchor_file
    (checked | missing | not_configured), summary."""


def last_verify(db: Session) -> VerifyStatus | None:
    """The last periodic (or ``sealroom alerts run``) verification, or ``None`` if none finished."""
    marker = markers.get(db, VERIFY_MARKER)
    data = dict(marker.data or {}) if marker is not None else {}
    if "ok" not in data or "verified_at" not in data:
        return None
    return VerifyStatus(
        ok=bool(data["ok"]),
        verified_at=datetime.fromisoformat(str(data["verified_at"])),
        summary=str(data.get("summary", "")),
        data=data,
    )


def last_anchor(db: Session) -> SignedAnchor | None:
    """The newest signed anchor in the table (``signed_at`` is RFC 3339 text), or ``None``."""
    return latest_anchor(db)


def watch_problems(settings: Settings, root: Path, dispatcher: AlertDispatcher) -> list[str]:
    """Configuration problems of alerts and anchors (empty when all is well)."""
    problems = list(dispatcher.configuration_problems())
    if settings.alerts.rules.off_hours.enabled and not settings.alerts.rules.off_hours.days:
        problems.append("alerts.rules.off_hours has no working days: every image access will alert")
    path = anchor_file_path(root, settings)
    if path is None:
        problems.append(
            "audit.anchor.file is not set: signed anchors stay in the database and the SIEM only; "
            "set it to a place the database's administrators cannot rewrite"
        )
    elif not os.access(path if path.exists() else path.parent, os.W_OK):
        problems.append(f"audit.anchor.file {path} cannot be written by this process")
    return problems


def anchor_covers_head(db: Session) -> bool:
    """Whether the newest anchor names the head, or the head moved only by that anchor's own record.

    An idle workspace signs no new anchor (nothing new to vouch for), so a readiness check should not
    call an old anchor late while this is true.
    """
    head = chain_head(db)
    if head is None or head.seq == 0:
        return True
    anchor = latest_anchor(db)
    if anchor is None:
        return False
    marker = markers.get(db, ANCHOR_MARKER)
    own_record = (marker.data or {}).get("record_seq") if marker is not None else None
    return head.seq in (anchor.seq, own_record)
