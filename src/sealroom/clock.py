"""An injectable clock, so tests can move time to expire sessions, grants and lockouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the current time as an aware UTC datetime."""

    def now(self) -> datetime:
        """The current time."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (for tests and the demo's timeout scene)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        """The clock's current time."""
        return self._now

    def advance(self, **delta: float) -> None:
        """Move time forward, e.g. ``advance(minutes=16)``."""
        self._now += timedelta(**delta)

    def set(self, when: datetime) -> None:
        """Put the clock at ``when`` (tests that meet real tokens start each case at the real time)."""
        self._now = when
