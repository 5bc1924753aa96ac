"""Audit search filters typed as text, read the same way by the CLI, the API and the web page.

* A time is an ISO date or date and time, UTC when it carries no offset. A date alone as ``until``
  includes that whole day (the search runs up to the start of the next day); as ``since`` it starts at
  midnight. ``AuditQuery.until`` itself stays exclusive.
* An action is matched exactly (``image.open``), or is a family when it ends with ``*`` or ``.``
  (``access.*``, ``access.``, ``access.break_glass*``): then it is an ``action_prefix``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sealroom.errors import InputError

DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_time(text: str | None, name: str, *, until: bool = False) -> datetime | None:
    """The aware time of ``text`` (``None`` when empty); with ``until``, a date alone means the start
    of the next day, so the day itself is included.

    Raises ``InputError`` naming the filter (never echoing the value) when it is not a date or time.
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"'{name}' is not a date or date and time (e.g. 2026-03-02 or 2026-03-02T09:00)"
        ) from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if until and DATE_ONLY.fullmatch(text):
        try:
            when += timedelta(days=1)  # a date as "until" includes that whole day
        except OverflowError:
            raise InputError(f"'{name}' is past the last date that can be searched") from None
    return when


def action_filter(text: str | None) -> tuple[str | None, str | None]:
    """``(exact, prefix)`` of an action filter: a family (``access.*``, ``access.``) is a prefix
    (``access.``); anything else is an exact action; ``(None, None)`` when empty."""
    text = (text or "").strip()
    if not text:
        return None, None
    if text.endswith(("*", ".")):
        return None, text.rstrip("*")
    return text, None
