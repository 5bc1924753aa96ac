"""Case grants: a user's time-limited right to reach one case, for a stated purpose.

Grants are created by administrators (the CLI's operator, or a signed-in ``workspace:admin`` through the
API), by integrations (a system holding an integration token, e.g. an admission feed), by approved
access requests and by break-glass. Each change is audited in the same transaction: ``admin`` /
``admin.grant.create`` (with the grant's ``source``) and ``admin`` / ``admin.grant.revoke``, with the case
id and the grant id. There are no wildcard grants: a grant names exactly one case; a set of cases is
granted as one grant per case, all or none.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealroom.clock import Clock
from sealroom.db.models import Grant, User
from sealroom.errors import AccessDeniedError, ConflictError, InputError, NotFoundError
from sealroom.identity.interfaces import AuditSink
from sealroom.identity.service import canonical_username

# \Z, not $: "$" also matches before a final newline, so "CASE\n" would pass.
CASE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,127}\Z")
MAX_PURPOSE = 512
MAX_CASES_PER_CALL = 100
CREATE_SOURCES = ("admin", "integration")
"""Sources ``create_grants`` accepts; requests and break-glass insert through ``add_grant``."""


def grant_status(grant: Grant, now: datetime) -> str:
    """``revoked``, ``expired`` or ``active`` at ``now`` (revocation wins over expiry)."""
    if grant.revoked_at is not None:
        return "revoked"
    return "expired" if grant.expires_at <= now else "active"


@dataclass(frozen=True)
class GrantView:
    """A grant as shown to administrators and integrations: with the user's name and its status."""

    grant: Grant
    username: str
    status: str

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the API (times in ISO 8601, UTC)."""
        grant = self.grant
        return {
            "id": grant.id,
            "username": self.username,
            "case_id": grant.case_id,
            "purpose": grant.purpose,
            "source": grant.source,
            "granted_by": grant.granted_by,
            "request_id": grant.request_id,
            "created_at": grant.created_at.isoformat(),
            "expires_at": grant.expires_at.isoformat(),
            "revoked_at": grant.revoked_at.isoformat() if grant.revoked_at else None,
            "status": self.status,
        }


def _shown(value: str, limit: int = 64) -> str:
    """A user-typed value quoted safely in an error message: bounded, escaped when not printable."""
    clipped = value[:limit] + ("…" if len(value) > limit else "")
    return repr(clipped) if clipped.isprintable() else ascii(clipped)


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

        The one-case form of ``create_grants`` (source ``admin``); raises as it does.
        """
        (grant,) = self.create_grants(
            username, [case_id], purpose, granted_by=granted_by, expires_at=expires_at, duration=duration
        )
        return grant

    def create_grants(
        self,
        username: str,
        case_ids: Sequence[str],
        purpose: str,
        *,
        granted_by: str,
        expires_at: datetime | None = None,
        duration: timedelta | None = None,
        source: str = "admin",
    ) -> list[Grant]:
        """Grant ``username`` one grant per case in ``case_ids``, all until the same expiry; all or none.

        Every input is checked before anything is written, and the grants commit in one transaction,
        each with its ``admin.grant.create`` record (``source`` is ``admin`` or ``integration``).
        Raises ``InputError`` for an empty or too long purpose; no case, more than
        ``MAX_CASES_PER_CALL``, a malformed, wildcard or repeated case id; an expiry that is missing,
        ambiguous, naive, not in the future or beyond ``max_duration``; or a disabled user.
        ``NotFoundError`` for an unknown user, ``AccessDeniedError`` when ``granted_by`` is the user
        (nobody grants themselves access: that is what access requests are for).
        """
        if source not in CREATE_SOURCES:
            raise ValueError(f"create_grants makes {CREATE_SOURCES} grants, not {source!r}")
        now = self._clock.now()
        purpose = purpose.strip()
        if not purpose:
            raise InputError("a grant needs a purpose: say why this person needs the case")
        if len(purpose) > MAX_PURPOSE:
            raise InputError(f"the purpose is too long: at most {MAX_PURPOSE} characters")
        cases = self._checked_cases(case_ids)
        expiry = self._expiry(now, expires_at, duration)
        with self._db() as db:
            user = db.scalar(select(User).where(User.username == canonical_username(username)))
            if user is None:
                raise NotFoundError(f"no user named {_shown(canonical_username(username), 128)}")
            if user.disabled:
                raise InputError(f"{user.username} is disabled; enable the user before granting access")
            if granted_by == user.username:
                raise AccessDeniedError(
                    "you cannot grant yourself access; ask another administrator, or file an access "
                    "request for approval",
                    reason="self_grant",
                )
            grants = [
                self.add_grant(
                    db,
                    user_id=user.id,
                    username=user.username,
                    case_id=case_id,
                    purpose=purpose,
                    granted_by=granted_by,
                    expires_at=expiry,
                    source=source,
                )
                for case_id in cases
            ]
            db.commit()
            return grants

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

    def list_grants(
        self,
        username: str | None = None,
        *,
        include_expired: bool = False,
        case_id: str | None = None,
    ) -> list[Grant]:
        """Grants (of one user, or all; of one case, or all), newest first; only active ones unless
        ``include_expired``.

        ``include_expired`` also includes revoked grants. Raises ``NotFoundError`` for an unknown user.
        """
        return [
            view.grant for view in self.list_views(username, include_expired=include_expired, case_id=case_id)
        ]

    def list_views(
        self,
        username: str | None = None,
        *,
        include_expired: bool = False,
        case_id: str | None = None,
    ) -> list[GrantView]:
        """Like ``list_grants``, with each grant's user name and status."""
        now = self._clock.now()
        query = (
            select(Grant, User.username)
            .join(User, User.id == Grant.user_id)
            .order_by(Grant.created_at.desc(), Grant.id)
        )
        if not include_expired:
            query = query.where(Grant.revoked_at.is_(None), Grant.expires_at > now)
        if case_id is not None:
            query = query.where(Grant.case_id == case_id.strip())
        with self._db() as db:
            if username is not None:
                name = canonical_username(username)
                user_id = db.scalar(select(User.id).where(User.username == name))
                if user_id is None:
                    raise NotFoundError(f"no user named {_shown(name, 128)}")
                query = query.where(Grant.user_id == user_id)
            return [
                GrantView(grant, name, grant_status(grant, now)) for grant, name in db.execute(query).tuples()
            ]

    def view(self, grant_id: str) -> GrantView:
        """One grant with its user name and status; ``NotFoundError`` for an unknown id."""
        with self._db() as db:
            found = db.execute(
                select(Grant, User.username).join(User, User.id == Grant.user_id).where(Grant.id == grant_id)
            ).first()
            if found is None:
                raise NotFoundError(f"no grant with id {_shown(grant_id)}")
            grant, username = found.tuple()
            return GrantView(grant, username, grant_status(grant, self._clock.now()))

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

    @staticmethod
    def _checked_cases(case_ids: Sequence[str]) -> list[str]:
        if isinstance(case_ids, str):
            raise TypeError("case_ids is a sequence of case ids, not one string")
        cases = [case_id.strip() for case_id in case_ids]
        if not cases:
            raise InputError("name at least one case to grant")
        if len(cases) > MAX_CASES_PER_CALL:
            raise InputError(f"{len(cases)} cases in one call; at most {MAX_CASES_PER_CALL} (split the list)")
        seen: set[str] = set()
        for number, case_id in enumerate(cases, start=1):
            where = f"case {number} ({_shown(case_id)})" if len(cases) > 1 else f"case {_shown(case_id)}"
            if "*" in case_id:
                raise InputError(
                    f"{where}: wildcard grants are not supported: grant each case by its id; "
                    "nothing was granted"
                )
            if not CASE_ID_PATTERN.match(case_id):
                raise InputError(
                    f"{where}: a case id is 1-128 characters: letters, digits and . _ : / # -; "
                    "nothing was granted"
                )
            if case_id in seen:
                raise InputError(f"{where} is listed twice; name each case once; nothing was granted")
            seen.add(case_id)
        return cases

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
            raise InputError(
                f"a grant may run at most {_span(self._max_duration)} (access.grant_max_days); "
                "choose an earlier expiry or a shorter duration"
            )
        return expires_at.astimezone(UTC)


def _span(duration: timedelta) -> str:
    if duration % timedelta(days=1) == timedelta(0):
        days = duration // timedelta(days=1)
        return f"{days} day{'s' if days != 1 else ''}"
    return str(duration)
