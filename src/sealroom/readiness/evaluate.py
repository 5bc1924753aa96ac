"""``evaluate(workspace)``: run every readiness check against the live configuration and state.

Evaluating writes to the audit log: the self-test's session records and one ``readiness.evaluate``
record with the overall status and the counts (never a detail), so each run is on record with who ran it.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Final

from sealroom.readiness.access_checks import check_access
from sealroom.readiness.audit_checks import check_audit
from sealroom.readiness.clearing import check_retention_policy, check_retention_schedule, check_session_limits
from sealroom.readiness.compliance import check_signoff
from sealroom.readiness.confighash import config_sha256
from sealroom.readiness.report import Item, ReadinessReport
from sealroom.readiness.selftest import SELFTEST_ACTOR, purge_self_test
from sealroom.readiness.sso_checks import check_sso
from sealroom.readiness.usecases import check_use_cases

if TYPE_CHECKING:
    from sealroom.workspace import Workspace

EVALUATE_ACTION: Final = "readiness.evaluate"
CLEARING_TITLE = "Session clearing and retention meet policy"


def evaluate(
    workspace: Workspace, *, actor: str = SELFTEST_ACTOR, session_id: str | None = None
) -> ReadinessReport:
    """Evaluate items ``a`` to ``e``; returns the report (``exit_code``: 0 pass, 1 warn, 2 fail).

    ``actor`` (and ``session_id``) name who asked, for the ``readiness.evaluate`` audit record; the
    caller has already checked that they may. Raises ``AuditUnavailableError`` when that record cannot
    be written.
    """
    settings = workspace.settings
    now = workspace.clock.now()
    digest = config_sha256(settings)
    # The self-test first: its records are then part of the chain the audit item verifies.
    selftest = purge_self_test(
        workspace.db,
        workspace.sessions,
        workspace.audit,
        workspace.clock,
        password_hash=workspace.identity.passwords.hash(secrets.token_urlsafe(32)),
    )
    with workspace.db() as db:
        items = (
            check_use_cases(db, settings),
            check_access(db, settings, now, check_sso(workspace.sso.providers)),
            check_audit(
                db,
                settings,
                audit_key=workspace.keys.audit_key,
                root=workspace.root,
                now=now,
                alert_problems=workspace.alerts.configuration_problems(),
            ),
            Item(
                "d",
                CLEARING_TITLE,
                (
                    selftest,
                    check_session_limits(settings),
                    check_retention_policy(settings),
                    check_retention_schedule(db, settings, now),
                ),
            ),
            check_signoff(db, digest, now),
        )
    report = ReadinessReport(items=items, config_sha256=digest, evaluated_at=now, profile=settings.profile)
    with workspace.db.begin() as db:
        workspace.audit.record(
            db,
            category="admin",
            action=EVALUATE_ACTION,
            outcome="success",
            actor=actor,
            session_id=session_id,
            details={
                "status": report.status,
                "config_sha256": digest,
                **report.counts(),
                "not_passed": [check.id for check in report.checks if check.status != "pass"],
            },
        )
    return report
