"""API clients' way in: a provider's JWT access token as the bearer token.

The token is validated like an ID token (signature against the published keys, issuer, the
provider's ``api_audience``, expiry) and then opens a workspace session bound to that very token: the
session ends when the token expires (or earlier, by Sealroom's own timeouts, a re-check or a logout),
and an ended session is never reopened by presenting the same token again. Roles come from the
token's claims, or from userinfo when the token does not carry the mapped claims.

Audit: ``auth.sso.token`` (success, or failure with the reason: ``bad_signature``,
``wrong_audience``, ``expired``, ``unknown_issuer`` ...).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from sealroom.db.models import User
from sealroom.errors import AuthenticationError, SealroomError
from sealroom.sessions import ActiveSession
from sealroom.sso.accounts import SsoRefusedError, account_for, sync_roles
from sealroom.sso.context import SsoContext
from sealroom.sso.mapping import mfa_evidence
from sealroom.sso.provider import OidcProvider
from sealroom.sso.tokens import TokenRefusedError, unverified_claims, validate_access_token

BEARER_SIGN_IN = "auth.sso.token"


MFA_NOT_SHOWN = (
    "the access token does not show a multi-factor sign-in (amr/acr); sign in at {idp} with "
    "multi-factor authentication and use the new token"
)


class SsoBearer:
    """Sessions for API clients presenting a provider's access token."""

    def __init__(self, ctx: SsoContext) -> None:
        self._ctx = ctx

    def accepts_tokens(self) -> bool:
        """Whether any provider's access tokens are accepted by the API."""
        return any(p.settings.api_audience for p in self._ctx.providers.values())

    def session_for(self, token: str) -> ActiveSession:
        """The session bound to ``token``, opened at its first presentation."""
        ctx = self._ctx
        if ctx.sessions.known_token(token):
            return ctx.sessions.resolve(token)
        try:
            provider = self._provider_of(token)
        except SealroomError as exc:
            self._refused("sso:unknown", exc.reason, None)
            raise
        try:
            claims = validate_access_token(provider, token)
        except SealroomError as exc:
            self._refused(f"sso:{provider.name}", exc.reason, provider.name)
            raise
        wanted = {rule.claim for rule in provider.settings.role_mapping} | {provider.settings.username_claim}
        if not any(rule.claim in claims for rule in provider.settings.role_mapping):
            # Only the claims the mapping and the username need: expiry, audience and MFA evidence stay
            # those of the validated token.
            try:
                extra = provider.userinfo(token) or {}
            except SealroomError as exc:
                self._refused(f"sso:{provider.name}", exc.reason, provider.name)
                raise
            if extra.get("sub") == claims["sub"]:
                claims = {**claims, **{name: extra[name] for name in wanted if name in extra}}
        return self._open(provider, token, claims)

    def _provider_of(self, token: str) -> OidcProvider:
        issuer = unverified_claims(token).get("iss")
        for provider in self._ctx.providers.values():
            if provider.settings.api_audience and provider.settings.issuer == issuer:
                return provider
        raise TokenRefusedError("unknown_issuer")

    def _open(self, provider: OidcProvider, token: str, claims: dict[str, Any]) -> ActiveSession:
        ctx = self._ctx
        evidence = mfa_evidence(provider.settings, claims)
        problem: tuple[str, str] | None = None
        refused_name: str | None = None
        with ctx.db.begin() as db:
            try:
                user: User | None = account_for(ctx, db, provider, claims)
            except SsoRefusedError as exc:
                user, problem, refused_name = None, (exc.reason, exc.message), exc.username
            if user is not None:
                sync_roles(ctx, db, provider, user, claims, "sign_in")
                if user.disabled:
                    problem = ("disabled", "this Sealroom account is disabled")
                elif not user.roles:
                    problem = ("no_role_mapped", "none of your groups gives you a role in Sealroom")
                elif evidence is None and self._mfa_required(provider):
                    problem = ("mfa_missing", MFA_NOT_SHOWN.format(idp=provider.settings.display_name))
                db.flush()
                db.expunge(user)
            if problem is not None:
                actor = user.username if user is not None else f"sso:{provider.name}"
                ctx.record(
                    db,
                    BEARER_SIGN_IN,
                    "failure",
                    actor,
                    reason=problem[0],
                    details={"provider": provider.name, "user": refused_name},
                )
        if problem is not None or user is None:
            reason, message = problem or ("bad_username", "")
            raise AuthenticationError(message, reason=reason)
        try:
            active, _token = ctx.open_session(
                user,
                provider.name,
                action=BEARER_SIGN_IN,
                via="bearer",
                subject=str(claims["sub"]),
                sid=claims.get("sid") if isinstance(claims.get("sid"), str) else None,
                tokens={"access_token": token},
                mfa_source=f"idp:{evidence}" if evidence else None,
                bearer=token,
                expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            )
        except IntegrityError:  # the same token's first two requests raced; the other one opened it
            return ctx.sessions.resolve(token)
        return active

    def _mfa_required(self, provider: OidcProvider) -> bool:
        return self._ctx.settings.login.require_mfa and provider.settings.api_requires_mfa

    def _refused(self, actor: str, reason: str, provider: str | None) -> None:
        with self._ctx.db.begin() as db:
            self._ctx.record(
                db, BEARER_SIGN_IN, "failure", actor, reason=reason, details={"provider": provider}
            )
