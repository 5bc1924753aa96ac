"""The audit page's filters: read from a query string or a form, checked, turned into an ``AuditQuery``
and back into a shareable URL; and keyset paging (``after``/``before`` a ``seq``, never an offset).

Filters are checked here so that a malformed one is shown next to the form instead of reaching SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from sealroom.audit.events import Outcome
from sealroom.audit.filters_text import action_filter, parse_time
from sealroom.audit.query import KINDS, AuditQuery
from sealroom.errors import InputError

PAGE_SIZE = 50
TEXT_FIELDS = ("kind", "actor", "image_id", "case_id", "action", "outcome", "since", "until")
_LIMITS = {
    "kind": 16,
    "actor": 128,
    "image_id": 32,
    "case_id": 128,
    "action": 64,
    "outcome": 16,
    "since": 40,
    "until": 40,
}
# An action (``image.open``) or a family: a trailing dot or ``*`` (``access.*``, ``access.break_glass*``).
_ACTION = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*(?:\.?\*|\.)?")
OUTCOMES = tuple(outcome.value for outcome in Outcome)

# The named searches of ``AuditQuery.kind`` as the page names them (each link is a shareable address).
KIND_LABELS = {
    "access": "Who accessed (with an image or case)",
    "denials": "Denials",
    "break-glass": "Break-glass use",
    "exports": "Exports",
}
KIND_CHOICES = {kind: KIND_LABELS.get(kind, kind) for kind in KINDS}
QUICK_SEARCHES = tuple((label, {"kind": kind}) for kind, label in KIND_CHOICES.items() if kind != "access")


@dataclass(frozen=True)
class AuditFilters:
    """What the auditor typed (kept as text, to fill the form again) and the cursor of the page."""

    text: Mapping[str, str] = field(default_factory=dict)
    after: int | None = None
    before: int | None = None

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return any(self.text.values())

    def query(self, *, limit: int | None = PAGE_SIZE) -> AuditQuery:
        """The ``AuditQuery`` of these filters (no cursor); ``InputError`` names a malformed one."""
        exact, prefix = action_filter(self.text.get("action"))
        outcome = self.text.get("outcome") or None
        if outcome is not None and outcome not in OUTCOMES:
            raise InputError(f"the outcome must be one of {', '.join(OUTCOMES)}")
        since = parse_time(self.text.get("since"), "since")
        until = parse_time(self.text.get("until"), "until", until=True)  # a date: that whole day
        if since is not None and until is not None and since >= until:
            raise InputError("'since' must be before 'until'")
        kind = self.text.get("kind") or None
        if kind is not None and kind not in KINDS:
            raise InputError(f"the named search must be one of {', '.join(KINDS)}")
        try:
            return AuditQuery(
                kind=kind,
                actor=self.text.get("actor") or None,
                image_id=self.text.get("image_id") or None,
                case_id=self.text.get("case_id") or None,
                action=exact,
                action_prefix=prefix,
                outcome=outcome,
                since=since,
                until=until,
                limit=limit,
            )
        except ValueError as exc:  # a named search combined with a filter it sets itself
            raise InputError(str(exc)) from None

    def url(self, **cursor: int) -> str:
        """The shareable address of these filters (and a cursor: ``after=`` or ``before=``)."""
        params: dict[str, Any] = {name: value for name, value in self.text.items() if value}
        params.update(cursor)
        return "/audit" + (f"?{urlencode(params)}" if params else "")


def _cursor(value: str | None, name: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise InputError(f"the page cursor '{name}' is not a record number")
    return int(value)


def read_filters(get: Callable[[str], str | None]) -> AuditFilters:
    """Filters from a query string or form (``get(name)`` gives a field's text or None).

    Raises ``InputError`` when a value is too long or malformed; no value is echoed in the message.
    """
    text: dict[str, str] = {}
    for name in TEXT_FIELDS:
        value = (get(name) or "").strip()
        if len(value) > _LIMITS[name]:
            raise InputError(f"the '{name.replace('_', ' ')}' filter is too long")
        text[name] = value
    if text["action"] and not _ACTION.fullmatch(text["action"]):
        raise InputError("an action looks like image.open; end it with * for a family, e.g. access.*")
    return AuditFilters(
        text=text, after=_cursor(get("after"), "after"), before=_cursor(get("before"), "before")
    )


def empty_filters(get: Callable[[str], str | None]) -> AuditFilters:
    """The filters' text kept as typed (cut to length) when they could not be read, to refill the form."""
    text = {name: (get(name) or "")[: _LIMITS[name]] for name in TEXT_FIELDS}
    return AuditFilters(text=text)


@dataclass(frozen=True)
class ResultPage:
    """One page of records, newest first, with the addresses of the neighbouring pages (or None)."""

    records: list[dict[str, Any]]
    newer: str | None
    older: str | None


def fetch_page(
    filters: AuditFilters, run: Callable[[AuditQuery], list[dict[str, Any]]], size: int = PAGE_SIZE
) -> ResultPage:
    """A page of records matching ``filters`` by keyset: after ``filters.after`` (going to newer
    records) or before ``filters.before`` (going to older ones; the newest page when neither)."""
    base = filters.query(limit=size + 1)
    if filters.after is not None:
        rows = run(replace(base, after_seq=filters.after, before_seq=filters.before))
        more_newer = len(rows) > size
        records = list(reversed(rows[:size]))
        if not records:
            return ResultPage([], None, filters.url(before=filters.after + 1))
        more_older = bool(run(replace(base, before_seq=records[-1]["seq"], limit=1, newest_first=True)))
    else:
        rows = run(replace(base, before_seq=filters.before, newest_first=True))
        more_older = len(rows) > size
        records = rows[:size]
        if not records:
            return ResultPage([], filters.url(after=filters.before - 1) if filters.before else None, None)
        more_newer = filters.before is not None and bool(
            run(replace(base, after_seq=records[0]["seq"], limit=1))
        )
    return ResultPage(
        records,
        filters.url(after=records[0]["seq"]) if more_newer else None,
        filters.url(before=records[-1]["seq"]) if more_older else None,
    )
