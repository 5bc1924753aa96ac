"""Item (d), session clearing and retention meet policy: verified, not just configured.

Session clearing is proven by the self-test (``selftest``). Retention is proven by the audit log: each
real (not dry) retention pass leaves a ``retention.run`` record, so the newest one says whether the pass
runs on schedule. A workspace holding no images yet has nothing to retain, so a pass that never ran is
not a fault there; once images are held it is.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sealroom.config import Settings
from sealroom.db.models import AuditEvent, Image
from sealroom.readiness.report import Check, Status, passed

MAX_IDLE_MINUTES: Final = 30
MAX_ABSOLUTE_MINUTES: Final = 12 * 60
GRACE: Final = timedelta(minutes=5)
RECENT_RUNS: Final = 50
"""How many of the newest ``retention.run`` records to look through for one that was not a dry run."""


def check_session_limits(settings: Settings) -> Check:
    """``d.sessions``: idle and absolute limits short enough that abandoned sessions are cleared soon."""
    title = "Session limits clear abandoned sessions"
    idle = settings.session.idle_timeout_minutes
    absolute = settings.session.absolute_timeout_minutes
    if idle > MAX_IDLE_MINUTES or absolute > MAX_ABSOLUTE_MINUTES:
        return Check(
            "d.sessions", title, "warn",
            f"sessions end after {idle} idle minutes and {absolute} minutes in all; material opened in an "
            "abandoned session stays in memory that long",
            f"set [session] idle_timeout_minutes <= {MAX_IDLE_MINUTES} and absolute_timeout_minutes <= "
            f"{MAX_ABSOLUTE_MINUTES}",
        )  # fmt: skip
    return passed("d.sessions", title, f"sessions end after {idle} idle minutes, {absolute} minutes in all")


def check_retention_policy(settings: Settings) -> Check:
    """``d.retention_policy``: every data set says when its images are crypto-shredded."""
    title = "Every data set has a retention period"
    unset = sorted(name for name, dataset in settings.datasets.items() if dataset.retention_days is None)
    if unset:
        return Check(
            "d.retention_policy", title, "warn",
            f"images of {len(unset)} data sets are kept until deleted by hand: {', '.join(unset)}",
            "set retention_days under " + ", ".join(f"[datasets.{name}]" for name in unset),
        )  # fmt: skip
    return passed("d.retention_policy", title, f"all {len(settings.datasets)} data sets set retention_days")


def check_retention_schedule(db: Session, settings: Settings, now: datetime) -> Check:
    """``d.retention_schedule``: the newest real retention pass is within twice its interval."""
    title = "Retention runs on schedule"
    interval = settings.retention.interval_minutes
    images = db.scalar(select(func.count()).select_from(Image)) or 0
    last = _last_real_run(db)
    remedy = (
        f"keep sealroom serve running (it runs the pass every retention.interval_minutes = {interval}), "
        "or schedule sealroom retention run; run it once now"
    )
    if last is None:
        if images == 0:
            return passed(
                "d.retention_schedule", title,
                f"no images are held yet; the pass runs every {interval} minutes under sealroom serve",
            )  # fmt: skip
        return Check("d.retention_schedule", title, "fail",
                     f"{images} images are held and the retention pass has never run", remedy)  # fmt: skip
    ran_at, outcome = last
    if now - ran_at > 2 * timedelta(minutes=interval) + GRACE:
        status: Status = "fail" if images else "warn"
        return Check(
            "d.retention_schedule", title, status,
            f"the last retention pass was at {ran_at.isoformat()}, more than twice its {interval}-minute "
            "interval ago",
            remedy,
        )  # fmt: skip
    if outcome != "success":
        return Check(
            "d.retention_schedule", title, "warn",
            f"the last retention pass ({ran_at.isoformat()}) could not delete every due image",
            "sealroom retention run --dry-run lists what is due; the audit log's retention.delete records "
            "show which failed",
        )  # fmt: skip
    return passed("d.retention_schedule", title, f"the last retention pass ran at {ran_at.isoformat()}")


def _last_real_run(db: Session) -> tuple[datetime, str] | None:
    rows = db.execute(
        select(AuditEvent.ts, AuditEvent.outcome, AuditEvent.details)
        .where(AuditEvent.action == "retention.run")
        .order_by(AuditEvent.seq.desc())
        .limit(RECENT_RUNS)
    ).all()
    for ts, outcome, details in rows:
        if not (isinstance(details, dict) and details.get("dry_run")):
            return ts, outcome
    return None
