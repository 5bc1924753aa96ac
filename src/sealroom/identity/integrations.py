"""Integration tokens: credentials for systems (not people) that manage case grants through the API.

An integration, e.g. a hospital's admission feed, holds one bearer token ``srint_…``; the workspace
stores only its SHA-256. A token opens nothing but the grants API (``/api/v1/grants``): it is never a
session, so it cannot read images, analyses or the audit log. Audit: ``admin.integration.create`` and
``admin.integration.revoke`` (category ``admin``), ``integration.auth`` failure for a revoked token
(category ``authentication``), and one ``access.decision`` allow per admitted call (category ``access``,
actor ``integration:<name>``).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.db.models import IntegrationToken
from sealroom.errors import AuthenticationError, ConflictError, InputError, NotFoundError

TOKEN_PREFIX = "srint_"  # noqa: S105  (a public prefix, not a secret)
"""Every integration token starts with this, so it is told apart from a session token at a glance."""
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}\Z")
INVALID_TOKEN = "the integration token is not valid"  # noqa: S105  (a message)


def is_integration_token(token: str) -> bool:
    """Whether ``token`` has the form of an integration token (not whether it is valid)."""
    return token.startswith(TOKEN_PREFIX)


def integration_actor(name: str) -> str:
    """The audit actor of an integration."""
    return f"integration:{name}"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class IntegrationService:
    """Issues, checks and revokes integration tokens.

    ``db`` must keep loaded values after commit (``expire_on_commit=False``); returned rows are
    detached.
    """

    def __init__(self, db: sessionmaker[Session], clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit

    def create(self, name: str, *, created_by: str) -> tuple[IntegrationToken, str]:
        """Register an integration and return it with its token, which is shown this once only.

        ``name`` is 1-64 lower-case letters, digits and dashes. Raises ``InputError`` for a bad name,
        ``ConflictError`` when the name is taken (revoked integrations keep theirs, for the audit
        trail). Audit: ``admin.integration.create``.
        """
        name = name.strip()
        if not NAME_PATTERN.match(name):
            raise InputError(
                "an integration name is 1-64 lower-case letters, digits and dashes, starting with a "
                "letter or digit (e.g. admissions-feed)"
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._db() as db:
            if db.scalar(select(IntegrationToken.id).where(IntegrationToken.name == name)) is not None:
                raise ConflictError(_taken(name))
            row = IntegrationToken(
                id=secrets.token_hex(16),
                name=name,
                token_hash=_token_hash(token),
                created_by=created_by,
                created_at=self._clock.now(),
                revoked_at=None,
                last_used_at=None,
            )
            db.add(row)
            try:
                db.flush()
            except IntegrityError:  # created at the same moment by someone else
                db.rollback()
                raise ConflictError(_taken(name)) from None
            self._audit.record(
                db,
                category="admin",
                action="admin.integration.create",
                outcome="success",
                actor=created_by,
                details={"integration": name, "integration_id": row.id},
            )
            db.commit()
            return row, token

    def authenticate(self, token: str, *, requested: str | None = None) -> IntegrationToken:
        """The live integration holding ``token``; notes when it was last used.

        With ``requested`` (e.g. ``grant:manage``), the admission is audited as an ``access.decision``
        allow in the same transaction. Raises ``AuthenticationError`` for an unknown or revoked token
        (the same message for both); a revoked token's use is audited as ``integration.auth`` failure.
        Successful checks are not audited on their own: the action the integration takes is.
        """
        if not is_integration_token(token):
            raise AuthenticationError(INVALID_TOKEN)
        now = self._clock.now()
        with self._db() as db:
            row = db.scalar(select(IntegrationToken).where(IntegrationToken.token_hash == _token_hash(token)))
            if row is None:
                raise AuthenticationError(INVALID_TOKEN)
            actor = integration_actor(row.name)
            if row.revoked_at is not None:
                # A revoked credential still in use is worth an investigator's attention.
                self._audit.record(
                    db,
                    category="authentication",
                    action="integration.auth",
                    outcome="failure",
                    actor=actor,
                    reason="token_revoked",
                    details={"integration": row.name, "integration_id": row.id},
                )
                db.commit()
                raise AuthenticationError(INVALID_TOKEN, reason="token_revoked")
            row.last_used_at = now
            if requested is not None:
                self._audit.record(
                    db,
                    category="access",
                    action="access.decision",
                    outcome="allow",
                    actor=actor,
                    reason="integration_token",
                    details={"requested": requested, "integration": row.name, "integration_id": row.id},
                )
            db.commit()
            return row

    def revoke(self, name: str, *, revoked_by: str) -> IntegrationToken:
        """Revoke an integration's token at once (its next call gets 401). The grants it created stay.

        Raises ``NotFoundError`` for an unknown name, ``ConflictError`` when already revoked.
        Audit: ``admin.integration.revoke``.
        """
        name = name.strip()
        with self._db() as db:
            row = db.scalar(select(IntegrationToken).where(IntegrationToken.name == name).with_for_update())
            if row is None:
                raise NotFoundError(f"no integration named {name[:64]!r}")
            if row.revoked_at is not None:
                raise ConflictError(
                    f"integration {row.name} was already revoked at {row.revoked_at.isoformat()}"
                )
            row.revoked_at = self._clock.now()
            self._audit.record(
                db,
                category="admin",
                action="admin.integration.revoke",
                outcome="success",
                actor=revoked_by,
                details={"integration": row.name, "integration_id": row.id},
            )
            db.commit()
            return row

    def list(self) -> list[IntegrationToken]:
        """Every integration, revoked ones included, by name."""
        with self._db() as db:
            return list(db.scalars(select(IntegrationToken).order_by(IntegrationToken.name)))


def _taken(name: str) -> str:
    return (
        f"an integration named {name} already exists (revoked integrations keep their name for the "
        "audit trail); choose another name"
    )
