"""Retention: crypto-shred images past their data set's retention, except under legal hold.

An image is *due* when its data set sets ``retention_days`` and that many days have passed since it
was ingested. A due image covered by an active legal hold (on the image or on its case) is kept. Every
other due image is deleted in two steps:

1. its ``retention.delete`` audit record, the removal of its session rows and of its metadata row
   commit in one transaction, so nothing is deleted unless the deletion is on record;
2. its data key is destroyed in the key store (the crypto-shred: the ciphertext, and every backup of
   it, can no longer be decrypted), its ciphertext is deleted and any copy open in a session of this
   process is destroyed.

A failure in step 2 leaves a key or blob without a metadata row; the next run destroys such orphans.
Orphans younger than ``ORPHAN_GRACE`` are left alone: an ingest writes its key and blob a moment
before it commits the row, and must not lose them to a run that looks in between.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.db.models import AuditEvent, Image, LegalHold, SessionImage, WorkspaceSession
from sealroom.errors import ConflictError, InputError, NotFoundError, SealroomError
from sealroom.policy.grants import CASE_ID_PATTERN
from sealroom.sessions import SessionManager, new_id
from sealroom.statements import clean_statement
from sealroom.vault.blobstore import BlobStore, FileBlobStore
from sealroom.vault.keystore import DataKeyStore

__all__ = ["ORPHAN_GRACE", "RetentionReport", "RetentionService"]

SYSTEM_ACTOR: Final = "system:retention"
ORPHAN_GRACE: Final = timedelta(minutes=15)
"""How old a key or blob without a metadata row must be before it is treated as an orphan."""
MAX_REASON_CHARS: Final = 2000
_ID: Final = re.compile(r"[0-9a-f]{32}")


@dataclass
class RetentionReport:
    """What one retention pass found and did (in a dry run: what it would do)."""

    dry_run: bool
    due: list[str] = field(default_factory=list)
    """Every image past its retention, held ones included."""
    deleted: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    """Images whose deletion failed in part; the next run finishes (or retries) them."""
    orphan_keys_removed: int = 0
    orphan_blobs_removed: int = 0
    unmatched_keys: list[str] = field(default_factory=list)
    """Keys without a metadata row that no retention pass decided to delete (e.g. the database was
    restored from an older backup): reported and kept, never destroyed by the pass."""

    @property
    def to_delete(self) -> list[str]:
        """Due images not on hold (what a dry run would delete)."""
        held = set(self.held)
        return [image_id for image_id in self.due if image_id not in held]

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able values."""
        return {**asdict(self), "to_delete": self.to_delete}


