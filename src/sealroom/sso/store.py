"""What single sign-on keeps in the database: pending sign-ins, single-use values already seen, and the
link from a workspace session to its provider session. Secrets are sealed with the workspace key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sealroom.db.models import SsoPending, SsoSeen, SsoSessionLink
from sealroom.keys import WorkspaceKeys

PENDING_LIFETIME = timedelta(minutes=10)
"""How long a person has at the provider (and then for a second-factor code) to finish signing in."""


def value_hash(value: str) -> str:
    """SHA-256 of a random value kept by the browser (only the hash is stored)."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class Pending:
    """A sign-in begun and taken back from the store (once)."""

    provider: str
    purpose: str
    next_path: str
    session_id: str | None
    user_id: str | None
    created_at: datetime
    expires_at: datetime
    secrets: dict[str, Any]


class SsoStore:
    """Reads and writes the SSO tables inside the caller's transaction."""

    def __init__(self, keys: WorkspaceKeys) -> None:
        self._keys = keys

    def seal(self, value: str | None, context: str) -> bytes | None:
        """``value`` sealed with the workspace key under ``context`` (None stays None)."""
        return None if value is None else self._keys.seal(value.encode(), f"sso:{context}")

    def unseal(self, sealed: bytes | None, context: str) -> str | None:
        """The inverse of ``seal``."""
        return None if sealed is None else self._keys.unseal(sealed, f"sso:{context}").decode()

    def put_pending(
        self,
        db: Session,
        key: str,
        *,
        provider: str,
        purpose: str,
        next_path: str,
        now: datetime,
        secrets: dict[str, Any],
        session_id: str | None = None,
        user_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        """Remember a sign-in step under the browser's random ``key`` (for ``PENDING_LIFETIME``, or
        until ``expires_at`` when a step is put back)."""
        db.execute(delete(SsoPending).where(SsoPending.expires_at <= now))
        db.add(
            SsoPending(
                key_hash=value_hash(key),
                provider=provider,
                purpose=purpose,
                secret_enc=self._keys.seal(json.dumps(secrets).encode(), "sso:pending"),
                next_path=next_path,
                session_id=session_id,
                user_id=user_id,
                created_at=now,
                expires_at=expires_at or now + PENDING_LIFETIME,
            )
        )

    def take_pending(self, db: Session, key: str, purposes: tuple[str, ...], now: datetime) -> Pending | None:
        """The live pending step for ``key`` with one of ``purposes``, removed so it works once."""
        row = db.get(SsoPending, value_hash(key))
        if row is None or row.purpose not in purposes:
            return None
        db.delete(row)
        if row.expires_at <= now:
            return None
        secrets = json.loads(self._keys.unseal(row.secret_enc, "sso:pending"))
        return Pending(
            row.provider,
            row.purpose,
            row.next_path,
            row.session_id,
            row.user_id,
            row.created_at,
            row.expires_at,
            secrets,
        )

    def first_use(self, db: Session, kind: str, value: str, *, now: datetime, keep_until: datetime) -> bool:
        """Record a single-use value (a nonce, a logout token's id) until ``keep_until``, after which
        its token is refused as expired anyway; False when it was seen before."""
        key = value_hash(f"{kind}:{value}")
        db.execute(delete(SsoSeen).where(SsoSeen.expires_at <= now))
        if db.get(SsoSeen, key) is not None:
            return False
        try:
            with db.begin_nested():
                db.add(SsoSeen(key_hash=key, expires_at=keep_until))
        except IntegrityError:  # a concurrent request recorded it first
            return False
        return True

    def link(self, db: Session, session_id: str) -> SsoSessionLink | None:
        """The SSO link of a session, if it was opened by single sign-on."""
        return db.get(SsoSessionLink, session_id)

    def open_links(self, db: Session, provider: str, *, sid: str | None, subject: str | None) -> list[str]:
        """Session ids linked to a provider session (by ``sid``) or, without one, to a person (``sub``)."""
        query = select(SsoSessionLink.session_id).where(SsoSessionLink.provider == provider)
        if sid is not None:
            query = query.where(SsoSessionLink.idp_sid == sid)
        elif subject is not None:
            query = query.where(SsoSessionLink.subject == subject)
        else:
            return []
        return list(db.scalars(query))
