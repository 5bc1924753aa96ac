"""Item (c), audit complete: the chain verifies now, periodic checks run, the log leaves the host
(SIEM forwarding) and alerts can go out, and how long records are kept is stated.

The audit log itself cannot be switched off (an action whose record cannot be written is refused), so
"enabled" is shown by the live verification of the whole chain and by the records this evaluation writes.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from sealroom.audit.verify import verify_chain
from sealroom.config import Settings
from sealroom.forwarding.status import forwarding_status
from sealroom.readiness.background import check_background
from sealroom.readiness.report import Check, Item, passed

TITLE = "Audit complete"


def check_audit(
    db: Session,
    settings: Settings,
    *,
    audit_key: bytes,
    root: Path,
    now: datetime,
    alert_problems: list[str],
) -> Item:
    """Item ``c``: chain, periodic checks, forwarding, alerts, audit retention."""
    return Item(
        "c",
        TITLE,
        (
            _chain(db, audit_key),
            check_background(db, settings, now),
            _forwarding(db, settings, root, now),
            _alerts(settings, alert_problems),
            _retention(settings),
        ),
    )


def _chain(db: Session, audit_key: bytes) -> Check:
    title = "Audit log on and its chain verifies"
    report = verify_chain(db, audit_key)
    if not report.ok:
        return Check(
            "c.chain", title, "fail",
            f"the audit chain does not verify: {report.problem}",
            "run sealroom audit verify for the location; restore the log from a verified backup or "
            "forwarded copy and investigate (a changed, deleted or inserted record)",
        )  # fmt: skip
    return passed(
        "c.chain", title,
        f"all {report.checked} records verify, up to the head; an action that cannot be recorded is refused",
    )  # fmt: skip


def _forwarding(db: Session, settings: Settings, root: Path, now: datetime) -> Check:
    title = "Audit records forwarded to a SIEM"
    sinks = forwarding_status(db, settings, root=root, now=now)
    if not sinks:
        return Check(
            "c.forwarding", title, "warn",
            "no SIEM sink is configured: the audit trail exists only in this workspace's database",
            "add [forwarding.sinks.NAME] (kind syslog over tls://, or webhook over https; see "
            "docs/compliance.md)",
        )  # fmt: skip
    failing = [sink.name for sink in sinks if sink.state == "failing" or sink.problems]
    if failing:
        return Check(
            "c.forwarding", title, "fail",
            f"{len(failing)} of {len(sinks)} sinks are failing or misconfigured: {', '.join(failing)}",
            "sealroom audit forward --status shows the error of each; fix the receiver, certificate or "
            "signing-key variable",
        )  # fmt: skip
    records_limit = settings.forwarding.backlog_alert_records
    age_limit = timedelta(minutes=settings.forwarding.backlog_alert_minutes)
    behind = [
        sink.name
        for sink in sinks
        if sink.state == "never"
        or sink.backlog > records_limit
        or (sink.oldest_undelivered_at is not None and now - sink.oldest_undelivered_at > age_limit)
    ]
    if behind:
        return Check(
            "c.forwarding", title, "warn",
            f"{len(behind)} of {len(sinks)} sinks have records waiting beyond the backlog limits or never "
            f"acknowledged any: {', '.join(behind)}",
            "keep sealroom serve (or sealroom audit forward --follow) running; sealroom audit forward "
            "--status shows the backlog",
        )  # fmt: skip
    return passed("c.forwarding", title, f"{len(sinks)} sinks, each delivering and within its backlog limits")


def _alerts(settings: Settings, problems: list[str]) -> Check:
    title = "Security alerts can go out"
    rules = settings.alerts.rules
    switches = {
        "break_glass": rules.break_glass.enabled,
        "audit_verify_failure": rules.audit_verify_failure.enabled,
    }
    off = [name for name, on in switches.items() if not on]
    if off:
        return Check(
            "c.alerts", title, "fail",
            f"alert rules switched off: {', '.join(off)}",
            "set enabled = true under " + ", ".join(f"[alerts.rules.{name}]" for name in off),
        )  # fmt: skip
    if problems:
        env = settings.alerts.webhook_secret_env
        secret = (
            f"; export {env} in the environment of sealroom serve and sealroom alerts run (this check "
            "sees only the environment of the process that runs it)"
            if settings.alerts.webhook_url and env and not os.environ.get(env)
            else ""
        )
        return Check(
            "c.alerts", title, "warn", "; ".join(problems),
            f"set [alerts] webhook_url (https) and/or syslog{secret}",
        )  # fmt: skip
    return passed("c.alerts", title, "alert sinks configured; break-glass and chain-fault alerts are on")


def _retention(settings: Settings) -> Check:
    title = "Retention of audit records stated"
    days = settings.audit.retention_days
    if days is None:
        return Check(
            "c.retention", title, "fail", "audit.retention_days is not set",
            "set [audit] retention_days to the period your regulation requires (e.g. 2190 for six years)",
        )  # fmt: skip
    longest = max((d.retention_days for d in settings.datasets.values() if d.retention_days), default=None)
    if longest is not None and days < longest:
        return Check(
            "c.retention", title, "warn",
            f"audit records are kept {days} days, less than the longest image retention ({longest} days): "
            "access to images still held would no longer be on record",
            f"raise [audit] retention_days to at least {longest}",
        )  # fmt: skip
    return passed("c.retention", title, f"audit records are kept {days} days (Sealroom never deletes them)")
