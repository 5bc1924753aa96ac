"""Case grants: a user's time-limited right to reach one case, for a stated purpose.

Grants are created and revoked by administrators (the CLI for now). Each change is audited in the same
transaction: ``admin`` / ``admin.grant.create`` and ``admin`` / ``admin.grant.revoke``, with the case id
and the grant id. There are no wildcard grants: a grant names exactly one case.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealroom.clock import Clock
from sealroom.db.models import Grant, User
from sealroom.errors import ConflictError, InputError, NotFoundError
from sealroom.identity.interfaces import AuditSink
from sealroom.identity.service import canonical_username

CASE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,127}$")
MAX_PURPOSE = 512


class GrantService:
    """Creates, revokes and lists case grants.

    ``db_factory`` must keep loaded values after commit (``expire_on_commit=False``); returned grants
    are detached. ``max_duration``, when set, caps how long a grant may run.
    """

    def __init__(
        self,
        db_factory: Callable[[], Session],
        clock: Clock,
        audit: AuditSink,
        *,
        max_duration: timedelta | None = None,
    ) -> None:
        self._db = db_factory
        self._clock = clock
        self._audit = audit
        self._max_duration = max_duration

    def create_grant(
        self,
        username: str,
        case_id: str,
        purpose: str,
        *,
        granted_by: str,
        expires_at: datetime | None = None,
        duration: timedelta | None = None,
    ) -> Grant:
        """Grant ``username`` access to ``case_id`` until ``expires_at`` (or for ``duration``).

        Raises ``InputError`` for an empty purpose, a malformed or wildcard case id, an expiry that is
        missing, ambiguous, naive, not in the future or beyond ``max_duration``, or a disabled user;
        ``NotFoundError`` for an unknown user.
        """
        now = self._clock.now()
        case_id = case_id.strip()
        purpose = purpose.strip()
        if not purpose:
            raise InputError("a grant needs a purpose: say why this person needs the case")
        if len(purpose) > MAX_PURPOSE:
            raise InputError(f"the purpose is too long: at most {MAX_PURPOSE} characters")
        if "*" in case_id:
            raise InputError("wildcard grants are not supported: grant each case by its id")
        if not CASE_ID_PATTERN.match(case_id):
            raise InputError("a case id is 1-128 characters: letters, digits and . _ : / # -")
        expiry = self._expiry(now, expires_at, duration)
        with self._db() as db:
            user = db.scalar(select(User).where(User.username == canonical_username(username)))
            if user is None:
                raise NotFoundError(f"no user named {canonical_username(username)!r}")
            if user.disabled:
                raise InputError(f"{user.username} is disabled; enable the user before granting access")
            grant = self.add_grant(
                db,
                user_id=user.id,
                username=user.username,
                case_id=case_id,
                purpose=purpose,
                granted_by=granted_by,
                expires_at=expiry,
                source="admin",
            )
            db.commit()
            return grant

    def add_grant(
        self,
        db: Session,
        *,
        user_id: str,
        username: str,
        case_id: str,
        purpose: str,
        granted_by: str,
        expires_at: datetime,
        source: str,
        request_id: str | None = None,
    ) -> Grant:
        """Insert a grant and its ``admin.grant.create`` record in the caller's transaction (no commit).

        For services that create grants as part of a larger change (an approved request, break-glass);
        the caller has checked the case id, the user and the expiry.
        """
        grant = Grant(
            id=secrets.token_hex(16),
            user_id=user_id,
            case_id=case_id,
            purpose=purpose[:MAX_PURPOSE],
            granted_by=granted_by,
            created_at=self._clock.now(),
            expires_at=expires_at,
            revoked_at=None,
            source=source,
            request_id=request_id,
        )
        db.add(grant)
        db.flush()
        self._audit.record(
            db,
            category="admin",
            action="admin.grant.create",
            outcome="success",
            actor=granted_by,
            case_id=case_id,
            details={
                "grant_id": grant.id,
                "user": username,
                "expires_at": expires_at.isoformat(),
                "source": source,
                "request_id": request_id,
            },
        )
        return grant

    def revoke_grant(self, grant_id: str, *, revoked_by: str) -> Grant:
        """Revoke a grant now; ``NotFoundError`` for an unknown id, ``ConflictError`` if already revoked."""
        now = self._clock.now()
        with self._db() as db:
            grant = db.get(Grant, grant_id, with_for_update=True)
            if grant is None:
                raise NotFoundError(f"no grant with id {grant_id[:64]!r}")
            if grant.revoked_at is not None:
                raise ConflictError(f"grant {grant_id} was already revoked at {grant.revoked_at.isoformat()}")
            grant.revoked_at = now
            self._audit.record(
                db,
                category="admin",
                action="admin.grant.revoke",
                outcome="success",
                actor=revoked_by,
                case_id=grant.case_id,
                details={"grant_id": grant.id, "user_id": grant.user_id},
            )
            db.commit()
            return grant

    def list_grants(self, username: str | None = None, *, include_expired: bool = False) -> list[Grant]:
        """Grants (of one user, or all), newest first; only active ones unless ``include_expired``.

        ``include_expired`` also includes revoked grants. Raises ``NotFoundError`` for an unknown user.
        """
        now = self._clock.now()
        query = select(Grant).order_by(Grant.created_at.desc(), Grant.id)
        if not include_expired:
            query = query.where(Grant.revoked_at.is_(None), Grant.expires_at > now)
        with self._db() as db:
            if username is not None:
                name = canonical_username(username)
                user_id = db.scalar(select(User.id).where(User.username == name))
                if user_id is None:
                    raise NotFoundError(f"no user named {name!r}")
                query = query.where(Grant.user_id == user_id)
            return list(db.scalars(query))

    def active_grants(
        self, user_id: str, case_id: str | None = None, now: datetime | None = None
    ) -> list[Grant]:
        """The user's grants that are active at ``now`` (default: the clock), for one case or all."""
        at = now or self._clock.now()
        query = select(Grant).where(
            Grant.user_id == user_id, Grant.revoked_at.is_(None), Grant.expires_at > at
        )
        if case_id is not None:
            query = query.where(Grant.case_id == case_id)
        with self._db() as db:
            return list(db.scalars(query.order_by(Grant.expires_at.desc())))

    def _expiry(self, now: datetime, expires_at: datetime | None, duration: timedelta | None) -> datetime:
        if (expires_at is None) == (duration is None):
            raise InputError("give the grant either an expiry time or a duration (exactly one)")
        if duration is not None:
            if duration <= timedelta(0):
                raise InputError("a grant's duration must be positive")
            expires_at = now + duration
        assert expires_at is not None
        if expires_at.tzinfo is None:
            raise InputError("the expiry time needs a time zone (e.g. 2025-01-31T17:00:00+00:00)")
        if expires_at <= now:
            raise InputError(f"the expiry time {expires_at.isoformat()} is not in the future")
        if self._max_duration is not None and expires_at - now > self._max_duration:
            raise InputError(f"a grant may run at most {self._max_duration}; choose an earlier expiry")
        return expires_at
