"""Keeping a single-sign-on session honest after it opened.

* **Re-check**: every ``recheck_minutes`` an open browser session's person is looked up again at the
  provider, at the session's next request or by ``serve``'s maintenance pass, whichever comes first
  (userinfo with the session's access token, refreshed when it has expired). Roles follow the current
  groups at once; a person with no role left, or whom the provider no longer accepts (account disabled
  or deleted, grant revoked), has the session ended and its material purged. A provider that cannot be
  reached is recorded and asked again at the next interval; the session goes on meanwhile.
* **Back-channel logout**: a logout token from the provider ends every session of that provider
  session (``sid``) or, without one, of that person (``sub``).
* **RP-initiated logout**: Sealroom's own logout sends the browser on to the provider's end-session
  endpoint so the provider session ends too.

Audit: ``auth.sso.recheck`` (failure only), ``auth.sso.roles`` on a change, ``auth.sso.logout``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealroom.db.models import SsoSessionLink, User, WorkspaceSession
from sealroom.errors import SealroomError, SessionEndedError
from sealroom.sessions import ActiveSession
from sealroom.sso.accounts import sync_roles
from sealroom.sso.context import SIGNED_OUT_PATH, SsoContext
from sealroom.sso.provider import OidcProvider
from sealroom.sso.tokens import LOGOUT_TOKEN_MAX_AGE, TokenRefusedError, validate_logout_token


class SsoLifecycle:
    """Re-checks, provider-initiated logout and logout at the provider."""

    def __init__(self, ctx: SsoContext) -> None:
        self._ctx = ctx

    # -- re-check ------------------------------------------------------------------------------

    def recheck_if_due(self, active: ActiveSession) -> ActiveSession:
        """Re-check the session's person at the provider when the interval has passed; returns the
        session with current roles, or ends it and raises ``SessionEndedError``."""
        ctx = self._ctx
        now = ctx.clock.now()
        with ctx.db() as db:
            link = ctx.store.link(db, active.id)
            # An API token's session lasts no longer than the token, which carries its own roles; a
            # provider's userinfo does not accept tokens issued for another audience, so there is
            # nothing to re-check it with.
            if link is None or link.via != "browser" or link.provider not in ctx.providers:
                return active
            provider = ctx.providers[link.provider]
            if now < link.rechecked_at + timedelta(minutes=provider.settings.recheck_minutes):
                return active
            db.expunge(link)
        end_reason = self._recheck(provider, link, active, now)
        if end_reason is not None:
            ctx.sessions.end(active.id, end_reason)
            raise SessionEndedError(
                f"your session ended: {provider.settings.display_name} "
                + (
                    "no longer gives you a role in Sealroom"
                    if end_reason == "sso_roles_removed"
                    else "no longer accepts your sign-in"
                )
                + "; sign in again"
            )
        return ctx.sessions.current(active.id)

    def recheck_open_sessions(self) -> list[str]:
        """Re-check every open browser session that is due, whether or not it is in use (``serve``'s
        maintenance pass): a person removed at the provider loses what an idle session holds too.
        Returns the ids of the sessions this ended."""
        ctx = self._ctx
        with ctx.db() as db:
            ids = list(
                db.scalars(
                    select(SsoSessionLink.session_id)
                    .join(WorkspaceSession, WorkspaceSession.id == SsoSessionLink.session_id)
                    .where(WorkspaceSession.ended_at.is_(None), SsoSessionLink.via == "browser")
                )
            )
        ended = []
        for session_id in ids:
            try:
                self.recheck_if_due(ctx.sessions.current(session_id))
            except SessionEndedError:
                ended.append(session_id)
        return ended

    def _recheck(
        self, provider: OidcProvider, link: SsoSessionLink, active: ActiveSession, now: datetime
    ) -> str | None:
        ctx, store = self._ctx, self._ctx.store
        access = store.unseal(link.access_token_enc, "access_token")
        refresh = store.unseal(link.refresh_token_enc, "refresh_token")
        try:
            claims = provider.userinfo(access) if access else None
            if claims is None and refresh:
                tokens = provider.refresh(refresh)
                if tokens is not None:
                    access = tokens.get("access_token")
                    refresh = tokens.get("refresh_token") or refresh
                    claims = provider.userinfo(access) if isinstance(access, str) else None
        except SealroomError as exc:
            with ctx.db.begin() as db:
                self._touch(db, link.session_id, now, None, None)
                ctx.record(
                    db,
                    "auth.sso.recheck",
                    "failure",
                    active.username,
                    reason=exc.reason,
                    session_id=active.id,
                    details={"provider": provider.name},
                )
            return None
        with ctx.db.begin() as db:
            if claims is None or str(claims.get("sub")) != link.subject:
                ctx.record(
                    db,
                    "auth.sso.recheck",
                    "failure",
                    active.username,
                    reason="refused_by_provider",
                    session_id=active.id,
                    details={"provider": provider.name},
                )
                return "sso_account_refused"
            user = db.get(User, active.user_id)
            if user is None:
                return "sso_account_refused"
            sync_roles(ctx, db, provider, user, claims, "recheck")
            self._touch(db, link.session_id, now, access, refresh)
            return None if user.roles else "sso_roles_removed"

    def _touch(
        self, db: Session, session_id: str, now: datetime, access: str | None, refresh: str | None
    ) -> None:
        row = db.get(SsoSessionLink, session_id)
        if row is None:
            return
        row.rechecked_at = now
        if access is not None:
            row.access_token_enc = self._ctx.store.seal(access, "access_token")
        if refresh is not None:
            row.refresh_token_enc = self._ctx.store.seal(refresh, "refresh_token")

    # -- logout --------------------------------------------------------------------------------

    def backchannel_logout(self, name: str, logout_token: str) -> list[str]:
        """End the sessions a provider's logout token names; returns their ids.

        Raises ``TokenRefusedError`` (audited) for a token that is not a valid, fresh, first-seen
        logout token of this provider.
        """
        ctx = self._ctx
        provider = ctx.provider(name)
        actor = f"sso:{name}"
        try:
            claims = validate_logout_token(provider, logout_token)
        except SealroomError as exc:
            self._logout_refused(actor, exc.reason, name)
            raise
        now = ctx.clock.now()
        keep_until = now + timedelta(seconds=2 * LOGOUT_TOKEN_MAX_AGE)
        sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
        subject = claims.get("sub") if isinstance(claims.get("sub"), str) else None
        with ctx.db.begin() as db:
            fresh = ctx.store.first_use(
                db, f"logout:{name}", str(claims["jti"]), now=now, keep_until=keep_until
            )
            session_ids = ctx.store.open_links(db, name, sid=sid, subject=subject) if fresh else []
        if not fresh:
            self._logout_refused(actor, "replayed_token", name)
            raise TokenRefusedError("replayed_token")
        ended = [sid_ for sid_ in session_ids if ctx.sessions.is_open(sid_)]
        for session_id in ended:
            ctx.sessions.end(session_id, "idp_logout")
        with ctx.db.begin() as db:
            ctx.record(
                db,
                "auth.sso.logout",
                "success",
                actor,
                details={"provider": name, "channel": "back", "sessions_ended": ended},
            )
        return ended

    def _logout_refused(self, actor: str, reason: str, name: str) -> None:
        with self._ctx.db.begin() as db:
            self._ctx.record(
                db,
                "auth.sso.logout",
                "failure",
                actor,
                reason=reason,
                details={"provider": name, "channel": "back"},
            )

    def provider_of_session(self, session_id: str) -> OidcProvider | None:
        """The provider a browser session was opened through, or None for a local sign-in."""
        with self._ctx.db() as db:
            link = self._ctx.store.link(db, session_id)
        if link is None or link.via != "browser":
            return None
        return self._ctx.providers.get(link.provider)

    def provider_logout_url(self, session_id: str) -> str | None:
        """Where to send the browser so the provider session of ``session_id`` ends too (None when
        the session is not a provider's browser session or the provider has no end-session endpoint).
        Call it before ending the session."""
        ctx = self._ctx
        with ctx.db() as db:
            link = ctx.store.link(db, session_id)
            if link is None or link.via != "browser" or link.provider not in ctx.providers:
                return None
            id_token = ctx.store.unseal(link.id_token_enc, "id_token")
            provider = ctx.providers[link.provider]
        try:
            endpoint = provider.metadata().end_session_endpoint
        except SealroomError:
            return None
        if endpoint is None:
            return None
        query: dict[str, Any] = {
            "client_id": provider.settings.client_id,
            "post_logout_redirect_uri": ctx.public_url() + SIGNED_OUT_PATH,
        }
        if id_token:
            query["id_token_hint"] = id_token
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"
