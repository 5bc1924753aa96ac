"""The Sealroom account behind a provider's person: found by (provider, ``sub``), created at the
first sign-in when just-in-time provisioning is on, and given exactly the roles the mapping confers.

An account that already exists under the same username but is not this provider's (a local account,
or another provider's) is never taken over: the sign-in is refused until an administrator resolves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealroom.db.models import User
from sealroom.errors import AuthenticationError
from sealroom.identity.service import USERNAME_PATTERN, canonical_username, sso_account
from sealroom.sso.context import SsoContext
from sealroom.sso.mapping import map_roles
from sealroom.sso.provider import OidcProvider


class SsoRefusedError(AuthenticationError):
    """A person the provider vouched for may not sign in to Sealroom (``reason`` says why; ``username``
    is the Sealroom name they would have, for the audit record)."""

    def __init__(self, message: str, *, reason: str, username: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.username = username


def sync_roles(
    ctx: SsoContext, db: Session, provider: OidcProvider, user: User, claims: Mapping[str, Any], trigger: str
) -> tuple[list[str], list[str]]:
    """Set the user's roles to what the claims confer; audit the decision (``auth.sso.roles``) at
    sign-in always and at a re-check when it changes anything. Returns (added, removed)."""
    mapping = map_roles(provider.settings, claims)
    new, old = list(mapping.roles), list(user.roles)
    added = [role for role in new if role not in old]
    removed = [role for role in old if role not in new]
    if added or removed or trigger == "sign_in":
        ctx.record(
            db,
            "auth.sso.roles",
            "success",
            user.username,
            category="access",
            details={
                "provider": provider.name,
                "trigger": trigger,
                "roles": new,
                "added": added,
                "removed": removed,
                "matched": list(mapping.matched),
            },
        )
    user.roles = new
    return added, removed


def account_for(ctx: SsoContext, db: Session, provider: OidcProvider, claims: Mapping[str, Any]) -> User:
    """The account of the person ``claims`` describe (validated claims with ``sub``), provisioned if
    allowed; raises ``SsoRefusedError`` (``bad_username``, ``account_conflict``, ``not_provisioned``)."""
    subject = str(claims["sub"])
    user = db.scalar(select(User).where(User.sso_provider == provider.name, User.sso_subject == subject))
    if user is not None:
        return user
    claim = provider.settings.username_claim
    claimed = str(claims.get(claim) or "")
    username = canonical_username(claimed)
    if not USERNAME_PATTERN.match(username):
        raise SsoRefusedError(
            f"{provider.settings.display_name} sent no usable username in the claim {claim!r}; "
            "ask your administrator to check the provider's username_claim",
            reason="bad_username",
        )
    existing = db.scalar(select(User).where(User.username == username))
    if existing is not None:
        # An account an administrator created ahead of the first sign-in is linked only to a person
        # whose claim is exactly its name: usernames are not unique identifiers at every provider, and
        # case or spacing variants may belong to someone else.
        if existing.sso_provider == provider.name and existing.sso_subject is None and claimed == username:
            existing.sso_subject = subject
            ctx.record(
                db,
                "auth.sso.link",
                "success",
                username,
                category="admin",
                details={"provider": provider.name, "claim": claim},
            )
            return existing
        idp = provider.settings.display_name
        if existing.sso_provider != provider.name:
            problem = f"already exists and is not a {idp} account"
        elif existing.sso_subject is None:
            problem = f"waits for the {idp} person who signs in as exactly {username!r}, not {claimed!r}"
        else:
            problem = f"is linked to another {idp} person"
        raise SsoRefusedError(
            f"the Sealroom account {username!r} {problem}; an administrator must resolve this "
            f"(sealroom user link-sso {username} --subject ...)",
            reason="account_conflict",
            username=username,
        )
    if not provider.settings.jit_provisioning:
        raise SsoRefusedError(
            f"there is no Sealroom account for you yet; ask an administrator to create {username!r} "
            f"for {provider.settings.display_name}",
            reason="not_provisioned",
            username=username,
        )
    user = sso_account(username, provider.name, subject, str(claims.get("name") or ""), ctx.clock.now())
    db.add(user)
    db.flush()
    ctx.record(
        db,
        "admin.user.create",
        "success",
        f"sso:{provider.name}",
        category="admin",
        details={"user": username, "roles": [], "provisioned_by": provider.name},
    )
    return user
