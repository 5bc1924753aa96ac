"""Enrolment links: how a person sets up their second factor (and a new account's password) in the
browser, without the password alone ever being enough to sign in.

An administrator issues a link for an account: ``new_user`` for an account created without a usable
password, ``reset_mfa`` for a lost authenticator (the old factor is withdrawn at once, so the account
cannot sign in until the link is used). The link carries a random token; only its SHA-256 is stored.
Opening the link shows a fresh TOTP seed (as a QR code); the enrolment completes only when a code from
that seed is confirmed, together with the new password (``new_user``) or the current one
(``reset_mfa``). A link works once, expires after ``login.invitation_hours``, is replaced by a newer
link for the same account, and is withdrawn after ``MAX_FAILURES`` wrong codes or passwords.

Audit (category ``admin`` / ``authentication``): ``admin.user.invite`` (who issued which kind, for
whom), ``auth.mfa.reset`` (the old factor withdrawn), ``auth.mfa.enroll`` (completed through the
link, actor the user), ``auth.enrol`` failures with the reason (``bad_code``, ``bad_password``,
``link_withdrawn``). Tokens, seeds, codes and passwords are never recorded.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.db.models import EnrolmentInvitation, User
from sealroom.errors import AuthenticationError, GoneError, InputError, NotFoundError
from sealroom.identity import totp
from sealroom.identity.interfaces import AuditSink
from sealroom.identity.passwords import PasswordHashing, check_password_policy
from sealroom.identity.service import canonical_username
from sealroom.keys import WorkspaceKeys

InvitationKind = Literal["new_user", "reset_mfa"]
MAX_FAILURES = 5
ENROL_PATH = "/enrol/"
LINK_UNUSABLE = (
    "this enrolment link is not valid (used, replaced, withdrawn or expired); ask an administrator"
)


@dataclass(frozen=True)
class IssuedInvitation:
    """A new link's token (shown once to the administrator who passes it on) and when it ends."""

    username: str
    kind: InvitationKind
    expires_at: datetime
    token: str = field(repr=False)

    @property
    def path(self) -> str:
        """The link's path on the Sealroom server."""
        return ENROL_PATH + self.token


@dataclass(frozen=True)
class EnrolmentPage:
    """What the enrolment page shows: whose account, and the seed to scan (``repr`` hides it)."""

    username: str
    kind: InvitationKind
    expires_at: datetime
    secret: str = field(repr=False)
    provisioning_uri: str = field(repr=False)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _pending_context(invitation_id: str) -> str:
    return f"enrol:{invitation_id}"


