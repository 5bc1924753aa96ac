"""Account administration by a signed-in administrator (``workspace:admin``), for the web pages.

Each call first asks the ``Gatekeeper`` (decided, audited, enforced), then acts through the identity
and invitation services, which audit the change with the administrator as the actor. New accounts get
no password an administrator knows: they get an enrolment link, with which the person chooses their
password and scans their second factor.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealroom.access import Gatekeeper
from sealroom.db.models import User
from sealroom.errors import ConflictError
from sealroom.identity.invitations import InvitationService, IssuedInvitation
from sealroom.identity.service import IdentityService, canonical_username
from sealroom.sessions import ActiveSession

ADMIN = "workspace:admin"


@dataclass(frozen=True)
class AccountView:
    """An account as the administration page lists it (never a hash or a seed)."""

    username: str
    display_name: str
    roles: tuple[str, ...]
    mfa_enrolled: bool
    disabled: bool
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**self.__dict__, "roles": list(self.roles)}


class AccountAdmin:
    """Create, disable, enable and reset accounts, as an administrator in a session."""

    def __init__(
        self,
        db: Callable[[], Session],
        gate: Gatekeeper,
        identity: IdentityService,
        invitations: InvitationService,
    ) -> None:
        self._db = db
        self._gate = gate
        self._identity = identity
        self._invitations = invitations

    def _require_admin(self, actor: ActiveSession) -> None:
        with self._db() as db:
            self._gate.require(db, actor, ADMIN)
            db.commit()

    def accounts(self, actor: ActiveSession) -> list[AccountView]:
        """Every account, by username. Raises ``AccessDeniedError`` (audited) for a non-administrator."""
        self._require_admin(actor)
        with self._db() as db:
            users = db.scalars(select(User).order_by(User.username))
            return [
                AccountView(
                    user.username,
                    user.display_name,
                    tuple(user.roles),
                    user.mfa_enrolled,
                    user.disabled,
                    user.created_at.isoformat(timespec="minutes"),
                )
                for user in users
            ]

    def create(
        self, actor: ActiveSession, username: str, roles: Sequence[str], display_name: str = ""
    ) -> IssuedInvitation:
        """Create an account and its enrolment link. Raises ``InputError`` (bad name, unknown role),
        ``ConflictError`` (name taken). Audit: ``admin.user.create``, ``admin.user.invite``."""
        self._require_admin(actor)
        # A password nobody knows: the person sets their own through the enrolment link.
        unusable = secrets.token_urlsafe(32) + "aA9"
        user = self._identity.add_user(username, unusable, roles, display_name, actor=actor.username)
        return self._invitations.issue(user.username, "new_user", actor=actor.username)

    def reset_mfa(self, actor: ActiveSession, username: str) -> IssuedInvitation:
        """Withdraw the account's second factor and issue a link to enrol a new one (a lost phone).
        Raises ``NotFoundError``, ``ConflictError`` for one's own account. Audit: ``auth.mfa.reset``,
        ``admin.user.invite``."""
        self._require_admin(actor)
        self._not_self(actor, username, "reset your own second factor")
        return self._invitations.issue(username, "reset_mfa", actor=actor.username)

    def disable(self, actor: ActiveSession, username: str) -> None:
        """Refuse the account's sign-ins; its open sessions end at their next request. Raises
        ``NotFoundError``, ``ConflictError`` for one's own account. Audit: ``admin.user.disable``."""
        self._require_admin(actor)
        self._not_self(actor, username, "disable your own account")
        self._identity.disable_user(username, actor=actor.username)

    def enable(self, actor: ActiveSession, username: str) -> None:
        """Allow a disabled account to sign in again. Audit: ``admin.user.enable``."""
        self._require_admin(actor)
        self._identity.enable_user(username, actor=actor.username)

    @staticmethod
    def _not_self(actor: ActiveSession, username: str, what: str) -> None:
        if canonical_username(username) == actor.username:
            raise ConflictError(f"you cannot {what}; another administrator has to")