class RetentionService:
    """Runs the retention pass and manages legal holds."""

    def __init__(
        self,
        db: sessionmaker[Session],
        settings: Settings,
        clock: Clock,
        audit: AuditLog,
        keystore: DataKeyStore,
        blobs: BlobStore,
        sessions: SessionManager,
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._audit = audit
        self._keystore = keystore
        self._blobs = blobs
        self._sessions = sessions
        self._running = threading.Lock()
        self._last_run: datetime | None = None

    # --- the pass -----------------------------------------------------------------------------------

    def run_if_due(self) -> RetentionReport | None:
        """Run the pass when ``retention.interval_minutes`` have passed since this process last ran
        it (the first call runs); returns its report, or None when it was not due."""
        now = self._clock.now()
        interval = timedelta(minutes=self._settings.retention.interval_minutes)
        if self._last_run is not None and now - self._last_run < interval:
            return None
        return self.run()

    def run(
        self, actor: str = SYSTEM_ACTOR, *, dry_run: bool = False, session_id: str | None = None
    ) -> RetentionReport:
        """Delete (crypto-shred) every due image not on legal hold, then remove orphaned keys/blobs.

        ``dry_run`` changes nothing and reports what would be done. Audit: ``retention.delete`` per
        image, ``session.purge`` per session that held a deleted image in memory,
        ``retention.orphan_key`` per orphaned key, and one ``retention.run`` with the counts. Raises
        ``AuditUnavailableError`` if the final record cannot be written (the deletions before it
        are each on record already).
        """
        with self._running:
            self._last_run = self._clock.now()
            report = RetentionReport(dry_run=dry_run)
            due = self._due_images()
            report.due = [image.id for image in due]
            held_cases, held_images = self._active_holds()
            for image in due:
                if image.id in held_images or image.case_id in held_cases:
                    report.held.append(image.id)
                elif not dry_run:
                    self._delete(actor, image, report)
            self._remove_orphans(actor, report)
            self._record_run(actor, session_id, report)
            return report

    def _due_images(self) -> list[Image]:
        now = self._clock.now()
        due: list[Image] = []
        with self._db() as db:
            for name, dataset in sorted(self._settings.datasets.items()):
                if dataset.retention_days is None:
                    continue
                cutoff = now - timedelta(days=dataset.retention_days)
                due.extend(
                    db.scalars(
                        select(Image)
                        .where(Image.dataset == name, Image.ingested_at <= cutoff)
                        .order_by(Image.ingested_at, Image.id)
                    )
                )
        return due

    def _active_holds(self, db: Session | None = None) -> tuple[set[str], set[str]]:
        with contextlib.ExitStack() as stack:
            if db is None:
                db = stack.enter_context(self._db())
            holds = db.scalars(select(LegalHold).where(LegalHold.released_at.is_(None))).all()
        cases = {hold.case_id for hold in holds if hold.case_id is not None}
        images = {hold.image_id for hold in holds if hold.image_id is not None}
        return cases, images

    def _sessions_holding(self, db: Session, image_id: str) -> set[str]:
        # Sessions of this process hold it in memory; a session served by another process shows only
        # as an open session whose opened image is not purged yet.
        recorded = db.scalars(
            select(SessionImage.session_id)
            .join(WorkspaceSession, WorkspaceSession.id == SessionImage.session_id)
            .where(
                SessionImage.image_id == image_id,
                SessionImage.purged_at.is_(None),
                WorkspaceSession.ended_at.is_(None),
            )
        )
        return set(recorded) | set(self._sessions.material.holders(image_id))

    def _delete(self, actor: str, image: Image, report: RetentionReport) -> None:
        days = self._settings.datasets[image.dataset].retention_days
        with self._db() as db:
            try:
                current = db.get(Image, image.id)
                if current is None:  # another pass deleted it meanwhile
                    return
                held_cases, held_images = self._active_holds(db)
                if image.id in held_images or image.case_id in held_cases:  # placed meanwhile
                    report.held.append(image.id)
                    return
                holding = self._sessions_holding(db, image.id)
                self._audit.record(
                    db,
                    category="image",
                    action="retention.delete",
                    outcome="success",
                    actor=actor,
                    image_id=image.id,
                    case_id=image.case_id,
                    reason="retention_expired",
                    details={
                        "dataset": image.dataset,
                        "sha256": image.sha256,
                        "ingested_at": image.ingested_at.isoformat(),
                        "retention_days": days,
                        "key_id": image.key_id,
                        "method": "crypto-shred",
                        "sessions_holding": len(holding),
                    },
                )
                db.execute(delete(SessionImage).where(SessionImage.image_id == image.id))
                db.delete(current)
                db.commit()
            except (SealroomError, SQLAlchemyError):
                db.rollback()
                report.failed.append(image.id)
                return
        report.deleted.append(image.id)
        dropped = self._sessions.material.drop_image(image.id)
        if not self._shred(image.id, image.blob_ref):
            report.failed.append(image.id)
        if dropped:
            self._record_purges(actor, image.id, dropped)

    def _shred(self, image_id: str, blob_ref: str | None) -> bool:
        """Destroy the key first (that alone makes the image unreadable), then the ciphertext."""
        done = True
        try:
            self._keystore.destroy(image_id)
        except SealroomError:
            done = False
        if blob_ref is not None:
            try:
                self._blobs.delete(blob_ref)
            except (SealroomError, OSError):
                done = False
        return done

    def _record_purges(self, actor: str, image_id: str, session_ids: list[str]) -> None:
        try:
            with self._db.begin() as db:
                for session_id in session_ids:
                    self._audit.record(
                        db, category="session", action="session.purge", outcome="success",
                        actor=actor, session_id=session_id, image_id=image_id, reason="retention",
                        details={"images_purged": [image_id], "count": 1},
                    )  # fmt: skip
        except SealroomError:
            pass  # the material is destroyed either way; retention.delete noted how many held it

    def _drop_vanished(self, actor: str) -> None:
        # Images deleted by a pass in another process (``sealroom retention run`` beside ``serve``)
        # may still be open in this process's sessions: their copies go at this process's next pass.
        material = self._sessions.material
        held = {i for s in material.sessions() for i in material.held_ids(s)}
        if not held:
            return
        with self._db() as db:  # looked up after the snapshot: an image opened meanwhile has a row
            present = set(db.scalars(select(Image.id).where(Image.id.in_(held))))
        for image_id in sorted(held - present):
            dropped = material.drop_image(image_id)
            if dropped:
                self._record_purges(actor, image_id, dropped)

    def _remove_orphans(self, actor: str, report: RetentionReport) -> None:
        grace = ORPHAN_GRACE.total_seconds()
        with self._db() as db:
            image_ids = set(db.scalars(select(Image.id)))
            blob_refs = set(db.scalars(select(Image.blob_ref)))
        if not report.dry_run:
            self._drop_vanished(actor)
        # Keys of images this pass deleted are not retried here: their failure is already reported.
        skip = image_ids | set(report.deleted)
        rowless = [i for i in self._keystore.list_ids(min_age_seconds=grace) if i not in skip]
        # Only a key whose deletion is on record is finished off; any other rowless key belongs to an
        # image nobody decided to delete (a database restored from an older backup): keep and report it.
        with self._db() as db:
            decided = set(
                db.scalars(
                    select(AuditEvent.image_id).where(
                        AuditEvent.action == "retention.delete", AuditEvent.image_id.in_(rowless)
                    )
                )
            )
        keys = [i for i in rowless if i in decided]
        report.unmatched_keys = [i for i in rowless if i not in decided]
        if report.unmatched_keys and not report.dry_run:
            self._record_unmatched(actor, report.unmatched_keys)
        keyed = set(self._keystore.list_ids())
        blobs = [r for r in _blob_refs(self._blobs, grace) if r not in blob_refs and r not in keyed]
        if report.dry_run:
            report.orphan_keys_removed = len(keys)
            report.orphan_blobs_removed = len(blobs)
            return
        for image_id in keys:
            try:
                with self._db.begin() as db:
                    self._audit.record(
                        db, category="image", action="retention.orphan_key", outcome="success",
                        actor=actor, image_id=image_id, details={"method": "crypto-shred"},
                    )  # fmt: skip
            except SealroomError:
                report.failed.append(image_id)
                continue
            # Its blob went with it, unless (never by ingest) a stored row names that reference.
            if self._shred(image_id, None if image_id in blob_refs else image_id):
                report.orphan_keys_removed += 1
            else:
                report.failed.append(image_id)
        for ref in blobs:
            with contextlib.suppress(SealroomError, OSError):
                self._blobs.delete(ref)
                report.orphan_blobs_removed += 1

    def _record_unmatched(self, actor: str, image_ids: list[str]) -> None:
        with self._db.begin() as db:
            self._audit.record(
                db, category="image", action="retention.unmatched_keys", outcome="failure", actor=actor,
                reason="no_metadata_row",
                details={"count": len(image_ids), "image_ids": image_ids[:50],
                         "remedy": "keys of images missing from the database (restored from an older "
                                   "backup?) were kept; restore the rows or delete the images by hand"},
            )  # fmt: skip

    def _record_run(self, actor: str, session_id: str | None, report: RetentionReport) -> None:
        with self._db.begin() as db:
            self._audit.record(
                db,
                category="admin",
                action="retention.run",
                outcome="failure" if report.failed else "success",
                actor=actor,
                session_id=session_id,
                details={
                    "dry_run": report.dry_run,
                    "due": len(report.due),
                    "deleted": len(report.deleted),
                    "held": len(report.held),
                    "failed": len(report.failed),
                    "orphan_keys": report.orphan_keys_removed,
                    "orphan_blobs": report.orphan_blobs_removed,
                    "unmatched_keys": len(report.unmatched_keys),
                },
            )

    # --- legal holds --------------------------------------------------------------------------------

    def place_hold(
        self,
        actor: str,
        *,
        case_id: str | None = None,
        image_id: str | None = None,
        reason: str,
        session_id: str | None = None,
    ) -> LegalHold:
        """Put a case or one image (exactly one of them) on legal hold: retention keeps it until the
        hold is released. Raises ``InputError`` for a bad target or an empty reason,
        ``NotFoundError`` for an unknown image. Audit: ``legal_hold.place``."""
        if (case_id is None) == (image_id is None):
            raise InputError("a legal hold covers exactly one case (case_id) or one image (image_id)")
        reason = clean_statement(
            reason, what="reason for the legal hold (the matter or instruction)", maximum=MAX_REASON_CHARS
        )
        if case_id is not None and not CASE_ID_PATTERN.match(case_id):
            raise InputError(
                "a case id is 1-128 characters: letters, digits and . _ : / # - "
                "(starting with a letter or digit)"
            )
        with self._db() as db:
            audit_case: str | None = case_id
            if image_id is not None:
                image = db.get(Image, image_id) if _ID.fullmatch(image_id) else None
                if image is None:
                    raise NotFoundError(f"no image {image_id!r} is stored; nothing was put on hold")
                audit_case = image.case_id
            hold = LegalHold(
                id=new_id(),
                case_id=case_id,
                image_id=image_id,
                reason=reason,
                placed_by=actor,
                placed_at=self._clock.now(),
            )
            db.add(hold)
            self._audit.record(
                db,
                category="admin",
                action="legal_hold.place",
                outcome="success",
                actor=actor,
                session_id=session_id,
                image_id=image_id,
                case_id=audit_case,
                details={
                    "hold_id": hold.id,
                    "target": "image" if image_id else "case",
                    "reason_chars": len(reason),
                },
            )
            db.commit()
            return hold

    def images_covered(self, hold: LegalHold) -> int:
        """How many stored images a hold covers now (a case hold may be placed before any arrive)."""
        with self._db() as db:
            if hold.image_id is not None:
                return 1 if db.get(Image, hold.image_id) is not None else 0
            return len(list(db.scalars(select(Image.id).where(Image.case_id == hold.case_id))))

    def release_hold(self, actor: str, hold_id: str, *, session_id: str | None = None) -> LegalHold:
        """Release a legal hold; what it covered falls under retention again from the next run.

        Raises ``NotFoundError`` for an unknown hold, ``ConflictError`` if it was released already.
        Audit: ``legal_hold.release``.
        """
        with self._db() as db:
            hold = db.get(LegalHold, hold_id) if _ID.fullmatch(hold_id) else None
            if hold is None:
                raise NotFoundError(f"no legal hold {hold_id!r}; list them with `sealroom hold list --all`")
            if hold.released_at is not None:
                raise ConflictError(
                    f"legal hold {hold_id} was already released on {hold.released_at:%Y-%m-%d %H:%M} UTC "
                    f"by {hold.released_by}"
                )
            hold.released_at = self._clock.now()
            hold.released_by = actor
            self._audit.record(
                db,
                category="admin",
                action="legal_hold.release",
                outcome="success",
                actor=actor,
                session_id=session_id,
                image_id=hold.image_id,
                case_id=hold.case_id,
                details={"hold_id": hold.id, "reason_chars": len(hold.reason)},
            )
            db.commit()
            return hold

    def list_holds(self, *, active_only: bool = True) -> list[LegalHold]:
        """Legal holds, oldest first; by default only those not released."""
        query = select(LegalHold).order_by(LegalHold.placed_at, LegalHold.id)
        if active_only:
            query = query.where(LegalHold.released_at.is_(None))
        with self._db() as db:
            return list(db.scalars(query))


def _blob_refs(blobs: BlobStore, min_age_seconds: float) -> list[str]:
    """References of stored blobs at least ``min_age_seconds`` old (by the file system's clock).

    Only the file blob store can be listed; other stores report none (their orphans stay).
    """
    if not isinstance(blobs, FileBlobStore):
        return []
    newest = time.time() - min_age_seconds
    found = []
    for shard in _scan(blobs.root):
        if not shard.is_dir(follow_symlinks=False):
            continue
        for entry in _scan(shard.path):
            if not _ID.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            with contextlib.suppress(FileNotFoundError):
                if entry.stat(follow_symlinks=False).st_mtime <= newest:
                    found.append(entry.name)
    return sorted(found)


def _scan(path: str | os.PathLike[str]) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(path))
    except OSError:
        return []
