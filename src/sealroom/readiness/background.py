"""What the background passes of ``sealroom serve`` left behind: the periodic chain verify and anchors.

This is the one place the readiness check reads other components' markers, kept apart so it can follow
them when they change. The live ``verify_chain`` of ``audit_checks`` is the truth about the chain; these
markers only say whether the *periodic* checks run, so their absence is a warning (a workspace that has
not been served yet), never a failure. A periodic verify that found a fault is a failure.

Read: ``system_state`` row ``audit.verify`` (``at``: when it last ran; ``data``: ``ok`` false, or
``status`` ``fail``/``failed``, when it found a fault) and the newest row of ``audit_anchors``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealroom.config import Settings
from sealroom.db.models import AuditAnchor, SystemState
from sealroom.readiness.report import Check, passed

VERIFY_MARKER: Final = "audit.verify"
GRACE: Final = timedelta(minutes=5)
"""Slack on top of twice an interval before a periodic pass counts as late (a busy or restarted server)."""

TITLE = "Periodic chain verification and signed anchors run"


def check_background(db: Session, settings: Settings, now: datetime) -> Check:
    """``c.periodic``: the last periodic verify passed and is recent; an anchor was signed recently."""
    marker = db.get(SystemState, VERIFY_MARKER)
    verified_at = marker.at if marker is not None else None
    data = marker.data if marker is not None and isinstance(marker.data, dict) else {}
    if marker is not None and (data.get("ok") is False or data.get("status") in ("fail", "failed")):
        return Check(
            "c.periodic", TITLE, "fail",
            "the last periodic verification of the audit chain found a fault",
            "run sealroom audit verify to locate it, and treat it as a security incident",
        )  # fmt: skip
    anchored_at = db.scalar(select(AuditAnchor.signed_at).order_by(AuditAnchor.signed_at.desc()).limit(1))
    problems = []
    verify_every = timedelta(minutes=settings.audit.verify_interval_minutes)
    anchor_every = timedelta(minutes=settings.audit.anchor.interval_minutes)
    if verified_at is None:
        problems.append("no periodic chain verification is on record yet")
    elif now - verified_at > 2 * verify_every + GRACE:
        problems.append(f"the last periodic chain verification was at {verified_at.isoformat()} (late)")
    if anchored_at is None:
        problems.append("no signed anchor of the chain head exists yet")
    elif now - anchored_at > 2 * anchor_every + GRACE:
        problems.append(f"the last signed anchor is from {anchored_at.isoformat()} (late)")
    if problems:
        return Check(
            "c.periodic", TITLE, "warn", "; ".join(problems),
            "keep sealroom serve running (it verifies every audit.verify_interval_minutes and signs an "
            "anchor every audit.anchor.interval_minutes); sealroom audit anchor signs one now",
        )  # fmt: skip
    return passed(
        "c.periodic", TITLE,
        f"chain verified periodically (last {verified_at.isoformat() if verified_at else '-'}), "
        f"head anchored (last {anchored_at.isoformat() if anchored_at else '-'})",
    )  # fmt: skip
