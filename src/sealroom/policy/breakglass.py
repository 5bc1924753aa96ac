"""Break-glass: immediate, time-boxed emergency access to a case, loud and reviewed. (Contract stub.)"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from sealroom.alerts import AlertDispatcher
from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.policy.engine import PolicyEngine


class BreakGlassService:
    """Takes emergency access, raises the alert, keeps the review queue."""

    def __init__(
        self,
        db: sessionmaker[Session],
        settings: Settings,
        policy: PolicyEngine,
        clock: Clock,
        audit: AuditLog,
        alerts: AlertDispatcher,
    ) -> None:
        self._db = db
        self._settings = settings
        self._policy = policy
        self._clock = clock
        self._audit = audit
        self._alerts = alerts