class InvitationService:
    """Issues enrolment links and completes enrolments made with them."""

    def __init__(
        self,
        db: Callable[[], Session],
        keys: WorkspaceKeys,
        settings: Settings,
        clock: Clock,
        audit: AuditSink,
        passwords: PasswordHashing,
    ) -> None:
        self._db = db
        self._keys = keys
        self._settings = settings
        self._clock = clock
        self._audit = audit
        self._passwords = passwords

    def issue(self, username: str, kind: InvitationKind, *, actor: str) -> IssuedInvitation:
        """Issue a link for ``username``; earlier unused links of the account stop working.

        ``reset_mfa`` withdraws the account's current second factor now. Raises ``NotFoundError``.
        Audit: ``admin.user.invite`` (and ``auth.mfa.reset`` for a reset).
        """
        now = self._clock.now()
        token = secrets.token_urlsafe(32)
        with self._db() as db:
            user = db.scalar(select(User).where(User.username == canonical_username(username)))
            if user is None:
                raise NotFoundError(f"no user named {canonical_username(username)!r}")
            db.execute(
                update(EnrolmentInvitation)
                .where(
                    EnrolmentInvitation.user_id == user.id,
                    EnrolmentInvitation.used_at.is_(None),
                    EnrolmentInvitation.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
            if kind == "reset_mfa":
                user.totp_secret_enc, user.mfa_enrolled, user.totp_last_step = None, False, 0
                self._audit.record(
                    db,
                    category="admin",
                    action="auth.mfa.reset",
                    outcome="success",
                    actor=actor,
                    details={"user": user.username, "via": "enrolment_link"},
                )
            expires = now + timedelta(hours=self._settings.login.invitation_hours)
            db.add(
                EnrolmentInvitation(
                    id=secrets.token_hex(16),
                    user_id=user.id,
                    token_hash=_token_hash(token),
                    kind=kind,
                    created_by=actor,
                    created_at=now,
                    expires_at=expires,
                    failures=0,
                )
            )
            self._audit.record(
                db,
                category="admin",
                action="admin.user.invite",
                outcome="success",
                actor=actor,
                details={"user": user.username, "kind": kind, "expires_at": expires.isoformat()},
            )
            db.commit()
            return IssuedInvitation(user.username, kind, expires, token)

    def open(self, token: str) -> EnrolmentPage:
        """The page of a usable link: the account and its pending seed (made on first opening and kept,
        so reloading the page shows the same QR code). Raises ``GoneError`` for any unusable link."""
        with self._db() as db:
            invitation, user = self._usable(db, token)
            if invitation.pending_secret_enc is None:
                secret = totp.new_secret()
                invitation.pending_secret_enc = self._keys.seal(
                    secret.encode("ascii"), _pending_context(invitation.id)
                )
                db.commit()
            else:
                secret = self._keys.unseal(
                    invitation.pending_secret_enc, _pending_context(invitation.id)
                ).decode("ascii")
            uri = totp.provisioning_uri(secret, user.username)
            kind = cast(InvitationKind, invitation.kind)
            return EnrolmentPage(user.username, kind, invitation.expires_at, secret, uri)

    def complete(self, token: str, password: str, code: str) -> User:
        """Finish enrolment: check the code against the pending seed and the password (the new one
        for ``new_user``, the current one for ``reset_mfa``); the seed becomes the account's.

        Raises ``GoneError`` (unusable link), ``InputError`` (a new password that fails the policy),
        ``AuthenticationError`` (wrong code or password; after ``MAX_FAILURES`` the link is withdrawn).
        Audit: ``auth.mfa.enroll`` on success, ``auth.enrol`` failure otherwise.
        """
        now = self._clock.now()
        with self._db() as db:
            invitation, user = self._usable(db, token)
            if invitation.pending_secret_enc is None:
                raise InputError("open the enrolment page first: it shows the code to scan")
            if invitation.kind == "new_user":
                check_password_policy(password, username=user.username)
            elif not self._passwords.verify(user.password_hash, password):
                return self._refuse(db, invitation, user, "bad_password")
            secret = self._keys.unseal(invitation.pending_secret_enc, _pending_context(invitation.id))
            check = totp.check_code(secret.decode("ascii"), code, now=now, last_step=0)
            if check.step is None:
                return self._refuse(db, invitation, user, "bad_code")
            if invitation.kind == "new_user":
                user.password_hash = self._passwords.hash(password)
            user.totp_secret_enc = totp.seal_secret(self._keys, user.id, secret.decode("ascii"))
            user.mfa_enrolled, user.totp_last_step = True, check.step  # the confirming code is spent
            invitation.used_at, invitation.pending_secret_enc = now, None
            self._audit.record(
                db,
                category="admin",
                action="auth.mfa.enroll",
                outcome="success",
                actor=user.username,
                details={"user": user.username, "via": "enrolment_link", "kind": invitation.kind},
            )
            db.commit()
            return user

    def _usable(self, db: Session, token: str) -> tuple[EnrolmentInvitation, User]:
        found = db.execute(
            select(EnrolmentInvitation, User)
            .join(User, User.id == EnrolmentInvitation.user_id)
            .where(EnrolmentInvitation.token_hash == _token_hash(token))
            .with_for_update()
        ).first()
        now = self._clock.now()
        if found is None:
            raise GoneError(LINK_UNUSABLE)
        invitation, user = found
        ended = invitation.used_at or invitation.revoked_at or (now >= invitation.expires_at)
        if ended or user.disabled:
            raise GoneError(LINK_UNUSABLE)
        return invitation, user

    def _refuse(self, db: Session, invitation: EnrolmentInvitation, user: User, reason: str) -> User:
        invitation.failures += 1
        withdrawn = invitation.failures >= MAX_FAILURES
        if withdrawn:
            invitation.revoked_at = self._clock.now()
        self._audit.record(
            db,
            category="authentication",
            action="auth.enrol",
            outcome="failure",
            actor=user.username,
            reason="link_withdrawn" if withdrawn else reason,
            details={"failures": invitation.failures},
        )
        db.commit()
        if withdrawn:
            raise GoneError("too many wrong attempts: this enrolment link no longer works; ask for a new one")
        what = "code" if reason == "bad_code" else "current password"
        raise AuthenticationError(f"the {what} is not correct; try again")
