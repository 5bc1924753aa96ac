"""Checking the audit chain: every seal, every link, no gap, and the head.

The first bad record is named, with the kind of fault:

* a gap in ``seq`` — "record 42 is missing (deleted)";
* ``prev_mac`` differs from the previous record's MAC — records were deleted and renumbered, inserted
  or reordered: "record 42 does not follow record 41: a record was deleted, inserted or reordered here";
* the MAC does not match the contents — "record 42: contents do not match its seal (edited or forged)";
* the chain stops before the head's ``seq`` ("records 41 to 42 are missing (truncated …)"), the head's
  MAC is not the last record's, or a record lies beyond the head.

Without the key nobody can reseal a record, so these are all the ways a change can show. Someone who
deletes the tail *and* rewinds the head leaves a shorter, valid chain; an ``anchor`` (a head copied
elsewhere earlier, e.g. printed by ``sealroom audit verify`` or forwarded) catches that.

The loop works on plain tuples from the DB-API cursor with the canonical template inlined and a
pre-keyed HMAC, so one core checks a few hundred thousand records per second.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sealroom.audit import store
from sealroom.audit.chain import CANONICAL_TEMPLATE, GENESIS_MAC, Sealer
from sealroom.audit.log import ChainHead, chain_head

BATCH_SIZE = 50_000


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of a verification; ``problem`` names the first bad record and the kind of fault.

    ``last_seq``/``last_mac`` are those of the last record that verified (an anchor for next time).
    """

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    last_seq: int | None = None
    last_mac: str | None = None


class ChainFaultError(Exception):
    """The first fault found; ``seq`` is the first bad record (``None`` for a head-only fault)."""

    def __init__(self, seq: int | None, problem: str) -> None:
        super().__init__(problem)
        self.seq = seq
        self.problem = problem


def missing(first: int, last: int, kind: str = "deleted") -> str:
    """The problem text for records ``first``..``last`` being absent."""
    if first == last:
        return f"record {first} is missing ({kind})"
    return f"records {first} to {last} are missing ({kind})"


class ChainChecker:
    """Checks sealed rows (``store.SEALED_COLUMNS``, ``ts`` without its ``Z``) fed in ``seq`` order."""

    def __init__(self, audit_key: bytes, *, first_seq: int, prev_mac: str | None) -> None:
        self._sealer = Sealer(audit_key)
        self.expected_seq = first_seq
        self.prev_mac = prev_mac  # None: the next row's link cannot be checked (start of an excerpt)
        self.checked = 0
        self.last_seq: int | None = None

    def feed(self, rows: Iterable[tuple[Any, ...]], *, allow_gaps: bool = False) -> None:
        """Check rows; raise ``ChainFaultError`` at the first bad one.

        With ``allow_gaps`` (a filtered export) a jump forward in ``seq`` is accepted and the link of the
        record after the jump is not checked.
        """
        inner, outer = self._sealer.keyed_states()
        enc = encode_basestring_ascii
        template = CANONICAL_TEMPLATE
        expected_seq = self.expected_seq
        prev = self.prev_mac
        checked = self.checked
        try:
            for row in rows:
                (seq, event_id, ts, category, action, outcome, actor,
                 session_id, image_id, case_id, reason, details, prev_mac, mac) = row  # fmt: skip
                if seq != expected_seq:
                    if type(seq) is not int or seq < expected_seq:
                        raise ChainFaultError(
                            seq if type(seq) is int else expected_seq,
                            f"record {seq} is out of order or malformed (expected record {expected_seq})",
                        )
                    if not allow_gaps:
                        raise ChainFaultError(expected_seq, missing(expected_seq, seq - 1))
                    prev = None
                if prev is not None and prev_mac != prev:
                    raise ChainFaultError(
                        seq,
                        f"record {seq} does not follow record {seq - 1}: "
                        "a record was deleted, inserted or reordered here",
                    )
                try:
                    canonical = template % (
                        enc(action),
                        enc(actor),
                        "null" if case_id is None else enc(case_id),
                        enc(category),
                        enc(details),
                        enc(event_id),
                        "null" if image_id is None else enc(image_id),
                        enc(outcome),
                        "null" if reason is None else enc(reason),
                        seq,
                        "null" if session_id is None else enc(session_id),
                        enc(ts + "Z"),
                    )
                    h = inner.copy()
                    h.update((prev_mac + canonical).encode())
                    o = outer.copy()
                    o.update(h.digest())
                    good = o.hexdigest() == mac
                except (TypeError, ValueError):  # a field of the wrong type or not encodable: tampered
                    good = False
                if not good:
                    raise ChainFaultError(
                        seq, f"record {seq}: contents do not match its seal (edited or forged)"
                    )
                prev = mac
                expected_seq = seq + 1
                checked += 1
        finally:
            self.expected_seq = expected_seq
            self.prev_mac = prev
            if checked != self.checked:
                self.last_seq = expected_seq - 1
            self.checked = checked


