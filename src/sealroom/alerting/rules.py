"""The rules that read the audit log: bulk access, off-hours access, repeated denials, break-glass.

Each rule looks at a batch of new records (``seq`` order) and returns ``Firing`` values; nothing here
writes. A windowed rule also reads the same user's earlier records inside the window (before the
batch), so a burst split across two passes is still one burst.

* **image access** is a successful ``image.open``, ``analysis.run``, ``result.deliver`` or
  ``delivery.export`` naming an image;
* **bulk_access**: more than ``threshold`` *distinct* images accessed by one user within
  ``window_minutes`` (quiet for one window per user);
* **off_hours**: image access outside ``start``-``end`` on ``days`` in ``timezone`` (quiet for
  ``OFF_HOURS_QUIET`` per user);
* **repeated_denials**: more than ``threshold`` ``deny`` outcomes of one actor within the window (not
  ``access.unmask``: a result delivered masked refused nothing);
* **break_glass**: the alert went out at the moment of use (``policy/breakglass.py``, alert id = the
  break-glass id); the rule only records ``alert.raise`` for it (``sent_by: at_use``) and sends nothing.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealroom.alerting.raising import Firing
from sealroom.config import AlertRuleSettings, ThresholdRule, WorkingHoursRule
from sealroom.db.models import AuditEvent

ACCESS_ACTIONS: Final = ("image.open", "analysis.run", "result.deliver", "delivery.export")
OFF_HOURS_QUIET: Final = timedelta(hours=1)
UNMASK_ACTION: Final = "access.unmask"
BREAK_GLASS_ACTION: Final = "access.break_glass"


@dataclass(frozen=True)
class Row:
    """The fields of an audit record the rules look at."""

    seq: int
    ts: datetime
    action: str
    outcome: str
    actor: str
    image_id: str | None
    break_glass_id: str | None = None


def is_access(row: Row) -> bool:
    """Whether ``row`` is a successful access to an image."""
    return row.action in ACCESS_ACTIONS and row.outcome == "success" and row.image_id is not None


def is_denial(row: Row) -> bool:
    """Whether ``row`` refused something the user asked for (a masked view refuses nothing)."""
    return row.outcome == "deny" and row.action != UNMASK_ACTION


def evaluate(db: Session, rules: AlertRuleSettings, batch: Sequence[Row]) -> list[Firing]:
    """Every firing the enabled rules find in ``batch`` (records after the cursor, in ``seq`` order)."""
    if not batch:
        return []
    firings: list[Firing] = []
    if rules.bulk_access.enabled:
        firings += _bulk_access(db, rules.bulk_access, batch)
    if rules.off_hours.enabled:
        firings += _off_hours(rules.off_hours, batch)
    if rules.repeated_denials.enabled:
        firings += _repeated_denials(db, rules.repeated_denials, batch)
    if rules.break_glass.enabled:
        firings += _break_glass(batch)
    return sorted(firings, key=lambda f: f.at)


def _history(db: Session, batch: Sequence[Row], window: timedelta, *, access: bool) -> list[Row]:
    """Records of the batch's actors in the window before the batch and in it, in ``seq`` order."""
    actors = sorted({row.actor for row in batch if (is_access(row) if access else is_denial(row))})
    if not actors:
        return []
    e = AuditEvent
    conditions = [
        e.actor.in_(actors),
        e.ts > min(row.ts for row in batch) - window,
        e.seq <= batch[-1].seq,
    ]
    if access:
        conditions += [e.action.in_(ACCESS_ACTIONS), e.outcome == "success", e.image_id.is_not(None)]
    else:
        conditions += [e.outcome == "deny", e.action != UNMASK_ACTION]
    stmt = select(e.seq, e.ts, e.action, e.outcome, e.actor, e.image_id).where(*conditions).order_by(e.seq)
    return [Row(*row) for row in db.execute(stmt)]


