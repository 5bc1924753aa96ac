"""Workspace session lifecycle: open, resolve (with idle and absolute timeouts), end and purge.

A session is the only container of decrypted image material. Ending it — logout, idle or absolute
timeout, or a server restart — destroys that material and records what was purged. Only a SHA-256 of
the bearer token is stored, so a stolen database holds no usable session.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import SessionSettings
from sealroom.db.models import SessionImage, User, WorkspaceSession
from sealroom.errors import SessionEndedError
from sealroom.material import SessionMaterial


@dataclass(frozen=True)
class ActiveSession:
    """A live session resolved from its token, with the user acting in it."""

    id: str
    user_id: str
    username: str
    roles: tuple[str, ...]
    created_at: datetime
    idle_expires_at: datetime
    absolute_expires_at: datetime
    mfa_verified_at: datetime | None


NO_SESSION = "your session has ended or is not valid; sign in again"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    """An opaque random id (128 bits, hex)."""
    return secrets.token_hex(16)


class SessionManager:
    """Opens, checks and ends workspace sessions and purges what they held."""

    def __init__(
        self,
        db: sessionmaker[Session],
        settings: SessionSettings,
        clock: Clock,
        audit: AuditLog,
        material: SessionMaterial,
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._audit = audit
        self.material = material
        self._hooks: list[Callable[[ActiveSession], ActiveSession]] = []

    @property
    def idle_timeout(self) -> timedelta:
        """How long a session may sit unused."""
        return timedelta(minutes=self._settings.idle_timeout_minutes)

    def open(
        self,
        user: User,
        *,
        mfa_verified: bool,
        token: str | None = None,
        expires_at: datetime | None = None,
        details: Mapping[str, object] | None = None,
        attach: Callable[[Session, str], None] | None = None,
    ) -> tuple[ActiveSession, str]:
        """Start a session for an authenticated user; returns it and its bearer token.

        ``token`` binds the session to a credential the caller already holds (an identity provider's
        access token) instead of a new random one; ``expires_at`` ends it earlier than the absolute
        timeout (when that credential expires). ``attach(db, session_id)`` adds rows that belong to the
        session in the same transaction; ``details`` go into the audit record. Audit: ``session.open``.
        """
        now = self._clock.now()
        token = token or secrets.token_urlsafe(32)
        absolute = now + timedelta(minutes=self._settings.absolute_timeout_minutes)
        row = WorkspaceSession(
            id=new_id(),
            token_hash=_token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            absolute_expires_at=min(absolute, expires_at) if expires_at else absolute,
            mfa_verified_at=now if mfa_verified else None,
        )
        with self._db.begin() as db:
            db.add(row)
            db.flush()
            if attach is not None:
                attach(db, row.id)
            self._audit.record(
                db,
                category="session",
                action="session.open",
                outcome="success",
                actor=user.username,
                session_id=row.id,
                details={
                    "mfa": mfa_verified,
                    "absolute_expires_at": row.absolute_expires_at.isoformat(),
                    **(details or {}),
                },
            )
        return self._active(row, user), token

    def known_token(self, token: str) -> bool:
        """Whether a session (open or ended) was ever bound to ``token``."""
        with self._db() as db:
            found = db.scalar(
                select(WorkspaceSession.id).where(WorkspaceSession.token_hash == _token_hash(token))
            )
        return found is not None

    def add_resolve_hook(self, hook: Callable[[ActiveSession], ActiveSession]) -> None:
        """Run ``hook`` on every session resolved from a token; it returns the session (with roles
        brought up to date) or ends it and raises ``SessionEndedError`` (single sign-on re-checks the
        person's roles and account this way)."""
        self._hooks.append(hook)

    def resolve(self, token: str) -> ActiveSession:
        """The live session for a token, touching its idle timer.

        Raises ``SessionEndedError`` when the token is unknown or the session is over; a session found
        past its idle or absolute limit is ended (and purged) here.
        """
        now = self._clock.now()
        with self._db.begin() as db:
            found = db.execute(
                select(WorkspaceSession, User)
                .join(User, User.id == WorkspaceSession.user_id)
                .where(WorkspaceSession.token_hash == _token_hash(token))
            ).first()
            # One answer for unknown and ended tokens: it must not tell whether a token was ever valid.
            if found is None or found[0].ended_at is not None:
                raise SessionEndedError(NO_SESSION)
            row, user = found
            expired = self._expiry_reason(row, now)
            if expired is None and user.disabled:
                expired = "user_disabled"
            if expired is None:
                row.last_seen_at = now
                active = self._active(row, user)
        if expired is None:
            for hook in self._hooks:
                active = hook(active)
            return active
        self.end(row.id, expired)
        raise SessionEndedError(f"the session ended ({expired.replace('_', ' ')}); sign in again")

    def end(self, session_id: str, reason: str) -> list[str]:
        """End a session and destroy its image material; returns the purged image ids.

        Idempotent: ending an ended session does nothing. Audit: ``session.end`` and ``session.purge``.
        """
        now = self._clock.now()
        purged = self.material.purge(session_id)
        with self._db.begin() as db:
            # Conditional update: of several requests ending the same session at once, exactly one
            # wins and records the end (SQLite has no SELECT ... FOR UPDATE).
            won = db.execute(  # type: ignore[attr-defined]  # an UPDATE's result has rowcount
                update(WorkspaceSession)
                .where(WorkspaceSession.id == session_id, WorkspaceSession.ended_at.is_(None))
                .values(ended_at=now, end_reason=reason)
            ).rowcount
            if not won:
                return purged
            row = db.get(WorkspaceSession, session_id)
            assert row is not None
            user = db.get(User, row.user_id)
            actor = user.username if user else row.user_id
            opened = list(
                db.scalars(
                    select(SessionImage.image_id).where(
                        SessionImage.session_id == session_id, SessionImage.purged_at.is_(None)
                    )
                )
            )
            db.execute(
                update(SessionImage)
                .where(SessionImage.session_id == session_id, SessionImage.purged_at.is_(None))
                .values(purged_at=now)
            )
            all_purged = sorted(set(opened) | set(purged))
            for action, details in (
                ("session.end", None),
                ("session.purge", {"images_purged": all_purged, "count": len(all_purged)}),
            ):
                self._audit.record(
                    db, category="session", action=action, outcome="success", actor=actor,
                    session_id=session_id, reason=reason, details=details,
                )  # fmt: skip
        return all_purged

    def check_live(self, session_id: str) -> None:
        """Raise ``SessionEndedError`` unless the session is still open and its user still enabled.

        Long requests call this before delivering, so a logout, a timeout or an operator disabling the
        user (from another process) while they ran ends the session here and nothing is delivered.
        """
        now = self._clock.now()
        with self._db() as db:
            found = db.execute(
                select(WorkspaceSession, User)
                .join(User, User.id == WorkspaceSession.user_id)
                .where(WorkspaceSession.id == session_id)
            ).first()
        if found is None or found[0].ended_at is not None or self.material.is_ended(session_id):
            self.end(session_id, "logout")
            raise SessionEndedError("the session ended during the request; nothing was delivered")
        row, user = found
        reason = "user_disabled" if user.disabled else self._expiry_reason(row, now)
        if reason is not None:
            self.end(session_id, reason)
            raise SessionEndedError("the session ended during the request; nothing was delivered")

    def end_expired(self) -> list[str]:
        """End every open session past its idle or absolute limit; returns their ids."""
        now = self._clock.now()
        with self._db() as db:
            rows = list(db.scalars(select(WorkspaceSession).where(WorkspaceSession.ended_at.is_(None))))
        ended = []
        for row in rows:
            reason = self._expiry_reason(row, now)
            if reason is not None:
                self.end(row.id, reason)
                ended.append(row.id)
        return ended

    def end_all_open(self, reason: str) -> list[str]:
        """End every session still open (at start-up after a restart, or at shutdown)."""
        with self._db() as db:
            ids = list(db.scalars(select(WorkspaceSession.id).where(WorkspaceSession.ended_at.is_(None))))
        for session_id in ids:
            self.end(session_id, reason)
        return ids

    def record_opened(self, db: Session, session_id: str, image_id: str) -> None:
        """Note (inside the caller's transaction) that a session opened an image."""
        if db.get(SessionImage, (session_id, image_id)) is None:
            db.add(SessionImage(session_id=session_id, image_id=image_id, opened_at=self._clock.now()))

    def current(self, session_id: str) -> ActiveSession:
        """The open session ``session_id`` as it is now (roles re-read); ``SessionEndedError`` when over."""
        with self._db() as db:
            return self._active(*self._open_row(db, session_id))

    def is_open(self, session_id: str) -> bool:
        """Whether the session exists and has not ended."""
        try:
            self.current(session_id)
        except SessionEndedError:
            return False
        return True

    def mark_mfa(self, session_id: str) -> ActiveSession:
        """Record a fresh second-factor check in the session (step-up); returns the updated session.

        Raises ``SessionEndedError`` when the session is over.
        """
        with self._db.begin() as db:
            row, user = self._open_row(db, session_id)
            row.mfa_verified_at = self._clock.now()
            return self._active(row, user)

    def _open_row(self, db: Session, session_id: str) -> tuple[WorkspaceSession, User]:
        found = db.execute(
            select(WorkspaceSession, User)
            .join(User, User.id == WorkspaceSession.user_id)
            .where(WorkspaceSession.id == session_id)
        ).first()
        if found is None or found[0].ended_at is not None:
            raise SessionEndedError(NO_SESSION)
        return found[0], found[1]

    def _expiry_reason(self, row: WorkspaceSession, now: datetime) -> str | None:
        if now >= row.absolute_expires_at:
            return "absolute_timeout"
        if now >= row.last_seen_at + self.idle_timeout:
            return "idle_timeout"
        return None

    def _active(self, row: WorkspaceSession, user: User) -> ActiveSession:
        return ActiveSession(
            id=row.id,
            user_id=user.id,
            username=user.username,
            roles=tuple(user.roles),
            created_at=row.created_at,
            idle_expires_at=min(row.last_seen_at + self.idle_timeout, row.absolute_expires_at),
            absolute_expires_at=row.absolute_expires_at,
            mfa_verified_at=row.mfa_verified_at,
        )
