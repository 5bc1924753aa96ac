"""Working hours and the sliding windows of the alert rules (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sealroom.alerting.rules import Row, _sliding, outside_working_hours
from sealroom.config import WorkingHoursRule

RULE = WorkingHoursRule(enabled=True, timezone="Europe/London", start="07:00", end="19:00")


def test_working_hours_bounds_and_summer_time() -> None:
    # Monday 2 March 2026: London is on UTC.
    assert outside_working_hours(RULE, datetime(2026, 3, 2, 6, 59, tzinfo=UTC))
    assert not outside_working_hours(RULE, datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    assert not outside_working_hours(RULE, datetime(2026, 3, 2, 18, 59, tzinfo=UTC))
    assert outside_working_hours(RULE, datetime(2026, 3, 2, 19, 0, tzinfo=UTC))
    # Monday 6 July 2026: British Summer Time, 06:30 UTC is 07:30 local.
    assert not outside_working_hours(RULE, datetime(2026, 7, 6, 6, 30, tzinfo=UTC))
    # Sunday.
    assert outside_working_hours(RULE, datetime(2026, 3, 8, 12, 0, tzinfo=UTC))


def _row(seq: int, minute: int, actor: str, image: str) -> Row:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    return Row(seq, start + timedelta(minutes=minute), "image.open", "success", actor, image)


def test_sliding_window_counts_distinct_images_per_actor() -> None:
    history = [
        _row(1, 0, "sam", "a"),
        _row(2, 1, "pat", "a"),
        _row(3, 2, "sam", "a"),
        _row(4, 3, "sam", "b"),
        _row(5, 12, "sam", "c"),  # minute 0 and 2 have left the ten-minute window
    ]
    window = timedelta(minutes=10)
    distinct = [(row.seq, n) for row, n in _sliding(history, 3, window, distinct=True)]
    assert distinct == [(3, 1), (4, 2), (5, 2)]
    records = [(row.seq, n) for row, n in _sliding(history, 1, window, distinct=False)]
    assert records == [(1, 1), (2, 1), (3, 2), (4, 3), (5, 2)]
