"""Integration tokens: credentials for systems that manage case grants through the API. (Stub.)"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from sealroom.audit.log import AuditLog
from sealroom.clock import Clock


class IntegrationService:
    """Issues, checks and revokes integration tokens."""

    def __init__(self, db: sessionmaker[Session], clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit
