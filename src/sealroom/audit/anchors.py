"""Signed anchors: the chain head signed with the workspace's Ed25519 anchor key, and copied outside.

``sign_head`` reads the head (``seq``, ``mac``), signs the statement::

    {"type": "sealroom.audit.anchor", "seq": 42, "mac": "…", "signed_at": "2026-03-02T09:00:00.000000+00:00",
     "key_id": "…"}

(canonical JSON, see ``anchor_key.canonical_json``; Sealroom has no stable workspace identifier, so the
statement names none), and keeps it in three places:

1. the ``audit_anchors`` table;
2. ``audit.anchor.file`` when set: one JSON line (the statement plus ``id`` and ``signature``), opened
   ``O_APPEND``, created 0600, ``fsync``'d, written *before* the database commit, so the external copy
   exists before the workspace claims it;
3. the audit record ``audit.anchor`` (category ``audit``) carries the statement and signature in its
   details, so every SIEM forwarding sink (syslog, webhook) receives a copy with the forwarder's
   ordering and at-least-once delivery. This is the syslog route: no separate one-shot datagram.

The audit record is ``success`` when every configured copy was written, else ``failure`` with the reason
(``anchor_file_unwritable``); a line in the file whose database transaction then failed is still a true
statement about a real head, so it does no harm.

``check_chain`` (see ``anchor_check``) holds the database against these copies.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sealroom.audit.anchor_key import AnchorKey
from sealroom.audit.log import AuditLog, chain_head
from sealroom.clock import Clock
from sealroom.config import CONFIG_NAME, Settings
from sealroom.db.models import AuditAnchor
from sealroom.errors import ConfigError

ANCHOR_TYPE: Final = "sealroom.audit.anchor"
ACTION: Final = "audit.anchor"
ACTOR: Final = "system:anchor"


@dataclass(frozen=True)
class SignedAnchor:
    """One signed anchor: the statement's fields, its id and the Ed25519 signature (hex)."""

    id: str
    seq: int
    mac: str
    signed_at: str
    """RFC 3339 text with microseconds, exactly as signed."""
    key_id: str
    signature: str

    def statement(self) -> dict[str, Any]:
        """The object that is signed."""
        return {
            "type": ANCHOR_TYPE,
            "seq": self.seq,
            "mac": self.mac,
            "signed_at": self.signed_at,
            "key_id": self.key_id,
        }

    def as_line(self) -> dict[str, Any]:
        """The JSON object written to the anchor file (the statement, ``id`` and ``signature``)."""
        return {**self.statement(), "id": self.id, "signature": self.signature}

    @classmethod
    def from_row(cls, row: AuditAnchor) -> SignedAnchor:
        """The anchor kept in an ``audit_anchors`` row."""
        return cls(row.id, int(row.seq), row.mac, signed_at_text(row.signed_at), row.key_id, row.signature)

    @classmethod
    def from_json(cls, value: Any) -> SignedAnchor | None:
        """An anchor from a file line: an anchor line, or an exported ``audit.anchor`` audit record
        (e.g. from the SIEM). ``None`` when ``value`` is neither."""
        is_record = isinstance(value, dict) and value.get("action") == ACTION
        if is_record and isinstance(value.get("details"), dict):
            value = value["details"]
        if not isinstance(value, dict) or value.get("type") != ANCHOR_TYPE:
            return None
        try:
            seq = value["seq"]
            if type(seq) is not int:
                return None
            fields = [value[name] for name in ("id", "mac", "signed_at", "key_id", "signature")]
        except KeyError:
            return None
        if not all(isinstance(field, str) for field in fields):
            return None
        anchor_id, mac, signed_at, key_id, signature = fields
        return cls(anchor_id, seq, mac, signed_at, key_id, signature)


def signed_at_text(moment: datetime) -> str:
    """The canonical text of a signing time (UTC, microseconds), as it goes into the statement."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def anchor_key_path(root: Path, settings: Settings) -> Path:
    """Where the workspace's anchor key lives (``audit.anchor.key_file`` under the workspace)."""
    return root / settings.audit.anchor.key_file


def anchor_file_path(root: Path, settings: Settings) -> Path | None:
    """The external anchor file (``audit.anchor.file``, relative to the workspace), or ``None``."""
    configured = settings.audit.anchor.file
    if not configured:
        return None
    path = Path(configured)
    return path if path.is_absolute() else root / path


