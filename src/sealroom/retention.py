"""Retention: crypto-shred images past their data set's retention, except under legal hold. (Stub.)"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.sessions import SessionManager
from sealroom.vault.blobstore import BlobStore
from sealroom.vault.keystore import DataKeyStore


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

    def run_if_due(self) -> None:
        """Run the retention pass when ``retention.interval_minutes`` have passed since the last."""
