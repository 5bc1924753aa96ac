"""The browser's way in: the authorization code flow with PKCE, ``state`` and ``nonce``.

``begin`` sends the browser to the provider; ``complete`` takes it back at the callback, exchanges
the code, validates the ID token, finds (or provisions) the account, recomputes its roles and opens a
session — or, when the provider did not assert multi-factor authentication, asks for Sealroom's own
TOTP first (``complete_totp``). A step-up is the same round trip with ``prompt=login`` and
``max_age=0``: it counts only when the provider re-authenticated the same person just now with MFA.

Audit: ``auth.sso.login`` (success, or failure with the reason), ``auth.sso.roles``,
``auth.mfa.verify`` for a step-up, and ``session.open`` with how MFA was satisfied.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from sealroom.db.models import User
from sealroom.errors import AuthenticationError, MfaRequiredError, SealroomError, ThrottledError
from sealroom.identity.service import IdentityService
from sealroom.sessions import ActiveSession
from sealroom.sso.accounts import SsoRefusedError, account_for, sync_roles
from sealroom.sso.context import SsoContext
from sealroom.sso.mapping import mfa_evidence
from sealroom.sso.provider import OidcProvider
from sealroom.sso.store import Pending
from sealroom.sso.tokens import TokenRefusedError, validate_id_token

LOGIN = "auth.sso.login"
NO_ROLE = (
    "you are signed in at {idp}, but none of your groups there gives you a role in Sealroom; "
    "ask your administrator to map your group to a role"
)
NO_SECOND_FACTOR = (
    "{idp} did not confirm a second factor for this sign-in and you have no Sealroom authenticator; "
    "sign in at {idp} with multi-factor authentication, or ask an administrator to set up a Sealroom "
    "authenticator for you (an enrolment link, or sealroom user enroll-mfa)"
)


@dataclass(frozen=True)
class SignInStart:
    """Where to send the browser, and the value its pending-sign-in cookie must carry back."""

    url: str
    cookie: str


@dataclass(frozen=True)
class SignInOutcome:
    """How a callback ended: a session (``token``), a TOTP still to give (``totp_key``: the value of
    the form's cookie), or a completed step-up. ``next_path`` is where the person was going."""

    next_path: str
    active: ActiveSession | None = None
    token: str | None = None
    totp_key: str | None = None
    stepped_up: bool = False


class SsoSignIn:
    """Sign-in and step-up through a provider."""

    def __init__(self, ctx: SsoContext, identity: IdentityService) -> None:
        self._ctx = ctx
        self._identity = identity

    def begin(self, name: str, next_path: str, *, step_up: ActiveSession | None = None) -> SignInStart:
        """Start a sign-in (or, with ``step_up``, a re-authentication inside that session)."""
        ctx = self._ctx
        provider = ctx.provider(name)
        metadata = provider.metadata()
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)
        extra: dict[str, Any] = {"nonce": nonce}
        if step_up is not None:
            extra.update(prompt="login", max_age=0)
        with provider.oauth_client(ctx.redirect_uri(name)) as client:
            url, _state = client.create_authorization_url(
                metadata.authorization_endpoint, state=state, code_verifier=verifier, **extra
            )
        now = ctx.clock.now()
        with ctx.db.begin() as db:
            ctx.store.put_pending(
                db,
                state,
                provider=name,
                purpose="step_up" if step_up is not None else "login",
                next_path=next_path,
                now=now,
                # Compared with the provider's auth_time, so read from the same (real) clock as its tokens.
                secrets={"verifier": verifier, "nonce": nonce, "started": time.time()},
                session_id=step_up.id if step_up is not None else None,
                user_id=step_up.user_id if step_up is not None else None,
            )
        return SignInStart(url=url, cookie=state)

    def complete(
        self,
        name: str,
        *,
        cookie: str | None,
        state: str,
        code: str | None,
        error: str | None,
        issuer: str | None = None,
    ) -> SignInOutcome:
        """Finish at the callback. Raises ``AuthenticationError`` (reason audited) when refused.

        ``issuer`` is the callback's ``iss`` parameter (RFC 9207) when the provider sends one: it must
        be this provider's, so a code from another provider cannot be slipped into this sign-in.
        """
        ctx = self._ctx
        provider = ctx.provider(name)
        actor = f"sso:{name}"
        now = ctx.clock.now()
        problem = None
        pending: Pending | None = None
        with ctx.db.begin() as db:
            if not cookie or not secrets.compare_digest(cookie.encode(), state.encode()):
                # A callback this browser did not start: a forged or replayed sign-in link.
                problem = "this sign-in was not started from this browser; start again"
            else:
                pending = ctx.store.take_pending(db, state, ("login", "step_up"), now)
                if pending is None or pending.provider != name:
                    problem = "this sign-in has expired or was already used; start again"
            if problem is not None:
                self._refuse(db, actor, "bad_state", {"provider": name})
        if problem is not None:
            raise AuthenticationError(problem, reason="bad_state")
        assert pending is not None
        if issuer != provider.settings.issuer and (
            issuer is not None or provider.metadata().iss_parameter_supported
        ):
            self._refused(actor, "unknown_issuer", {"provider": name})
            raise AuthenticationError("the sign-in came back from another identity provider; start again")
        if error or not code:
            self._refused(actor, "provider_error", {"provider": name, "error": (error or "no_code")[:64]})
            raise AuthenticationError(
                f"{provider.settings.display_name} did not sign you in ({error or 'no code'})"
            )
        try:
            tokens = provider.exchange_code(code, pending.secrets["verifier"], ctx.redirect_uri(name))
            id_token = tokens.get("id_token")
            if not isinstance(id_token, str):
                raise TokenRefusedError("missing_claim", "the provider sent no ID token")
            claims = self.accept_id_token(provider, id_token, pending.secrets["nonce"])
        except SealroomError as exc:
            # The message names the OAuth error (e.g. invalid_client: a wrong client secret), never a value.
            self._refused(actor, exc.reason, {"provider": name, "problem": exc.message[:300]})
            raise
        if pending.purpose == "step_up":
            return self._step_up(
                provider, pending.session_id, pending.user_id, pending.secrets, claims, pending.next_path
            )
        return self._sign_in(provider, claims, tokens, pending.next_path)

    def accept_id_token(self, provider: OidcProvider, id_token: str, nonce: str) -> dict[str, Any]:
        """Validate an ID token and use up its nonce: the same token is never accepted twice."""
        claims = validate_id_token(provider, id_token, nonce)
        ctx = self._ctx
        now = ctx.clock.now()
        keep_until = datetime.fromtimestamp(int(claims["exp"]), now.tzinfo) + timedelta(days=1)
        with ctx.db.begin() as db:
            if not ctx.store.first_use(db, f"nonce:{provider.name}", nonce, now=now, keep_until=keep_until):
                raise TokenRefusedError("replayed_nonce")
        return claims

    def complete_totp(self, key: str | None, code: str) -> SignInOutcome:
        """Finish a sign-in the provider did not confirm with MFA, with the person's Sealroom TOTP.

        A wrong code leaves the step open (until it expires) and counts towards the account's lockout.
        """
        ctx = self._ctx
        now = ctx.clock.now()
        if not key:
            raise AuthenticationError("this sign-in has expired; start again")
        with ctx.db.begin() as db:
            pending = ctx.store.take_pending(db, key, ("totp",), now)
            if pending is None or pending.user_id is None:
                raise AuthenticationError("this sign-in has expired; start again")
            user = db.get(User, pending.user_id)
            if user is None:
                raise AuthenticationError("this sign-in has expired; start again")
        try:
            self._identity.verify_totp(user, code)
        except (AuthenticationError, ThrottledError):
            # Put the step back, no longer than it had: the person may type the code again.
            with ctx.db.begin() as db:
                ctx.store.put_pending(
                    db,
                    key,
                    provider=pending.provider,
                    purpose="totp",
                    next_path=pending.next_path,
                    now=now,
                    secrets=pending.secrets,
                    user_id=pending.user_id,
                    expires_at=pending.expires_at,
                )
            raise
        provider = ctx.provider(pending.provider)
        active, token = self._open(provider, user, pending.secrets, "totp")
        return SignInOutcome(next_path=pending.next_path, active=active, token=token)

    # -- internals ---------------------------------------------------------------------------

    def _sign_in(
        self, provider: OidcProvider, claims: dict[str, Any], tokens: dict[str, Any], next_path: str
    ) -> SignInOutcome:
        ctx = self._ctx
        idp = provider.settings.display_name
        evidence = mfa_evidence(provider.settings, claims)
        problem: tuple[str, str] | None = None
        with ctx.db.begin() as db:
            try:
                user: User | None = account_for(ctx, db, provider, claims)
            except SsoRefusedError as exc:
                user, problem = None, (exc.reason, exc.message)
                details = {"provider": provider.name, "user": exc.username}
                self._refuse(db, f"sso:{provider.name}", exc.reason, details)
            if user is not None:
                sync_roles(ctx, db, provider, user, claims, "sign_in")
                problem = self._sign_in_problem(user, evidence)
                if problem is not None:
                    self._refuse(db, user.username, problem[0], {"provider": provider.name})
                db.flush()
                db.expunge(user)
        if problem is not None or user is None:
            reason, message = problem or ("bad_username", "")
            error = MfaRequiredError if reason == "mfa_missing" else AuthenticationError
            raise error(message.replace("{idp}", idp), reason=reason)
        session_secrets = {
            "sub": str(claims["sub"]),
            "sid": claims.get("sid") if isinstance(claims.get("sid"), str) else None,
            "id_token": tokens.get("id_token"),
            "access_token": tokens.get("access_token"),
            "refresh_token": tokens.get("refresh_token"),
            "mfa": evidence,
        }
        if evidence is None and user.mfa_enrolled:
            key = secrets.token_urlsafe(32)
            with ctx.db.begin() as db:
                ctx.store.put_pending(
                    db,
                    key,
                    provider=provider.name,
                    purpose="totp",
                    next_path=next_path,
                    now=ctx.clock.now(),
                    secrets=session_secrets,
                    user_id=user.id,
                )
            return SignInOutcome(next_path=next_path, totp_key=key)
        active, token = self._open(provider, user, session_secrets, f"idp:{evidence}" if evidence else None)
        return SignInOutcome(next_path=next_path, active=active, token=token)

    def _sign_in_problem(self, user: User, evidence: str | None) -> tuple[str, str] | None:
        if user.disabled:
            return "disabled", "this Sealroom account is disabled; ask your administrator"
        if not user.roles:
            return "no_role_mapped", NO_ROLE
        if evidence is None and not user.mfa_enrolled and self._ctx.settings.login.require_mfa:
            return "mfa_missing", NO_SECOND_FACTOR
        return None

    def _open(
        self, provider: OidcProvider, user: User, found: dict[str, Any], mfa_source: str | None
    ) -> tuple[ActiveSession, str]:
        return self._ctx.open_session(
            user,
            provider.name,
            action=LOGIN,
            via="browser",
            subject=found["sub"],
            sid=found.get("sid"),
            tokens={kind: found.get(kind) for kind in ("id_token", "access_token", "refresh_token")},
            mfa_source=mfa_source,
        )

    def _step_up(
        self,
        provider: OidcProvider,
        session_id: str | None,
        user_id: str | None,
        found: dict[str, Any],
        claims: dict[str, Any],
        next_path: str,
    ) -> SignInOutcome:
        ctx = self._ctx
        evidence = mfa_evidence(provider.settings, claims)
        auth_time = claims.get("auth_time")
        started = float(found["started"]) - provider.settings.clock_skew_seconds
        with ctx.db.begin() as db:
            user = db.get(User, user_id) if user_id else None
            link = ctx.store.link(db, session_id) if session_id else None
            actor = user.username if user is not None else f"sso:{provider.name}"
            reason = None
            if user is None or link is None or link.subject != str(claims["sub"]):
                reason = "different_person"
            elif not isinstance(auth_time, (int, float)) or auth_time < started:
                reason = "stale_authentication"
            elif evidence is None:
                reason = "mfa_not_asserted"
            ctx.record(
                db,
                "auth.mfa.verify",
                "failure" if reason else "success",
                actor,
                reason=reason,
                session_id=session_id,
                details={"provider": provider.name, "mfa": evidence},
            )
        if reason is not None or session_id is None:
            raise AuthenticationError(
                f"{provider.settings.display_name} did not re-authenticate you with a second factor just "
                "now; try again, or use your Sealroom authenticator code",
                reason=reason or "different_person",
            )
        ctx.sessions.mark_mfa(session_id)
        return SignInOutcome(next_path=next_path, stepped_up=True)

    def _refuse(self, db: Session, actor: str, reason: str, details: dict[str, Any]) -> None:
        self._ctx.record(db, LOGIN, "failure", actor, reason=reason, details=details)

    def _refused(self, actor: str, reason: str, details: dict[str, Any]) -> None:
        with self._ctx.db.begin() as db:
            self._refuse(db, actor, reason, details)