def check_anchor_paths(root: Path, settings: Settings, database_file: Path | None) -> None:
    """Refuse an anchor key that is one of the workspace's other keys, and an anchor file that would
    be appended into the workspace's own keys, configuration, database or blobs (which would corrupt
    them, and which the database's administrators could rewrite anyway). Raises ``ConfigError``."""
    keys = {(root / name).resolve() for name in (settings.workspace_key_file, settings.audit_key_file)}
    anchor_key = anchor_key_path(root, settings).resolve()
    if anchor_key in keys:
        raise ConfigError(
            "audit.anchor.key_file must be a key of its own, not the workspace or audit key: "
            "anchors are only worth something if the audit key cannot sign them"
        )
    anchor_file = anchor_file_path(root, settings)
    if anchor_file is None:
        return
    target = anchor_file.resolve()
    own_files = keys | {anchor_key, (root / CONFIG_NAME).resolve()}
    if database_file is not None:
        own_files.add(database_file.resolve())
    own_folders = {path.parent for path in keys | {anchor_key}} | {(root / settings.blob_dir).resolve()}
    if target in own_files or any(folder in target.parents or folder == target for folder in own_folders):
        raise ConfigError(
            "audit.anchor.file must not be one of the workspace's own files or folders (keys, "
            "configuration, database, blobs); put it on another host's mount or a WORM volume"
        )


@dataclass(frozen=True)
class AnchorResult:
    """What ``sign_head`` did: the anchor (``None`` for an empty chain) and the file outcome."""

    anchor: SignedAnchor | None
    file_written: bool | None
    """True/False when a file is configured; ``None`` when none is."""
    record_seq: int | None
    """The ``seq`` of the ``audit.anchor`` record (so a scheduler can tell its own record from activity)."""


def sign_head(
    sessions: sessionmaker[Session],
    audit: AuditLog,
    clock: Clock,
    key_path: Path,
    *,
    anchor_file: Path | None,
    actor: str = ACTOR,
) -> AnchorResult:
    """Sign the current chain head and keep the anchor (table, file, audit record).

    Returns an ``AnchorResult`` with no anchor when the chain is empty. A key that cannot be loaded is
    audited (``audit.anchor`` failure, ``anchor_key_unusable``) and its ``ConfigError`` re-raised;
    ``AuditUnavailableError`` when the audit record cannot be written (the anchor row is not kept then).
    Audit: ``audit.anchor`` (success, or failure when the file could not be written).
    """
    try:
        key = AnchorKey.load(key_path)
    except Exception:
        audit.append(
            sessions, category="audit", action=ACTION, outcome="failure", actor=actor,
            reason="anchor_key_unusable", details={"signed": False},
        )  # fmt: skip
        raise
    with sessions() as db:
        head = chain_head(db)
    if head is None or head.seq == 0:
        return AnchorResult(None, None, None)
    statement_time = signed_at_text(clock.now())
    unsigned = SignedAnchor(secrets.token_hex(16), head.seq, head.mac, statement_time, key.key_id, "")
    anchor = SignedAnchor(**{**unsigned.__dict__, "signature": key.sign(unsigned.statement())})
    file_written: bool | None = None
    if anchor_file is not None:
        file_written = _append_line(anchor_file, anchor)
    with sessions() as db, db.begin():
        db.add(
            AuditAnchor(
                id=anchor.id,
                seq=anchor.seq,
                mac=anchor.mac,
                signed_at=datetime.fromisoformat(anchor.signed_at),
                key_id=anchor.key_id,
                signature=anchor.signature,
            )
        )
        event = audit.record(
            db,
            category="audit",
            action=ACTION,
            outcome="failure" if file_written is False else "success",
            actor=actor,
            reason="anchor_file_unwritable" if file_written is False else None,
            details={
                **anchor.as_line(),
                "file": {None: "not_configured", True: "written", False: "failed"}[file_written],
            },
        )
    return AnchorResult(anchor, file_written, event.seq)


def _append_line(path: Path, anchor: SignedAnchor) -> bool:
    line = json.dumps(anchor.as_line(), sort_keys=True, separators=(",", ":")).encode() + b"\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        return False
    return True


def latest_anchor(db: Session) -> SignedAnchor | None:
    """The newest anchor in the table (highest ``seq``, then latest signing), or ``None``."""
    row = db.scalars(
        select(AuditAnchor).order_by(AuditAnchor.seq.desc(), AuditAnchor.signed_at.desc()).limit(1)
    ).first()
    return None if row is None else SignedAnchor.from_row(row)
