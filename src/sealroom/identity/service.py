"""The identity service: users, second-factor enrolment and sign-in.

Each public method is one unit of work: it opens a database session from the factory, changes what it
must, writes its audit records in the same transaction and commits, so a change without its audit
record (or a record of a change that did not happen) cannot be committed. If the audit log cannot be
written, ``AuditUnavailableError`` propagates and nothing is committed: the action is refused.

Audit events (category / action / outcome / reason):

* ``authentication`` / ``auth.login`` / ``success`` or ``failure`` with reason ``bad_password``,
  ``bad_totp``, ``totp_replay``, ``mfa_missing``, ``disabled``, ``unknown_user``, ``throttled``,
  ``sso_account`` (an account that signs in through its provider) or ``local_accounts_disabled``;
* ``authentication`` / ``auth.mfa.verify`` (step-up) / same outcomes, plus ``mfa_not_enrolled``;
* ``admin`` / ``admin.user.create``, ``admin.user.disable``, ``admin.user.enable``,
  ``admin.user.password``, ``auth.mfa.enroll``, ``auth.mfa.reset`` / ``success``.

The actor of a sign-in attempt is the username when the account exists; for a name that does not exist
it is ``unknown:`` plus a prefix of the keyed hash of the name (it may be a typo of someone's real
name or a password typed into the wrong field, so the raw text is never recorded).
Passwords, codes and seeds are never logged or audited.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.db.models import User
from sealroom.errors import (
    AuthenticationError,
    ConflictError,
    InputError,
    MfaRequiredError,
    NotFoundError,
    SealroomError,
    ThrottledError,
)
from sealroom.identity import totp
from sealroom.identity.interfaces import AuditSink
from sealroom.identity.passwords import PasswordHashing, check_password_policy
from sealroom.identity.throttle import LoginThrottler
from sealroom.keys import WorkspaceKeys

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,127}\Z")
BAD_CREDENTIALS = "sign-in failed: the username, password or code is not correct"
CODE_REQUIRED = "a code from your authenticator app is required"
CODE_ALREADY_USED = "that code was already used; wait for the next code from your authenticator app"
LOCAL_ACCOUNTS_OFF = (
    "password sign-in is turned off in this workspace; sign in with your organisation's single sign-on"
)
NO_SECOND_FACTOR = (
    "sign-in refused: this account has no second factor yet; "
    "an administrator must run 'sealroom user enroll-mfa' for it"
)
SSO_ONLY = "!sso"  # a marker no password verifies against, not a password
"""The password hash of an account that signs in only through its identity provider."""
LOGIN = "auth.login"
STEP_UP = "auth.mfa.verify"


@dataclass(frozen=True)
class MfaEnrollment:
    """A new TOTP seed, shown to the user once (``repr`` hides it)."""

    secret: str = field(repr=False)
    provisioning_uri: str = field(repr=False)


def sso_account(username: str, provider: str, subject: str | None, display_name: str, now: datetime) -> User:
    """A new account that signs in only through ``provider`` (as ``subject``, once known): no password,
    no roles until the provider's groups give some."""
    return User(
        id=secrets.token_hex(16),
        username=username,
        display_name=display_name[:256],
        password_hash=SSO_ONLY,
        roles=[],
        totp_secret_enc=None,
        mfa_enrolled=False,
        totp_last_step=0,
        disabled=False,
        created_at=now,
        sso_provider=provider,
        sso_subject=subject,
    )


def _checked_username(username: str) -> str:
    name = canonical_username(username)
    if not USERNAME_PATTERN.match(name):
        raise InputError(
            "a username is 1-128 characters: letters, digits and . _ @ + - (starting with a letter or digit)"
        )
    return name


def canonical_username(username: str) -> str:
    """Usernames are case-insensitive: stored and looked up stripped and in lower case."""
    return username.strip().lower()


