"""Image vault service: ingest (validate, encrypt, store, audit) and open into a session.

Ingest order is chosen so a failure at any step leaves nothing behind: the file is fully validated
in memory first; the ciphertext is written next, then the wrapped data key (to the key store, apart
from the database); the metadata row and its audit record commit together; if that commit fails the
key is destroyed and the ciphertext deleted again.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sealroom.access import Gatekeeper, printable
from sealroom.analysis.models import PageImage
from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.db.models import Grant, Image
from sealroom.errors import ConflictError, InputError, NotFoundError, SealroomError, StorageError
from sealroom.keys import KeyProvider
from sealroom.material import OpenedImage
from sealroom.policy.grants import CASE_ID_PATTERN
from sealroom.sessions import ActiveSession, SessionManager, new_id
from sealroom.vault.blobstore import BlobStore
from sealroom.vault.decode import decode_document
from sealroom.vault.envelope import SealIntegrityError, open_sealed, seal
from sealroom.vault.keystore import DataKeyDestroyedError, DataKeyStore


@dataclass(frozen=True)
class IngestRequest:
    """What the caller says about a file: where it belongs. The file's type comes from its content."""

    dataset: str
    case_id: str
    document_type: str
    classification: str | None = None


def image_metadata(image: Image) -> dict[str, Any]:
    """The metadata of an image that may be shown to anyone allowed to see it (no pixels)."""
    return {
        "id": image.id,
        "dataset": image.dataset,
        "classification": image.classification,
        "case_id": image.case_id,
        "document_type": image.document_type,
        "media_type": image.media_type,
        "pages": image.page_count,
        "width": image.width,
        "height": image.height,
        "bytes": image.byte_size,
        "sha256": image.sha256,
        "ingested_by": image.ingested_by,
        "ingested_at": image.ingested_at.isoformat(),
    }


