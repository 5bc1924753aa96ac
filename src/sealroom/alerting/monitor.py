"""The periodic watch over the audit log, run by ``Workspace.maintain`` (``serve``) or from cron.

* ``anchor_if_due``: sign the chain head every ``audit.anchor.interval_minutes``, only when the head
  moved past the previous anchor's own record (marker ``audit.anchor``);
* ``verify_if_due``: verify the chain and hold it against the anchors every
  ``audit.verify_interval_minutes`` (marker ``audit.verify``, whose ``data`` keeps the result for the
  readiness check: see ``status.last_verify``); a failure raises ``audit_verify_failure``;
* ``run_rules``: read the records after the rules' cursor (marker ``alerts.rules``) in bounded batches
  and raise what the rules find, then the forwarding backlog rule.

Every step is safe with several processes: periodic work is claimed with a conditional update of its
marker, the cursor moves with a conditional update in the transaction that records the alerts, and
quiet periods (``alert_firings``) keep a burst to one alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from sealroom.alerting import markers
from sealroom.alerting.backlog import check_backlog
from sealroom.alerting.raising import Firing, dispatch, prepare
from sealroom.alerting.rules import Row, evaluate
from sealroom.alerts import AlertDispatcher
from sealroom.audit.anchor_check import ChainCheckReport, check_chain
from sealroom.audit.anchor_key import AnchorKey
from sealroom.audit.anchors import AnchorResult, anchor_file_path, anchor_key_path, sign_head
from sealroom.audit.log import AuditLog, chain_head
from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.db.models import AuditEvent

if TYPE_CHECKING:
    from sealroom.workspace import Workspace

ANCHOR_MARKER: Final = "audit.anchor"
VERIFY_MARKER: Final = "audit.verify"
RULES_MARKER: Final = "alerts.rules"
BATCH_SIZE: Final = 500
MAX_BATCHES: Final = 20
"""At most this many batches per pass; the rest waits for the next pass."""
VERIFY_QUIET: Final = timedelta(hours=24)
VERIFY_ACTOR: Final = "system:verify"


@dataclass
class Monitor:
    """The watch steps over one workspace's services (no state of its own: markers are in the DB)."""

    root: Path
    settings: Settings
    db: sessionmaker[Session]
    audit: AuditLog
    clock: Clock
    alerts: AlertDispatcher
    audit_key: bytes

    @classmethod
    def of(cls, workspace: Workspace) -> Monitor:
        """The monitor of an opened workspace."""
        return cls(
            workspace.root, workspace.settings, workspace.db, workspace.audit, workspace.clock,
            workspace.alerts, workspace.keys.audit_key,
        )  # fmt: skip

    # Anchors.

    def anchor_if_due(self) -> AnchorResult | None:
        """Sign the head when the interval passed and the head moved; ``None`` when nothing was due."""
        with self.db() as db:
            head = chain_head(db)
            marker = markers.get(db, ANCHOR_MARKER)
        last = (marker.data or {}).get("record_seq") if marker is not None else None
        if head is None or head.seq == 0 or head.seq == last:
            return None
        interval = timedelta(minutes=self.settings.audit.anchor.interval_minutes)
        if not markers.claim_due(self.db, ANCHOR_MARKER, self.clock.now(), interval):
            return None
        result = self.sign_now()
        if result.anchor is not None:
            markers.write(
                self.db,
                ANCHOR_MARKER,
                {
                    "record_seq": result.record_seq,
                    "anchor_id": result.anchor.id,
                    "anchor_seq": result.anchor.seq,
                    "signed_at": result.anchor.signed_at,
                    "file_written": result.file_written,
                },
                seq=result.anchor.seq,
            )
        return result

    def sign_now(self, *, actor: str = "system:anchor") -> AnchorResult:
        """Sign the head at once (``sealroom audit anchor``); see ``anchors.sign_head``."""
        return sign_head(
            self.db, self.audit, self.clock, anchor_key_path(self.root, self.settings),
            anchor_file=anchor_file_path(self.root, self.settings), actor=actor,
        )  # fmt: skip

    # Verification.

    def check(self, extra_files: tuple[Path, ...] = ()) -> tuple[ChainCheckReport, str]:
        """Verify the chain against the table's anchors, the configured anchor file and ``extra_files``.

        Returns the report and the state of the configured file: ``checked``, ``missing`` or
        ``not_configured``. Read-only.
        """
        public_key = AnchorKey.load(anchor_key_path(self.root, self.settings)).public_key_hex
        configured = anchor_file_path(self.root, self.settings)
        files = list(extra_files)
        file_state = "not_configured"
        if configured is not None:
            file_state = "checked" if configured.exists() else "missing"
            if configured.exists() and configured not in files:
                files.append(configured)
        with self.db() as db:
            report = check_chain(db, self.audit_key, public_key, anchor_files=files)
        return report, file_state

    def verify_if_due(self) -> ChainCheckReport | None:
        """Verify when the interval passed (one process only); ``None`` when nothing was due."""
        interval = timedelta(minutes=self.settings.audit.verify_interval_minutes)
        if not markers.claim_due(self.db, VERIFY_MARKER, self.clock.now(), interval):
            return None
        return self.verify_now()

    def verify_now(self) -> ChainCheckReport:
        """Verify now, keep the result in marker ``audit.verify`` and raise the alert on a failure.

        Audit: ``audit.verify`` (actor ``system:verify``) when the result is a failure or differs from
        the previous one; ``alert.raise`` for ``audit_verify_failure``.
        """
        with self.db() as db:
            previous = markers.get(db, VERIFY_MARKER)
        was_ok = (previous.data or {}).get("ok") if previous is not None else None
        now = self.clock.now()
        report, file_state = self.check()
        data = verify_data(report, file_state, now)
        markers.write(self.db, VERIFY_MARKER, data, seq=report.chain.last_seq or 0)
        if report.ok and was_ok is True:
            return report
        with self.db() as db, db.begin():
            self.audit.record(
                db, category="audit", action="audit.verify", outcome="success" if report.ok else "failure",
                actor=VERIFY_ACTOR, reason=None if report.ok else "chain_fault",
                details={key: data[key] for key in ("ok", "checked", "first_bad_seq", "anchors_checked")},
            )  # fmt: skip
            alerts = [] if report.ok else prepare(db, self.audit, self._verify_firings(report, now))
        dispatch(self.alerts, alerts)
        return report

    def _verify_firings(self, report: ChainCheckReport, now: datetime) -> list[Firing]:
        if not self.settings.alerts.rules.audit_verify_failure.enabled:
            return []
        bad = report.first_bad_anchor
        where = report.chain.first_bad_seq if not report.chain.ok else (bad.seq if bad else None)
        return [
            Firing(
                rule="audit_verify_failure",
                subject=f"record:{where}",
                at=now,
                quiet_until=now + VERIFY_QUIET,
                severity="critical",
                summary="The audit chain failed verification: it may have been altered",
                fields={
                    "first_bad_seq": where,
                    "chain_ok": report.chain.ok,
                    "anchor_source": bad.source if bad else None,
                    "anchor_id": bad.anchor_id if bad else None,
                },
            )
        ]

    # Rules.

    def run_rules(self) -> int:
        """Evaluate the rules over new records (bounded) and the backlog rule; returns alerts raised."""
        with self.db() as db:
            head = chain_head(db)
            started = markers.get(db, RULES_MARKER) is not None
        if not started:  # a new deployment starts at the head: history is not alerted on
            markers.ensure(self.db, RULES_MARKER, seq=0 if head is None else head.seq)
        raised = 0
        for _ in range(MAX_BATCHES):
            done, count = self._rules_batch()
            raised += count
            if done:
                break
        backlog = check_backlog(self.db, self.audit, self.settings, self.root, self.clock.now())
        dispatch(self.alerts, backlog)
        return raised + len(backlog)

    def _rules_batch(self) -> tuple[bool, int]:
        with self.db() as db:
            marker = markers.get(db, RULES_MARKER)
            cursor = 0 if marker is None else int(marker.seq)
            batch = load_batch(db, cursor, BATCH_SIZE)
            if not batch:
                return True, 0
            firings = evaluate(db, self.settings.alerts.rules, batch)
            try:
                if not markers.move_cursor(db, RULES_MARKER, cursor, batch[-1].seq, self.clock.now()):
                    db.rollback()
                    return True, 0  # another process took this batch
            except OperationalError:  # SQLite: another writer got there first
                db.rollback()
                return True, 0
            alerts = prepare(db, self.audit, firings)
            db.commit()
        dispatch(self.alerts, alerts)
        return len(batch) < BATCH_SIZE, len(alerts)


def load_batch(db: Session, after_seq: int, limit: int) -> list[Row]:
    """The next ``limit`` records after ``after_seq``, as the rules see them."""
    e = AuditEvent
    stmt = (
        select(e.seq, e.ts, e.action, e.outcome, e.actor, e.image_id, e.details)
        .where(e.seq > after_seq)
        .order_by(e.seq)
        .limit(limit)
    )
    rows = []
    for seq, ts, action, outcome, actor, image_id, details in db.execute(stmt):
        bg = details.get("break_glass_id") if isinstance(details, dict) else None
        rows.append(Row(seq, ts, action, outcome, actor, image_id, bg if isinstance(bg, str) else None))
    return rows


def verify_data(report: ChainCheckReport, file_state: str, now: datetime) -> dict[str, Any]:
    """The JSON kept in marker ``audit.verify`` (see ``status.VerifyStatus``)."""
    bad = report.first_bad_anchor
    return {
        "ok": report.ok,
        "verified_at": now.isoformat(),
        "checked": report.chain.checked,
        "last_seq": report.chain.last_seq,
        "first_bad_seq": report.chain.first_bad_seq,
        "problem": report.chain.problem,
        "anchors_checked": report.anchors_checked,
        "newest_anchor_seq": report.newest_anchor_seq,
        "anchor_problem": None if bad is None else {
            "source": bad.source, "anchor_id": bad.anchor_id, "seq": bad.seq, "problem": bad.problem,
        },
        "anchor_file": file_state,
        "summary": report.summary(),
    }  # fmt: skip
