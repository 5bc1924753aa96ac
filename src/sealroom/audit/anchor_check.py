"""Holding the audit chain against its signed anchors: ``check_chain``.

Someone who holds the audit HMAC key and the database can rewrite the log so that ``verify_chain``
passes: re-seal every record after an edit, or cut the tail and rewind the head. Anchors catch both,
because the anchor key is another key and copies of the anchors live outside the database:

* every anchor's signature must verify under the workspace's public key (a forged or edited anchor
  fails, whichever key signed it);
* the record at each anchor's ``seq`` must exist and carry the anchored MAC (a re-sealed chain has
  other MACs; a truncated one lacks the record), so the chain reaches the newest anchor.

Anchors come from the ``audit_anchors`` table and from any number of files (the ``audit.anchor.file``
copy, or an export of ``audit.anchor`` records from a SIEM). Rewriting the table as well does not help
an attacker: the file copies still name the old MACs. The report names the first anchor (lowest
``seq``) that does not match, and where it came from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealroom.audit import store
from sealroom.audit.anchor_key import verify_statement
from sealroom.audit.anchors import SignedAnchor
from sealroom.audit.verify import VerifyReport, verify_chain
from sealroom.db.models import AuditAnchor

MAX_FILE_BYTES = 64 * 1024 * 1024
"""An anchor file larger than this is refused (one line an hour is a few MiB over decades)."""


@dataclass(frozen=True)
class AnchorProblem:
    """The first anchor that does not match: where it came from and what is wrong."""

    source: str
    """``table`` or ``file NAME line N``."""
    anchor_id: str | None
    seq: int | None
    problem: str


@dataclass(frozen=True)
class ChainCheckReport:
    """The chain verification and the anchor comparison together; ``ok`` only when both pass."""

    chain: VerifyReport
    anchors_checked: int
    newest_anchor_seq: int | None
    first_bad_anchor: AnchorProblem | None

    @property
    def ok(self) -> bool:
        """The chain verifies and every anchor matches."""
        return self.chain.ok and self.first_bad_anchor is None

    def summary(self) -> str:
        """One line for people and logs (ids and seq numbers only)."""
        if self.first_bad_anchor is not None:
            bad = self.first_bad_anchor
            name = f"anchor {bad.anchor_id}" if bad.anchor_id else "an anchor"
            return f"{name} ({bad.source}) does not match: {bad.problem}"
        if not self.chain.ok:
            return self.chain.problem or "the chain does not verify"
        newest = "none" if self.newest_anchor_seq is None else str(self.newest_anchor_seq)
        return (
            f"{self.chain.checked} records verified; {self.anchors_checked} anchors match "
            f"(newest at record {newest})"
        )


@dataclass(frozen=True)
class _Sourced:
    anchor: SignedAnchor | None
    source: str
    problem: str | None = None


def read_anchor_file(path: Path) -> list[tuple[str, SignedAnchor | None, str | None]]:
    """Each line of an anchor file as ``(source, anchor, problem)``; unreadable lines carry a problem.

    Empty lines are skipped. Audit records other than ``audit.anchor`` (a whole SIEM export) are skipped
    too; an ``audit.anchor`` record or anchor line that is malformed is a problem.
    """
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        return [(f"file {path.name}", None, f"the file is larger than {MAX_FILE_BYTES} bytes")]
    out: list[tuple[str, SignedAnchor | None, str | None]] = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        source = f"file {path.name} line {number}"
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            out.append((source, None, "the line is not JSON (edited or damaged)"))
            continue
        anchor = SignedAnchor.from_json(value)
        if anchor is not None:
            out.append((source, anchor, None))
        elif _looks_like_anchor(value):
            out.append((source, None, "the line is not a well-formed signed anchor (edited or damaged)"))
    return out


def _looks_like_anchor(value: object) -> bool:
    if not isinstance(value, dict):
        return False
    details = value.get("details")
    if value.get("action") == "audit.anchor" and isinstance(details, dict):
        return details.get("signed") is not False
    return value.get("type") == "sealroom.audit.anchor" or "signature" in value


def check_chain(
    db: Session,
    audit_key: bytes,
    public_key_hex: str,
    *,
    anchor_files: Sequence[Path] = (),
    use_table: bool = True,
) -> ChainCheckReport:
    """Verify the whole chain (``verify_chain``) and hold it against every anchor.

    Anchors come from the ``audit_anchors`` table (``use_table``) and from ``anchor_files`` (a missing
    or unreadable file is a problem: its anchors cannot vouch for anything). Read-only; not audited
    (the caller records ``audit.verify`` or ``audit.anchor.check`` as fits).
    """
    chain = verify_chain(db, audit_key)
    found: list[_Sourced] = []
    if use_table:
        rows = db.scalars(select(AuditAnchor).order_by(AuditAnchor.seq)).all()
        found += [_Sourced(SignedAnchor.from_row(row), "table") for row in rows]
    for path in anchor_files:
        try:
            found += [_Sourced(a, s, p) for s, a, p in read_anchor_file(path)]
        except OSError as exc:
            found.append(_Sourced(None, f"file {path.name}", f"cannot be read ({type(exc).__name__})"))
    return _compare(db, public_key_hex, chain, found)


def _compare(
    db: Session, public_key_hex: str, chain: VerifyReport, found: Iterable[_Sourced]
) -> ChainCheckReport:
    problems: list[AnchorProblem] = []
    checked = 0
    newest: int | None = None
    seen: set[tuple[int, str, str]] = set()
    for item in found:
        anchor = item.anchor
        if anchor is None:
            problems.append(AnchorProblem(item.source, None, None, item.problem or "unreadable"))
            continue
        identity = (anchor.seq, anchor.mac, anchor.signature)
        if identity in seen:
            continue
        seen.add(identity)
        checked += 1
        newest = anchor.seq if newest is None else max(newest, anchor.seq)
        problem = _anchor_problem(db, public_key_hex, anchor)
        if problem is not None:
            problems.append(AnchorProblem(item.source, anchor.id, anchor.seq, problem))
    problems.sort(key=lambda p: -1 if p.seq is None else p.seq)
    return ChainCheckReport(chain, checked, newest, problems[0] if problems else None)


def _anchor_problem(db: Session, public_key_hex: str, anchor: SignedAnchor) -> str | None:
    if not verify_statement(public_key_hex, anchor.statement(), anchor.signature):
        return (
            f"its signature does not verify with the workspace's anchor key "
            f"(signed by key {anchor.key_id[:16]}…, or edited)"
        )
    events = store.events
    row = db.connection().execute(select(events.c.mac).where(events.c.seq == anchor.seq)).first()
    if row is None:
        return f"record {anchor.seq} is missing: the log was truncated or its head rewound"
    if row[0] != anchor.mac:
        return f"record {anchor.seq} has another seal than the one anchored: the chain was rewritten"
    return None