def _sliding(
    history: Iterable[Row], first_new_seq: int, window: timedelta, *, distinct: bool
) -> Iterable[tuple[Row, int]]:
    """For each new row, what its actor did in the window ending at it: the number of distinct
    images (``distinct``) or of records."""
    held_by: dict[str, deque[Row]] = {}
    images_by: dict[str, Counter[str]] = {}
    for row in history:
        held = held_by.setdefault(row.actor, deque())
        images = images_by.setdefault(row.actor, Counter())
        held.append(row)
        images[row.image_id or ""] += 1
        while held[0].ts <= row.ts - window:
            old = held.popleft()
            images[old.image_id or ""] -= 1
            if not images[old.image_id or ""]:
                del images[old.image_id or ""]
        if row.seq >= first_new_seq:
            yield row, len(images) if distinct else len(held)


def _bulk_access(db: Session, rule: ThresholdRule, batch: Sequence[Row]) -> list[Firing]:
    return _over_threshold(
        db, rule, batch, name="bulk_access", access=True, counted="distinct_images",
        what=f"Bulk access: more than {rule.threshold} distinct images",
    )  # fmt: skip


def _repeated_denials(db: Session, rule: ThresholdRule, batch: Sequence[Row]) -> list[Firing]:
    return _over_threshold(
        db, rule, batch, name="repeated_denials", access=False, counted="denials",
        what=f"Repeated denials: more than {rule.threshold} refused requests",
    )  # fmt: skip


def _over_threshold(
    db: Session,
    rule: ThresholdRule,
    batch: Sequence[Row],
    *,
    name: str,
    access: bool,
    counted: str,
    what: str,
) -> list[Firing]:
    """A firing for each new row at which its actor's count in the window (distinct images for
    access, records for denials) passes the rule's threshold."""
    window = timedelta(minutes=rule.window_minutes)
    history = _history(db, batch, window, access=access)
    return [
        Firing(
            rule=name,
            subject=row.actor,
            at=row.ts,
            quiet_until=row.ts + window,
            severity="warning",
            summary=f"{what} within {rule.window_minutes} minutes by one user",
            fields={
                "user": row.actor,
                counted: count,
                "threshold": rule.threshold,
                "window_minutes": rule.window_minutes,
                "at": row.ts.isoformat(),
            },
        )
        for row, count in _sliding(history, batch[0].seq, window, distinct=access)
        if count > rule.threshold
    ]


def outside_working_hours(rule: WorkingHoursRule, moment: datetime) -> bool:
    """Whether ``moment`` falls outside the rule's working hours (in its time zone)."""
    local = moment.astimezone(ZoneInfo(rule.timezone))
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
    clock = local.strftime("%H:%M")
    return day not in rule.days or not rule.start <= clock < rule.end


def _off_hours(rule: WorkingHoursRule, batch: Sequence[Row]) -> list[Firing]:
    firings = []
    for row in batch:
        if not is_access(row) or not outside_working_hours(rule, row.ts):
            continue
        local = row.ts.astimezone(ZoneInfo(rule.timezone))
        firings.append(
            Firing(
                rule="off_hours",
                subject=row.actor,
                at=row.ts,
                quiet_until=row.ts + OFF_HOURS_QUIET,
                severity="warning",
                summary="Image access outside working hours",
                fields={
                    "user": row.actor,
                    "local_time": local.strftime("%a %H:%M"),
                    "timezone": rule.timezone,
                    "working_hours": f"{rule.start}-{rule.end}",
                    "at": row.ts.isoformat(),
                },
            )
        )
    return firings


def _break_glass(batch: Sequence[Row]) -> list[Firing]:
    return [
        Firing(
            rule="break_glass",
            subject=row.break_glass_id or "",
            at=row.ts,
            quiet_until=row.ts + timedelta(days=1),
            severity="alert",
            summary="Break-glass emergency access (alerted at the moment of use)",
            fields={"user": row.actor, "break_glass_id": row.break_glass_id, "at": row.ts.isoformat()},
            send=False,
            alert_id=row.break_glass_id or "",
        )
        for row in batch
        if row.action == BREAK_GLASS_ACTION and row.outcome == "allow" and row.break_glass_id
    ]
