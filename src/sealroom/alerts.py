"""Alerts raised at once (break-glass use) to a webhook and/or syslog. (Contract stub.)"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import AlertSettings


class AlertDispatcher:
    """Sends alerts to the configured sinks without blocking the request that raised them."""

    def __init__(
        self, settings: AlertSettings, db: sessionmaker[Session], audit: AuditLog, clock: Clock
    ) -> None:
        self._settings = settings
        self._db = db
        self._audit = audit
        self._clock = clock

    def close(self) -> None:
        """Wait (bounded) for alerts in flight, then stop."""