def verify_chain(
    db: Session,
    audit_key: bytes,
    start_seq: int | None = None,
    end_seq: int | None = None,
    *,
    anchor: ChainHead | None = None,
    batch_size: int = BATCH_SIZE,
) -> VerifyReport:
    """Verify records ``start_seq``..``end_seq`` (default: the whole chain, and its head).

    The head is checked when the range reaches it. ``anchor`` is a head recorded earlier outside the
    database; the record it names must still carry the same MAC.
    """
    conn = db.connection()
    current = chain_head(db)
    start = max(start_seq or 1, 1)
    checker = ChainChecker(audit_key, first_seq=start, prev_mac=GENESIS_MAC if start == 1 else None)
    try:
        if start > 1:
            pred = conn.execute(select(store.events.c.mac).where(store.events.c.seq == start - 1)).first()
            if pred is None:
                raise ChainFaultError(start - 1, missing(start - 1, start - 1))
            checker.prev_mac = str(pred[0])
        stop = end_seq
        if current is not None and (stop is None or stop > current.seq):
            stop = current.seq
        for rows in store.sealed_batches(conn, after_seq=start - 1, until_seq=stop, batch_size=batch_size):
            checker.feed(rows)
        last_seq = checker.expected_seq - 1
        if stop is not None and last_seq < stop:
            at_head = current is not None and stop == current.seq
            kind = f"truncated; the chain head is at {stop}" if at_head else "deleted"
            raise ChainFaultError(last_seq + 1, missing(last_seq + 1, stop, kind))
        if end_seq is None or current is None or end_seq >= current.seq:
            _check_head(db, current, checker)
        if anchor is not None:
            _check_anchor(db, anchor)
    except ChainFaultError as fault:
        return VerifyReport(
            ok=False,
            checked=checker.checked,
            first_bad_seq=fault.seq,
            problem=fault.problem,
            last_seq=checker.last_seq,
            last_mac=checker.prev_mac if checker.last_seq is not None else None,
        )
    return VerifyReport(
        ok=True,
        checked=checker.checked,
        last_seq=checker.last_seq,
        last_mac=checker.prev_mac if checker.last_seq is not None else None,
    )


def _check_head(db: Session, current: ChainHead | None, checker: ChainChecker) -> None:
    if current is None:
        if checker.checked:
            raise ChainFaultError(None, "the chain head is missing (deleted)")
        return
    if current.seq == 0:
        if current.mac != GENESIS_MAC:
            raise ChainFaultError(None, "the head of the empty chain is not the genesis value (edited)")
    elif checker.last_seq == current.seq and checker.prev_mac != current.mac:
        raise ChainFaultError(
            current.seq, f"the chain head does not match record {current.seq} (head or record replaced)"
        )
    events = store.events
    beyond = (
        db.connection().execute(select(func.min(events.c.seq)).where(events.c.seq > current.seq)).scalar()
    )
    if beyond is not None:
        now = chain_head(db)
        if now is None or now.seq < beyond:  # not an append that committed meanwhile
            raise ChainFaultError(
                int(beyond),
                f"record {beyond} lies beyond the chain head (at {current.seq}): "
                "inserted outside the log, or the head was rewound",
            )


def _check_anchor(db: Session, anchor: ChainHead) -> None:
    if anchor.seq <= 0:
        return
    row = db.connection().execute(select(store.events.c.mac).where(store.events.c.seq == anchor.seq)).first()
    if row is None:
        raise ChainFaultError(anchor.seq, f"record {anchor.seq} named by the anchor is missing (truncated)")
    if row[0] != anchor.mac:
        raise ChainFaultError(
            anchor.seq, f"record {anchor.seq} differs from the anchored seal (chain rewritten)"
        )
