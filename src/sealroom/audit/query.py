"""Searching the audit log: who did what, to which image or case, when.

``search(db, AuditQuery(actor="sam", since=...))`` returns plain dicts, oldest first unless
``newest_first``; each dict holds every sealed field plus ``prev_mac`` and ``mac``, with ``ts`` as the
canonical text (``YYYY-MM-DD HH:MM:SS.ffffffZ``, UTC) and ``details`` as an object.

Page with ``page(db, query)``: it returns the records and the cursor of the next page (``after_seq``
oldest first, ``before_seq`` newest first). Cursors are keyset bounds on ``seq``, so a deep page costs
the same as the first one; ``offset`` is kept for old callers only and is never used for paging.

Named searches (``KINDS``) are filters an auditor asks for by name and combine with the others (AND):

* ``access`` — access decisions, opens, analyses, external calls and deliveries (with ``image_id``:
  who accessed that image);
* ``denials`` — every denied decision (outcome ``deny``);
* ``break-glass`` — every emergency access and its review;
* ``exports`` — every delivered image export and every evidence export of the log itself.
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection, Select
from sqlalchemy.orm import Session

from sealroom.audit import store
from sealroom.audit.events import ACTION_PATTERN, Outcome

ACCESS_ACTIONS: Final = (
    "access.decision",
    "access.unmask",
    "analysis.external_call",
    "analysis.run",
    "delivery.export",
    "egress.release",
    "image.open",
    "result.deliver",
)
BREAK_GLASS_ACTIONS: Final = ("access.break_glass", "access.break_glass.review")
EXPORT_ACTIONS: Final = ("audit.export", "delivery.export")

KINDS: Final[dict[str, dict[str, Any]]] = {
    "access": {"actions": ACCESS_ACTIONS},
    # A masked view (``access.unmask`` deny) refuses nothing the user asked for: not a denial.
    "denials": {"outcome": "deny", "exclude_actions": ("access.unmask",)},
    "break-glass": {"actions": BREAK_GLASS_ACTIONS},
    "exports": {"actions": EXPORT_ACTIONS},
}
"""Named searches: the ``AuditQuery`` fields each one sets."""

OUTCOMES: Final = tuple(outcome.value for outcome in Outcome)
_VALUE_FILTERS: Final = ("actor", "image_id", "case_id", "session_id")
"""Filters whose values name a person or subject: the audit record of a search names only the filter."""


@dataclass(frozen=True)
class AuditQuery:
    """Filters of an audit search; every given filter must match (AND).

    ``action`` matches exactly, ``actions`` any of a set, ``action_prefix`` a family (``"image."``).
    ``since`` is inclusive and ``until`` exclusive (aware datetimes). ``limit=None`` means no limit.
    """

    actor: str | None = None
    image_id: str | None = None
    case_id: str | None = None
    session_id: str | None = None
    category: str | None = None
    action: str | None = None
    actions: tuple[str, ...] | None = None
    exclude_actions: tuple[str, ...] | None = None
    action_prefix: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int | None = None
    before_seq: int | None = None
    limit: int | None = 100
    offset: int = 0
    newest_first: bool = False
    kind: str | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            bound = getattr(self, name)
            if bound is None:
                continue
            if bound.tzinfo is None:
                raise ValueError("audit search times must be timezone-aware")
            try:
                object.__setattr__(self, name, bound.astimezone(UTC))
            except OverflowError:
                raise ValueError(f"'{name}' is outside the dates that can be searched") from None
        # Action and outcome filters are written into the audit.search record as given: only names
        # that can be actions or outcomes are accepted, so a value typed into the wrong field is not.
        for action in (self.action, self.action_prefix, *(self.actions or ()), *(self.exclude_actions or ())):
            if action is not None and not ACTION_PATTERN.fullmatch(action.rstrip(".")):
                raise ValueError("an action filter looks like image.open (or image. for the family)")
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise ValueError(f"the outcome must be one of {', '.join(OUTCOMES)}")
        if self.kind is None:
            return
        if self.kind not in KINDS:
            raise ValueError(f"unknown search {self.kind!r}; use one of {', '.join(KINDS)}")
        for name, value in KINDS[self.kind].items():
            given = getattr(self, name)
            if given is not None and given != value:
                raise ValueError(f"the {self.kind} search cannot be combined with another {name} filter")
            object.__setattr__(self, name, value)

    def conditions(self) -> list[ColumnElement[bool]]:
        """The SQL conditions of the filters."""
        c = store.events.c
        conds: list[ColumnElement[bool]] = []
        for column, value in (
            (c.actor, self.actor),
            (c.image_id, self.image_id),
            (c.case_id, self.case_id),
            (c.session_id, self.session_id),
            (c.category, self.category),
            (c.action, self.action),
            (c.outcome, self.outcome),
        ):
            if value is not None:
                conds.append(column == value)
        if self.actions is not None:
            conds.append(c.action.in_(self.actions))
        if self.exclude_actions:
            conds.append(c.action.not_in(self.exclude_actions))
        if self.action_prefix:
            conds.append(c.action.startswith(self.action_prefix, autoescape=True))
        if self.since is not None:
            conds.append(c.ts >= self.since)
        if self.until is not None:
            conds.append(c.ts < self.until)
        if self.after_seq is not None:
            conds.append(c.seq > self.after_seq)
        if self.before_seq is not None:
            conds.append(c.seq < self.before_seq)
        return conds

    def summary(self) -> dict[str, Any]:
        """The filters used, for the audit record of a search or export: the named search, the time
        and sequence bounds, action and outcome filters, and only the *names* of filters whose values
        identify a person or subject (``actor``, ``image_id``, ``case_id``, ``session_id``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or f.name in ("limit", "offset", "newest_first"):
                continue
            if self.kind is not None and f.name in KINDS[self.kind]:
                continue
            if f.name in _VALUE_FILTERS:
                out.setdefault("by", []).append(f.name)
            elif isinstance(value, datetime):
                out[f.name] = value.isoformat()
            else:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class Page:
    """One page of a search and the cursor of the next (``None`` on the last page)."""

    records: list[dict[str, Any]]
    next_cursor: dict[str, int] | None


def row_to_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    """A sealed row (``store.SEALED_COLUMNS``) as a dict with canonical ``ts`` and parsed ``details``."""
    record = dict(zip(store.SEALED_COLUMNS, row, strict=True))
    record["ts"] = f"{record['ts']}Z"
    record["details"] = json.loads(record["details"]) if record["details"] is not None else None
    return record


def _select(conn: Connection, query: AuditQuery) -> Select[Any]:
    stmt = store.sealed_select(conn.dialect.name)
    for cond in query.conditions():
        stmt = stmt.where(cond)
    seq = store.events.c.seq
    return stmt.order_by(seq.desc() if query.newest_first else seq)


def search(db: Session, query: AuditQuery) -> list[dict[str, Any]]:
    """The records matching ``query`` (at most ``query.limit``) as dicts."""
    conn = db.connection()
    stmt = _select(conn, query)
    if query.limit is not None:
        stmt = stmt.limit(query.limit)
    if query.offset:
        stmt = stmt.offset(query.offset)
    return [row_to_dict(tuple(row)) for row in conn.execute(stmt)]


def page(db: Session, query: AuditQuery) -> Page:
    """One keyset page of ``query`` (``limit`` records, default 100) and the next page's cursor.

    Pass the cursor's key (``after_seq`` or ``before_seq``) back with the same filters for the next page.
    """
    limit = query.limit or 100
    conn = db.connection()
    if query.actions is not None and len(query.actions) > 1 and query.action is None:
        # One index range per action, merged here: SQLite cannot read several ranges of the
        # (action, seq) index in seq order, and would scan the whole log for a rare action instead.
        parts = [replace(query, kind=None, actions=None, action=name, offset=0) for name in query.actions]
        selected = [conn.execute(_select(conn, part).limit(limit + 1)).all() for part in parts]
        merged = heapq.merge(*selected, key=lambda row: int(row[0]), reverse=query.newest_first)
        rows = list(itertools.islice(merged, limit + 1))
    else:
        rows = list(conn.execute(_select(conn, replace(query, offset=0)).limit(limit + 1)).all())
    records = [row_to_dict(tuple(row)) for row in rows[:limit]]
    if len(rows) <= limit:
        return Page(records, None)
    last = int(records[-1]["seq"])
    return Page(records, {"before_seq": last} if query.newest_first else {"after_seq": last})


def iter_records(db: Session, query: AuditQuery, *, batch_size: int = 5_000) -> Iterator[dict[str, Any]]:
    """Stream every record matching ``query`` (honouring ``limit`` and ``offset``) in keyset pages."""
    conn = db.connection()
    remaining = query.limit
    skip = query.offset
    after, before = query.after_seq, query.before_seq
    while remaining is None or remaining > 0:
        page_query = replace(query, after_seq=after, before_seq=before, limit=None, offset=0)
        size = batch_size if remaining is None else min(batch_size, remaining + skip)
        rows = conn.execute(_select(conn, page_query).limit(size)).all()
        if not rows:
            return
        for row in rows:
            if skip:
                skip -= 1
                continue
            if remaining is not None:
                if remaining == 0:
                    return
                remaining -= 1
            yield row_to_dict(tuple(row))
        if len(rows) < size:
            return
        last = int(rows[-1][0])
        if query.newest_first:
            before = last
        else:
            after = last
