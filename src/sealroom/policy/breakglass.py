"""Break-glass: immediate, time-boxed emergency access to a case, loud and reviewed. (Contract stub.)"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from sealroom.access import Gatekeeper
from sealroom.alerts import AlertDispatcher
from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.policy.grants import GrantService


class BreakGlassService:
    """Takes emergency access, raises the alert, keeps the review queue."""

    def __init__(
        self,
        db: sessionmaker[Session],
        settings: Settings,
        gate: Gatekeeper,
        clock: Clock,
        audit: AuditLog,
        alerts: AlertDispatcher,
        grants: GrantService,
    ) -> None:
        self._grants = grants
        self._db = db
        self._settings = settings
        self._gate = gate
        self._clock = clock
        self._audit = audit
        self._alerts = alerts