class VaultService:
    """Stores images encrypted and opens them into sessions, under policy."""

    def __init__(
        self,
        db: sessionmaker[Session],
        settings: Settings,
        keys: KeyProvider,
        blobs: BlobStore,
        gate: Gatekeeper,
        audit: AuditLog,
        sessions: SessionManager,
        clock: Clock,
        keystore: DataKeyStore,
    ) -> None:
        self._db = db
        self._keystore = keystore
        self._settings = settings
        self._keys = keys
        self._blobs = blobs
        self._gate = gate
        self._audit = audit
        self._sessions = sessions
        self._clock = clock
        self._opening = threading.Lock()

    def ingest(self, actor: ActiveSession, data: bytes, request: IngestRequest) -> dict[str, Any]:
        """Validate, encrypt and store one file; returns its metadata.

        Raises ``InputError``/``BadImageError``/``TooLargeError`` for bad requests or files (audited as
        ``image.ingest`` failure, nothing stored), ``AccessDeniedError`` when the role may not ingest
        there. Audit: ``access.decision``, ``image.ingest``.
        """
        dataset = self._settings.datasets.get(request.dataset)
        classification = request.classification or (dataset.default_classification if dataset else "")
        with self._db() as db:
            # Authorise first: only someone allowed to ingest here learns anything about the request.
            # Policy scopes name only configured data sets, classifications and types, so an allow
            # also means these are valid.
            self._gate.require(
                db,
                actor,
                "image:ingest",
                dataset=request.dataset,
                classification=classification,
                document_type=request.document_type,
            )
            db.commit()  # the decision is on record; decoding below holds no database lock
            try:
                self._validate_request(request, classification)
            except InputError as exc:
                self._audit_refusal(db, actor, request, exc, len(data))
                raise
            try:
                document = decode_document(data, self._settings.limits)
            except SealroomError as exc:
                self._audit_refusal(db, actor, request, exc, len(data))
                raise
            for page in document.pages:
                page.close()
            image_id = new_id()
            sealed = seal(image_id, data, self._keys)
            blob_ref = image_id
            image = Image(
                id=image_id,
                dataset=request.dataset,
                classification=classification,
                case_id=request.case_id,
                document_type=request.document_type,
                media_type=document.media_type,
                page_count=document.page_count,
                width=document.width,
                height=document.height,
                byte_size=len(data),
                sha256=sealed.sha256,
                wrapped_key=b"",  # the key lives in the key store, never in the database
                key_id=sealed.key_id,
                blob_ref=blob_ref,
                ingested_by=actor.username,
                ingested_at=self._clock.now(),
            )
            try:
                self._blobs.put(blob_ref, sealed.ciphertext)
            except StorageError as exc:
                self._audit_refusal(db, actor, request, exc, len(data))
                raise
            try:
                self._keystore.put(image_id, sealed.wrapped_key)
            except StorageError as exc:
                self._blobs.delete(blob_ref)
                self._audit_refusal(db, actor, request, exc, len(data))
                raise
            try:
                db.add(image)
                self._audit.record(
                    db,
                    category="image",
                    action="image.ingest",
                    outcome="success",
                    actor=actor.username,
                    session_id=actor.id,
                    image_id=image_id,
                    case_id=request.case_id,
                    details={
                        "dataset": request.dataset,
                        "classification": classification,
                        "document_type": request.document_type,
                        "media_type": document.media_type,
                        "pages": document.page_count,
                        "bytes": len(data),
                        "sha256": sealed.sha256,
                    },
                )
                db.commit()
            except BaseException:
                db.rollback()
                with contextlib.suppress(StorageError):  # left over: the retention pass removes it
                    self._keystore.destroy(image_id)
                self._blobs.delete(blob_ref)
                raise
            return image_metadata(image)

    def move_legacy_keys(self, actor: str = "system:vault") -> int:
        """Move wrapped data keys still held in database rows to the key store; returns how many.

        Rows written before the key store existed carry their key in ``images.wrapped_key``, where
        every database backup would keep it. Each key is stored first, then the column is blanked
        and the move audited (``vault.keys_moved``) in one transaction; a run cut short is finished
        by the next (a key already stored with the same bytes counts as moved).
        """
        with self._db() as db:
            rows = list(db.scalars(select(Image).where(func.length(Image.wrapped_key) > 0)))
            if not rows:
                return 0
            for image in rows:
                try:
                    self._keystore.put(image.id, image.wrapped_key)
                except ConflictError:
                    if not hmac.compare_digest(self._keystore.get(image.id), image.wrapped_key):
                        raise StorageError(
                            f"image {image.id} has a different data key in the key store than in "
                            "the database; nothing was changed, restore the key folder from backup"
                        ) from None
                image.wrapped_key = b""
            self._audit.record(
                db,
                category="admin",
                action="vault.keys_moved",
                outcome="success",
                actor=actor,
                details={"count": len(rows)},
            )
            db.commit()
            return len(rows)

    def record_refusal(self, actor: ActiveSession, request: IngestRequest, error: SealroomError) -> None:
        """Audit a file refused before it reached ``ingest`` (e.g. cut off at the size limit)."""
        with self._db() as db:
            self._audit_refusal(db, actor, request, error, None)

    def _audit_refusal(
        self,
        db: Session,
        actor: ActiveSession,
        request: IngestRequest,
        error: SealroomError,
        size: int | None,
    ) -> None:
        self._audit.record(
            db,
            category="image",
            action="image.ingest",
            outcome="failure",
            actor=actor.username,
            session_id=actor.id,
            # A refused request's values are user-typed: only a well-formed case id is kept as such.
            case_id=request.case_id if CASE_ID_PATTERN.match(request.case_id) else None,
            reason=error.code,
            details={"dataset": printable(request.dataset), "bytes": size, "problem": error.message[:300]},
        )
        db.commit()

    def list_images(self, actor: ActiveSession) -> list[dict[str, Any]]:
        """Metadata of the images the actor may see: role scope plus an active case grant.

        Audit: one ``access.decision`` for the listing itself.
        """
        now = self._clock.now()
        with self._db() as db:
            self._gate.require(db, actor, "metadata:view")
            case_ids = select(Grant.case_id).where(
                Grant.user_id == actor.user_id, Grant.revoked_at.is_(None), Grant.expires_at > now
            )
            candidates = db.scalars(
                select(Image).where(Image.case_id.in_(case_ids)).order_by(Image.ingested_at)
            )
            elevations = [(e.role, e.dataset) for e in self._gate.elevations(db, actor)]
            visible = [
                image_metadata(image)
                for image in candidates
                if self._gate.policy.decide(
                    list(actor.roles),
                    "metadata:view",
                    dataset=image.dataset,
                    classification=image.classification,
                    document_type=image.document_type,
                    case_grants=self._grants(db, actor, image.case_id),
                    case_id=image.case_id,
                    now=now,
                    elevations=elevations,
                ).allowed
            ]
            db.commit()
            return visible

    def describe(self, actor: ActiveSession, image_id: str) -> dict[str, Any]:
        """Metadata of one image, if the actor may see it. Audit: ``access.decision``."""
        with self._db() as db:
            image = db.get(Image, image_id)
            if image is None:
                raise self._gate.missing_image(db, actor, "metadata:view", image_id)
            self._gate.require(db, actor, "metadata:view", image=image)
            db.commit()
            return image_metadata(image)

    def open_into_session(self, db: Session, actor: ActiveSession, image: Image) -> OpenedImage:
        """Decrypt an image into the actor's session memory (or reuse what it holds).

        The caller has already authorised the access in ``db``. Audit: ``image.open`` when decrypted.
        """
        with self._opening:
            # One decrypt per image and session, even when two requests of the session race.
            held = self._sessions.material.get(actor.id, image.id)
            if held is not None:
                return held
            return self._decrypt_into_session(db, actor, image)

    def _decrypt_into_session(self, db: Session, actor: ActiveSession, image: Image) -> OpenedImage:
        try:
            # A row not yet moved to the key store (``move_legacy_keys``) still carries its key.
            wrapped = image.wrapped_key or self._keystore.get(image.id)
            plaintext = bytearray(open_sealed(image.id, self._blobs.get(image.blob_ref), wrapped, self._keys))
        except (NotFoundError, StorageError, SealIntegrityError) as exc:
            # Keep the internal error (file names) out of the answer; the audit keeps its kind.
            self._audit.record(
                db, category="image", action="image.open", outcome="failure", actor=actor.username,
                session_id=actor.id, image_id=image.id, case_id=image.case_id, reason=exc.code,
            )  # fmt: skip
            db.commit()
            if isinstance(exc, DataKeyDestroyedError):
                raise
            if isinstance(exc, SealIntegrityError):
                raise StorageError(
                    "the stored image failed its integrity check (damaged or altered); "
                    "ask the operator to restore it from backup"
                ) from exc
            raise StorageError(
                "the stored image could not be read; ask the operator to check the blob store"
            ) from exc

        digest = hashlib.sha256(plaintext).hexdigest()
        if not hmac.compare_digest(digest, image.sha256):
            raise SealroomError("stored image does not match its recorded SHA-256; refusing to use it")
        document = decode_document(bytes(plaintext), self._settings.limits)
        opened = OpenedImage(
            image_id=image.id,
            plaintext=plaintext,
            pages=[PageImage(index, page) for index, page in enumerate(document.pages)],
        )
        self._sessions.material.put(actor.id, opened)
        self._sessions.record_opened(db, actor.id, image.id)
        self._audit.record(
            db,
            category="image",
            action="image.open",
            outcome="success",
            actor=actor.username,
            session_id=actor.id,
            image_id=image.id,
            case_id=image.case_id,
            details={"pages": document.page_count, "sha256": image.sha256},
        )
        return opened

    def session_ended(self, actor: ActiveSession) -> bool:
        """Whether the actor's session has been purged since the request started."""
        return self._sessions.material.is_ended(actor.id)

    def check_session_live(self, actor: ActiveSession) -> None:
        """Raise ``SessionEndedError`` if the actor's session ended while the request ran."""
        self._sessions.check_live(actor.id)

    def _validate_request(self, request: IngestRequest, classification: str) -> None:
        default = self._settings.datasets[request.dataset].default_classification
        if self._settings.classification_rank(classification) < self._settings.classification_rank(default):
            raise InputError(
                f"classification {classification!r} is below the data set's floor {default!r}; "
                "images may be filed higher than their data set's default, never lower"
            )
        if not CASE_ID_PATTERN.match(request.case_id):
            raise InputError(
                "a case id is 1-128 characters: letters, digits and . _ : / # - "
                "(starting with a letter or digit)"
            )

    @staticmethod
    def _grants(db: Session, actor: ActiveSession, case_id: str) -> list[Grant]:
        return list(db.scalars(select(Grant).where(Grant.user_id == actor.user_id, Grant.case_id == case_id)))