class IdentityService:
    """Users, passwords, TOTP and throttled sign-in.

    ``db_factory`` makes ORM sessions; it must keep loaded values after commit
    (``expire_on_commit=False``, as ``sealroom.db.engine.session_factory`` does), because the
    returned ``User`` objects are detached.
    """

    def __init__(
        self,
        db_factory: Callable[[], Session],
        keys: WorkspaceKeys,
        settings: Settings,
        clock: Clock,
        audit: AuditSink,
        *,
        passwords: PasswordHashing | None = None,
        issuer: str = totp.ISSUER,
    ) -> None:
        self._db = db_factory
        self._keys = keys
        self._settings = settings
        self._clock = clock
        self._audit = audit
        self._passwords = passwords or PasswordHashing()
        self._throttle = LoginThrottler(settings.login)
        self._issuer = issuer
        self._dummy_hash: str | None = None

    @property
    def passwords(self) -> PasswordHashing:
        """The password hashing in use (shared with enrolment links)."""
        return self._passwords

    # -- administration -------------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        password: str,
        roles: Sequence[str],
        display_name: str = "",
        *,
        actor: str = "system",
    ) -> User:
        """Create a user; ``InputError`` for a bad name, weak password or unknown role, ``ConflictError``."""
        name = _checked_username(username)
        unknown = sorted(set(roles) - set(self._settings.roles))
        if unknown:
            raise InputError(f"unknown roles {unknown}; the workspace defines {sorted(self._settings.roles)}")
        check_password_policy(password, username=name)
        with self._db() as db:
            if db.scalar(select(User.id).where(User.username == name)) is not None:
                raise ConflictError(f"a user named {name!r} already exists")
            user = User(
                id=secrets.token_hex(16),
                username=name,
                display_name=display_name.strip(),
                password_hash=self._passwords.hash(password),
                roles=list(dict.fromkeys(roles)),
                totp_secret_enc=None,
                mfa_enrolled=False,
                totp_last_step=0,
                disabled=False,
                created_at=self._clock.now(),
            )
            return self._created(db, user, actor, {})

    def add_sso_user(
        self,
        username: str,
        provider: str,
        display_name: str = "",
        *,
        subject: str | None = None,
        actor: str = "system",
    ) -> User:
        """Create an account that signs in only through ``provider`` (no password); its roles come from
        the provider's groups at each sign-in. ``subject`` (the provider's ``sub`` for the person) links
        it now; without it, the first sign-in whose username claim is exactly ``username`` links it."""
        name = _checked_username(username)
        if provider not in self._settings.sso.providers:
            raise InputError(
                f"unknown identity provider {provider!r}; configured: {sorted(self._settings.sso.providers)}"
            )
        with self._db() as db:
            if db.scalar(select(User.id).where(User.username == name)) is not None:
                raise ConflictError(f"a user named {name!r} already exists")
            if subject is not None and db.scalar(
                select(User.id).where(User.sso_provider == provider, User.sso_subject == subject)
            ):
                raise ConflictError(f"another account is already linked to that {provider} subject")
            user = sso_account(name, provider, subject, display_name.strip(), self._clock.now())
            details = {"provider": provider, "linked": subject is not None}
            return self._created(db, user, actor, details)

    def _created(self, db: Session, user: User, actor: str, details: dict[str, object]) -> User:
        db.add(user)
        db.flush()
        self._audit.record(
            db,
            category="admin",
            action="admin.user.create",
            outcome="success",
            actor=actor,
            details={"user": user.username, "roles": list(user.roles), **details},
        )
        db.commit()
        return user

    def link_sso(self, username: str, subject: str, *, actor: str = "system") -> User:
        """Link (or re-link, to correct a mistake) a single-sign-on account to the provider's person
        ``subject``; refused when another account holds that subject. Audit: ``admin.user.link``."""
        with self._db() as db:
            user = self._load(db, username)
            if user.sso_provider is None:
                raise InputError(
                    f"{user.username} is a local account; only single-sign-on accounts are linked"
                )
            taken = db.scalar(
                select(User.username).where(
                    User.sso_provider == user.sso_provider, User.sso_subject == subject, User.id != user.id
                )
            )
            if taken is not None:
                raise ConflictError(f"that {user.sso_provider} subject is already linked to {taken}")
            user.sso_subject = subject
            self._audit.record(
                db,
                category="admin",
                action="admin.user.link",
                outcome="success",
                actor=actor,
                details={"user": user.username, "provider": user.sso_provider},
            )
            db.commit()
            return user

    def list_users(self) -> list[User]:
        """All users, by username."""
        with self._db() as db:
            return list(db.scalars(select(User).order_by(User.username)))

    def get_user(self, username: str) -> User:
        """The user called ``username``; raises ``NotFoundError``."""
        with self._db() as db:
            return self._load(db, username)

    def disable_user(self, username: str, *, actor: str = "system") -> User:
        """Refuse all further sign-ins (and step-ups) of a user; their history stays."""
        return self._set_disabled(username, True, actor)

    def enable_user(self, username: str, *, actor: str = "system") -> User:
        """Allow a disabled user to sign in again."""
        return self._set_disabled(username, False, actor)

    def set_password(self, username: str, password: str, *, actor: str = "system") -> User:
        """Replace a user's password (policy-checked)."""
        name = canonical_username(username)
        check_password_policy(password, username=name)
        with self._db() as db:
            user = self._load(db, name)
            user.password_hash = self._passwords.hash(password)
            self._audit.record(
                db,
                category="admin",
                action="admin.user.password",
                outcome="success",
                actor=actor,
                details={"user": user.username},
            )
            db.commit()
            return user

    def enroll_mfa(self, username: str, *, replace: bool = False, actor: str = "system") -> MfaEnrollment:
        """Give a user a new TOTP seed and enrol them at once; returns the seed and its URI, to show once.

        Enrolment takes effect immediately (there is no pending state in which a password alone would
        still do). An enrolled user is refused with ``ConflictError`` unless ``replace`` is set, which
        rotates the seed (a lost phone): the old authenticator stops working.
        """
        with self._db() as db:
            user = self._load(db, username)
            if user.mfa_enrolled and not replace:
                raise ConflictError(
                    f"{user.username} already has a second factor; to issue a new one (the old one stops "
                    f"working), replace it explicitly: sealroom user enroll-mfa {user.username} --replace"
                )
            action = "auth.mfa.reset" if user.mfa_enrolled else "auth.mfa.enroll"
            secret = totp.new_secret()
            user.totp_secret_enc = totp.seal_secret(self._keys, user.id, secret)
            user.mfa_enrolled = True
            # Codes of the old seed are irrelevant now; any step of the new one may be used once.
            user.totp_last_step = 0
            self._audit.record(
                db,
                category="admin",
                action=action,
                outcome="success",
                actor=actor,
                details={"user": user.username},
            )
            db.commit()
            uri = totp.provisioning_uri(secret, user.username, self._issuer)
            return MfaEnrollment(secret=secret, provisioning_uri=uri)

    # -- sign-in ----------------------------------------------------------------------------------

    def authenticate(self, username: str, password: str, totp_code: str | None = None) -> User:
        """Check a sign-in attempt; returns the user or raises.

        Raises ``ThrottledError`` while the name is locked out (even for correct credentials),
        ``MfaRequiredError`` when the password is right but the enrolled user gave no code, and
        ``AuthenticationError`` for everything else (wrong password or code, replayed code, disabled
        or unknown user) without saying which. The attempt is audited either way.
        """
        now = self._clock.now()
        name = canonical_username(username)
        key = self._keys.keyed_hash(name)
        with self._db() as db:
            result = self._login(db, name, key, password, totp_code, now)
            db.commit()
        if isinstance(result, SealroomError):
            raise result
        return result

    def verify_totp(self, user: User, code: str, *, session_id: str | None = None) -> None:
        """Step-up: check a fresh TOTP code of a signed-in user; raises like ``authenticate``.

        Failures count towards the same lockout as sign-in failures. Audited as ``auth.mfa.verify``. The
        accepted step is stored in the database; the ``user`` object passed in is not changed.
        """
        now = self._clock.now()
        with self._db() as db:
            result = self._step_up(db, user.id, code, session_id, now)
            db.commit()
        if result is not None:
            raise result

    # -- internals --------------------------------------------------------------------------------

    def _load(self, db: Session, username: str) -> User:
        name = canonical_username(username)
        user = db.scalar(select(User).where(User.username == name))
        if user is None:
            raise NotFoundError(f"no user named {name!r}")
        return user

    def _set_disabled(self, username: str, disabled: bool, actor: str) -> User:
        with self._db() as db:
            user = self._load(db, username)
            user.disabled = disabled
            self._audit.record(
                db,
                category="admin",
                action="admin.user.disable" if disabled else "admin.user.enable",
                outcome="success",
                actor=actor,
                details={"user": user.username},
            )
            db.commit()
            return user

    def _dummy(self) -> str:
        # Verified against for unknown names, so their attempts cost as long as real ones.
        if self._dummy_hash is None:
            self._dummy_hash = self._passwords.hash(secrets.token_urlsafe(24))
        return self._dummy_hash

    def _login(
        self, db: Session, name: str, key: str, password: str, code: str | None, now: datetime
    ) -> User | SealroomError:
        user = db.scalar(select(User).where(User.username == name).with_for_update())
        actor = user.username if user is not None else "unknown:" + key[:16]
        retry_after = self._throttle.retry_after(db, key, now)
        if retry_after is not None:
            self._audit_auth(db, LOGIN, actor, "throttled", None, {"retry_after": retry_after})
            return ThrottledError(
                f"too many failed sign-ins; try again in {retry_after} seconds", retry_after=retry_after
            )
        password_ok = self._passwords.verify(user.password_hash if user else self._dummy(), password)
        if not self._settings.login.local_accounts:
            self._audit_auth(db, LOGIN, actor, "local_accounts_disabled", None, None)
            return AuthenticationError(LOCAL_ACCOUNTS_OFF, reason="local_accounts_disabled")
        if user is None:
            return self._fail(db, LOGIN, actor, key, now, "unknown_user", None)
        if user.sso_provider is not None:
            # Said no more plainly than any failure, so the form does not tell which accounts use SSO.
            return self._fail(db, LOGIN, actor, key, now, "sso_account", None)
        if not password_ok:
            return self._fail(db, LOGIN, actor, key, now, "bad_password", None)
        if user.disabled:
            return self._fail(db, LOGIN, actor, key, now, "disabled", None)
        if not user.mfa_enrolled and self._settings.login.require_mfa:
            # Said plainly: only someone who knows the password gets here, and they need to act.
            self._fail(db, LOGIN, actor, key, now, "mfa_not_enrolled", None)
            return AuthenticationError(NO_SECOND_FACTOR)
        if user.mfa_enrolled:
            if not code:
                # Not counted as a failure: a two-step sign-in form sends the password first.
                self._audit_auth(db, LOGIN, actor, "mfa_missing", None, None)
                return MfaRequiredError(CODE_REQUIRED)
            check = self._check_code(user, code, now)
            if check.step is None:
                error = self._fail(db, LOGIN, actor, key, now, check.outcome.value, None)
                if check.outcome is totp.TotpOutcome.REPLAY:
                    return AuthenticationError(CODE_ALREADY_USED)
                return error
            user.totp_last_step = check.step
        if self._passwords.needs_rehash(user.password_hash):
            user.password_hash = self._passwords.hash(password)
        self._throttle.reset(db, key)
        self._audit.record(
            db,
            category="authentication",
            action=LOGIN,
            outcome="success",
            actor=actor,
            details={"mfa": user.mfa_enrolled},
        )
        return user

    def _step_up(
        self, db: Session, user_id: str, code: str, session_id: str | None, now: datetime
    ) -> SealroomError | None:
        user = db.scalar(select(User).where(User.id == user_id).with_for_update())
        if user is None:
            raise NotFoundError("no such user")
        key = self._keys.keyed_hash(user.username)
        retry_after = self._throttle.retry_after(db, key, now)
        if retry_after is not None:
            details = {"retry_after": retry_after}
            self._audit_auth(db, STEP_UP, user.username, "throttled", session_id, details)
            return ThrottledError(
                f"too many failed attempts; try again in {retry_after} seconds", retry_after=retry_after
            )
        if user.disabled:
            return self._fail(db, STEP_UP, user.username, key, now, "disabled", session_id)
        if not user.mfa_enrolled or user.totp_secret_enc is None:
            self._audit_auth(db, STEP_UP, user.username, "mfa_not_enrolled", session_id, None)
            return MfaRequiredError("no second factor is enrolled for this account; ask an administrator")
        check = self._check_code(user, code, now)
        if check.step is None:
            return self._fail(db, STEP_UP, user.username, key, now, check.outcome.value, session_id)
        user.totp_last_step = check.step
        self._audit.record(
            db,
            category="authentication",
            action=STEP_UP,
            outcome="success",
            actor=user.username,
            session_id=session_id,
        )
        return None

    def _check_code(self, user: User, code: str, now: datetime) -> totp.TotpCheck:
        if user.totp_secret_enc is None:
            return totp.TotpCheck(totp.TotpOutcome.INVALID)
        secret = totp.unseal_secret(self._keys, user.id, user.totp_secret_enc)
        return totp.check_code(secret, code, now=now, last_step=user.totp_last_step)

    def _fail(
        self,
        db: Session,
        action: str,
        actor: str,
        key: str,
        now: datetime,
        reason: str,
        session_id: str | None,
    ) -> SealroomError:
        count = self._throttle.record_failure(db, key, now)
        details: dict[str, object] = {"failures": count.failures}
        if count.locked_until is not None:
            details["locked_until"] = count.locked_until.isoformat()
        self._audit_auth(db, action, actor, reason, session_id, details)
        return AuthenticationError(BAD_CREDENTIALS if action == LOGIN else "the code is not correct")

    def _audit_auth(
        self,
        db: Session,
        action: str,
        actor: str,
        reason: str,
        session_id: str | None,
        details: Mapping[str, object] | None,
    ) -> None:
        self._audit.record(
            db,
            category="authentication",
            action=action,
            outcome="failure",
            actor=actor,
            session_id=session_id,
            reason=reason,
            details=dict(details) if details else None,
        )
