"""Audit evidence as JSON Lines, checkable by a third party holding the audit key.

Each line is one record: every sealed field (``chain.RECORD_FIELDS``, ``ts`` as canonical text,
``details`` as an object) plus ``prev_mac`` and ``mac``. To check a line: recompute
``HMAC-SHA256(key, prev_mac || canonical(record))`` as described in ``sealroom.audit.chain``; to check a
contiguous export, also check each ``prev_mac`` equals the previous line's ``mac`` (64 zeros before
record 1). ``verify_jsonl`` does both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from sqlalchemy.orm import Session

from sealroom.audit.chain import GENESIS_MAC, RECORD_FIELDS, canonical_details
from sealroom.audit.query import AuditQuery, iter_records
from sealroom.audit.verify import ChainChecker, ChainFaultError, VerifyReport

LINE_FIELDS = (*RECORD_FIELDS, "prev_mac", "mac")


def export_jsonl(db: Session, query: AuditQuery, out: TextIO) -> int:
    """Write the records matching ``query`` (oldest first) to ``out``, one JSON object a line.

    Returns the number of records written. For an export that ``verify_jsonl`` can check as a whole
    chain, filter only by ``after_seq``/``before_seq`` (a contiguous range).
    """
    count = 0
    for record in iter_records(db, query):
        out.write(json.dumps(record, sort_keys=True, ensure_ascii=True, separators=(",", ":")))
        out.write("\n")
        count += 1
    return count


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _rows(lines: Iterable[str]) -> Iterator[tuple[Any, ...]]:
    """Exported lines as sealed rows (``ts`` without ``Z``, details as canonical text)."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record: Any = None
        try:
            record = json.loads(line, object_pairs_hook=_no_duplicates)
            if not isinstance(record, dict) or set(record) != set(LINE_FIELDS):
                raise ValueError("not an audit record (wrong fields)")
            ts = record["ts"]
            if not isinstance(ts, str) or not ts.endswith("Z"):
                raise ValueError("its time is not canonical UTC text")
            if not isinstance(record["details"], dict):
                raise ValueError("its details are not an object")
            details_json = canonical_details(record["details"])
        except ValueError as exc:
            seq = record.get("seq") if isinstance(record, dict) else None
            label = f"record {seq}" if isinstance(seq, int) else f"line {number}"
            raise ChainFaultError(
                seq if isinstance(seq, int) else None, f"{label} is malformed ({exc})"
            ) from exc
        yield (
            record["seq"], record["event_id"], ts[:-1], record["category"], record["action"],
            record["outcome"], record["actor"], record["session_id"], record["image_id"], record["case_id"],
            record["reason"], details_json, record["prev_mac"], record["mac"],
        )  # fmt: skip


def verify_jsonl(lines: Iterable[str], audit_key: bytes, *, contiguous: bool = True) -> VerifyReport:
    """Verify an export: every seal, and every link between consecutive records.

    ``contiguous`` (the default) also requires consecutive ``seq`` numbers, so a line removed from the
    file is reported; pass ``False`` for a filtered export, where only each record's own seal and the
    links between neighbours can be checked. A file starting at record 1 must link to the genesis value.
    """
    rows = _rows(lines)
    checker: ChainChecker | None = None
    try:
        first = next(rows, None)
        if first is None:
            return VerifyReport(ok=True, checked=0)
        first_seq = first[0]
        if type(first_seq) is not int or first_seq < 1:
            raise ChainFaultError(None, f"record {first_seq!r} has an invalid sequence number")
        checker = ChainChecker(
            audit_key, first_seq=first_seq, prev_mac=GENESIS_MAC if first_seq == 1 else None
        )
        checker.feed([first], allow_gaps=not contiguous)
        checker.feed(rows, allow_gaps=not contiguous)
    except ChainFaultError as fault:
        return VerifyReport(
            ok=False,
            checked=checker.checked if checker else 0,
            first_bad_seq=fault.seq,
            problem=fault.problem,
            last_seq=checker.last_seq if checker else None,
            last_mac=checker.prev_mac if checker and checker.last_seq is not None else None,
        )
    return VerifyReport(
        ok=True, checked=checker.checked, last_seq=checker.last_seq, last_mac=checker.prev_mac
    )
