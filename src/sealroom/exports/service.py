"""Export requests and their single delivery. (Contract stub.)"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from sealroom.access import Gatekeeper
from sealroom.analysis.registry import EngineRegistry
from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.vault.service import VaultService


class ExportService:
    """Creates export requests and delivers approved ones exactly once."""

    def __init__(
        self,
        db: sessionmaker[Session],
        settings: Settings,
        clock: Clock,
        audit: AuditLog,
        gate: Gatekeeper,
        vault: VaultService,
        engines: EngineRegistry,
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._audit = audit
        self._gate = gate
        self._vault = vault
        self._engines = engines
