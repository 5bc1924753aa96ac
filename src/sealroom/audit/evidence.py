"""Evidence exports of the audit log: JSON Lines, CSV or OCSF, each closed by a signed manifest.

``write_evidence`` streams the records a query selects (oldest first, up to the chain head read at
the start) in one format and ends the file with a manifest signed by the workspace's Ed25519 anchor key:

* ``jsonl`` — one sealed record a line (``export.LINE_FIELDS``, sorted keys, ASCII); the last line is
  the manifest ``{"type": "sealroom.export.manifest", …}``;
* ``ocsf`` — one OCSF 1.3.0 event a line (``ocsf.to_ocsf``; the sealed record rides in
  ``unmapped.sealroom``), the manifest as the last line: JSON Lines is what SIEMs ingest;
* ``csv`` — a header and one row a record (``details`` as canonical JSON text), cells that a
  spreadsheet would run as a formula prefixed with ``'``; the last row is ``sealroom.export.manifest``
  and the manifest JSON, so the evidence stays one file (a sidecar gets separated from its data).

The manifest holds: format, filter, record count, first/last seq, whether the export is a contiguous range
(no gap, and no filter on content: only seq and time bounds), the
chain head at export time, ``content_sha256`` (SHA-256 of every byte before the manifest line/row), the
stored signed anchors whose seq is an exported record (plus the first one after the range), the anchor
key's public key and key id, and ``signature`` over all of that. ``standalone.py`` checks it without
Sealroom; ``export_evidence`` wraps the writer for the shells (access check, spool, ``audit.export``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealroom.audit.anchor_key import AnchorKey
from sealroom.audit.anchors import SignedAnchor, anchor_key_path
from sealroom.audit.chain import Sealer, canonical_details, canonical_record, format_ts
from sealroom.audit.log import chain_head
from sealroom.audit.ocsf import OCSF_VERSION, to_ocsf
from sealroom.audit.query import AuditQuery, iter_records, search
from sealroom.audit.reading import record_read, require_reader
from sealroom.audit.standalone import CSV_FIELDS, CSV_MANIFEST_MARK, FORMULA_START, MANIFEST_TYPE
from sealroom.db.models import AuditAnchor

if TYPE_CHECKING:
    from sealroom.sessions import ActiveSession
    from sealroom.workspace import Workspace

FORMATS: Final = {
    "jsonl": ("application/x-ndjson", "jsonl"),
    "ocsf": ("application/x-ndjson", "ocsf.jsonl"),
    "csv": ("text/csv; charset=utf-8", "csv"),
}
"""Format name -> (media type, file extension)."""
MANIFEST_VERSION: Final = 1
SPOOL_IN_MEMORY: Final = 16 * 1024 * 1024
CONTENT_FILTERS: Final = ("kind", "actor", "image_id", "case_id", "session_id", "category", "action",
                          "actions", "action_prefix", "outcome")  # fmt: skip
"""Filters that pick records by what they say: an export using one is a selection, never ``contiguous``
(only seq and time bounds cut a range out of the chain)."""
"""Exports up to this size stay in memory while they wait for their audit record; larger ones spill
to a private temporary file (audit records hold ids and hashes, no image data or raw personal values)."""


@dataclass(frozen=True)
class EvidenceSummary:
    """What one export wrote: counts, range, hashes and the signing key."""

    format: str
    record_count: int
    first_seq: int | None
    last_seq: int | None
    contiguous: bool
    content_sha256: str
    file_sha256: str
    size: int
    key_id: str
    anchors: int


def csv_cell(value: Any) -> str:
    """A value as a CSV cell, safe to open in a spreadsheet: ``None`` is empty, ``""`` is a lone ``'``,
    and text starting with ``= + - @ ' TAB CR`` gets a leading ``'`` (``standalone.csv_unescape`` undoes it).
    """
    if value is None:
        return ""
    text = str(value)
    if text == "" or text.startswith(FORMULA_START):
        return "'" + text
    return text


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"


def _csv_row(cells: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue().encode()


def _encode(fmt: str, record: dict[str, Any]) -> bytes:
    if fmt == "jsonl":
        return _line(record)
    if fmt == "ocsf":
        return _line(to_ocsf(record))
    cells = {**record, "details": canonical_details(record["details"])}
    return _csv_row([csv_cell(cells[name]) for name in CSV_FIELDS])


class _HashingWriter:
    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.file = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.out.write(data)
        self.file.update(data)
        self.size += len(data)


def _anchors(db: Session, query: AuditQuery, first: int, last: int, head: int) -> list[dict[str, Any]]:
    """Stored anchors naming an exported record, and the first one after the range (up to the head)."""
    a = AuditAnchor
    inside = list(db.scalars(select(a).where(a.seq >= first, a.seq <= last).order_by(a.seq, a.signed_at)))
    after = db.scalars(
        select(a).where(a.seq > last, a.seq <= head).order_by(a.seq, a.signed_at).limit(1)
    ).first()
    chosen = []
    for row in inside:
        exported = search(db, replace(query, after_seq=row.seq - 1, before_seq=row.seq + 1, limit=1))
        if exported:
            chosen.append(row)
    if after is not None:
        chosen.append(after)
    out = []
    for row in chosen:
        anchor = SignedAnchor.from_row(row)
        out.append({"statement": anchor.statement(), "signature": anchor.signature, "id": anchor.id})
    return out


def filter_of(query: AuditQuery) -> dict[str, Any]:
    """The filters of an export as the manifest states them (values included: the file holds them anyway)."""
    out: dict[str, Any] = {}
    names = ("kind", "actor", "image_id", "case_id", "session_id", "category", "action", "actions",
             "action_prefix", "outcome", "since", "until", "after_seq", "before_seq")  # fmt: skip
    for name in names:
        value = getattr(query, name)
        if value is not None:
            out[name] = (
                value.isoformat()
                if isinstance(value, datetime)
                else (list(value) if isinstance(value, tuple) else value)
            )
    return out


def write_evidence(
    db: Session,
    query: AuditQuery,
    fmt: str,
    out: IO[bytes],
    *,
    anchor_key: AnchorKey,
    exported_by: str,
    exported_at: datetime,
) -> EvidenceSummary:
    """Write the records ``query`` selects in ``fmt`` (``FORMATS``) to ``out``, then the signed manifest.

    ``limit``/``offset``/``newest_first`` are ignored: an export is every matching record, oldest first,
    up to the chain head read when it starts. Raises ``ValueError`` for an unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    head = chain_head(db)
    head_seq, head_mac = (head.seq, head.mac) if head is not None else (0, "0" * 64)
    before = head_seq + 1 if query.before_seq is None else min(query.before_seq, head_seq + 1)
    selected = replace(query, before_seq=before, limit=None, offset=0, newest_first=False)
    writer = _HashingWriter(out)
    content = hashlib.sha256()
    first: int | None = None
    last: int | None = None
    # A selection by content that happens to have no gap is still a selection: "contiguous" tells the
    # reader that every record between first_seq and last_seq is here because the range was asked for.
    count, contiguous = 0, not any(getattr(query, name) is not None for name in CONTENT_FILTERS)
    if fmt == "csv":
        header = _csv_row(list(CSV_FIELDS))
        writer.write(header)
        content.update(header)
    for record in iter_records(db, selected):
        seq = int(record["seq"])
        if last is not None and seq != last + 1:
            contiguous = False
        first = seq if first is None else first
        last = seq
        count += 1
        data = _encode(fmt, record)
        writer.write(data)
        content.update(data)
    anchors = _anchors(db, selected, first, last, head_seq) if first is not None and last is not None else []
    manifest: dict[str, Any] = {
        "type": MANIFEST_TYPE,
        "manifest_version": MANIFEST_VERSION,
        "format": fmt,
        "filter": filter_of(query),
        "record_count": count,
        "first_seq": first,
        "last_seq": last,
        "contiguous": contiguous,
        "chain_head": {"seq": head_seq, "mac": head_mac},
        "content_sha256": content.hexdigest(),
        "exported_at": format_ts(exported_at),
        "exported_by": exported_by,
        "anchors": anchors,
        "public_key": anchor_key.public_key_hex,
        "key_id": anchor_key.key_id,
    }
    if fmt == "ocsf":
        manifest["ocsf_version"] = OCSF_VERSION
    manifest["signature"] = anchor_key.sign(manifest)
    if fmt == "csv":
        writer.write(
            _csv_row([CSV_MANIFEST_MARK, json.dumps(manifest, sort_keys=True, separators=(",", ":"))])
        )
    else:
        writer.write(_line(manifest))
    return EvidenceSummary(fmt, count, first, last, contiguous, manifest["content_sha256"],
                           writer.file.hexdigest(), writer.size, anchor_key.key_id, len(anchors))  # fmt: skip


@dataclass
class EvidenceFile:
    """A finished export waiting in a spool: read it with ``chunks()``, then ``close()`` it."""

    spool: IO[bytes]
    summary: EvidenceSummary
    media_type: str
    filename: str

    def chunks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        """The file's bytes from the start, in chunks; closes the spool at the end."""
        try:
            self.spool.seek(0)
            while chunk := self.spool.read(size):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        """Discard the spool."""
        self.spool.close()


def export_evidence(
    workspace: Workspace, reader: ActiveSession | str, query: AuditQuery, fmt: str
) -> EvidenceFile:
    """Export ``query`` in ``fmt`` for ``reader`` and record ``audit.export``; nothing is returned unless
    that record was committed.

    ``reader`` is a signed-in session (checked for ``audit:read`` through the gate, which audits the
    decision; raises ``AccessDeniedError`` on deny) or, for host-operator commands, the operator's
    audit name. Audit details: format, the filters used (names only for actor/image/case/session),
    record count, first/last seq, content and file SHA-256, key id. Raises ``AuditUnavailableError``
    when the record cannot be written, ``ValueError`` for an unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    actor = reader if isinstance(reader, str) else reader.username
    key = AnchorKey.load(anchor_key_path(workspace.root, workspace.settings))
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - handed out
    try:
        with workspace.db() as db:
            if not isinstance(reader, str):
                require_reader(db, workspace.gate, reader)
            summary = write_evidence(
                db, query, fmt, spool, anchor_key=key, exported_by=actor, exported_at=workspace.clock.now()
            )
            details = {
                "format": fmt, "filter": query.summary(), "records": summary.record_count,
                "first_seq": summary.first_seq, "last_seq": summary.last_seq,
                "sha256": summary.file_sha256, "content_sha256": summary.content_sha256,
                "bytes": summary.size, "key_id": summary.key_id,
            }  # fmt: skip
            if isinstance(reader, str):
                workspace.audit.record(
                    db,
                    category="audit",
                    action="audit.export",
                    outcome="success",
                    actor=actor,
                    details=details,
                )
            else:
                record_read(db, workspace.audit, reader, "audit.export", details)
            db.commit()
    except BaseException:
        spool.close()
        raise
    media_type, extension = FORMATS[fmt]
    stamp = workspace.clock.now().strftime("%Y%m%dT%H%M%SZ")
    return EvidenceFile(spool, summary, media_type, f"sealroom-audit-{stamp}.{extension}")


def check_seals(records: list[dict[str, Any]], audit_key: bytes) -> str | None:
    """The first record (sealed fields, ``ts`` canonical, ``details`` an object) whose HMAC seal does not
    match under ``audit_key``, as a message; ``None`` when every seal matches."""
    sealer = Sealer(audit_key)
    for record in records:
        try:
            good = sealer.seal(str(record["prev_mac"]), canonical_record(record)) == record["mac"]
        except (KeyError, TypeError, ValueError):
            good = False
        if not good:
            return f"record {record.get('seq')}: contents do not match its seal (edited or forged)"
    return None
