"""Access requests: a user asks for a case, a data set or a role; others approve or deny.

(Contract stub — being implemented.)
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from sealroom.access import Gatekeeper
from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.policy.grants import GrantService


class RequestService:
    """Submits, reviews, lists and expires access and export requests."""

    def __init__(
        self,
        db: sessionmaker[Session],
        settings: Settings,
        clock: Clock,
        audit: AuditLog,
        grants: GrantService,
        gate: Gatekeeper,
    ) -> None:
        self._gate = gate
        self._db = db
        self._settings = settings
        self._clock = clock
        self._audit = audit
        self._grants = grants

    def expire_due(self) -> int:
        """Expire undecided requests and approved access that ran out; returns how many changed."""
        return 0
