"""What every part of single sign-on works with: the providers, the stores and the audit log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.db.models import SsoSessionLink, User
from sealroom.errors import NotFoundError
from sealroom.sessions import ActiveSession, SessionManager
from sealroom.sso.provider import OidcProvider
from sealroom.sso.store import SsoStore

CALLBACK_PATH = "/sso/{provider}/callback"
SIGNED_OUT_PATH = "/signed-out"


@dataclass(frozen=True)
class SsoContext:
    """The shared collaborators of the sign-in, bearer-token and session-lifecycle parts."""

    settings: Settings
    providers: Mapping[str, OidcProvider]
    db: sessionmaker[Session]
    store: SsoStore
    audit: AuditLog
    clock: Clock
    sessions: SessionManager

    def provider(self, name: str) -> OidcProvider:
        """The provider called ``name``; ``NotFoundError`` naming the configured ones otherwise."""
        found = self.providers.get(name)
        if found is None:
            raise NotFoundError(f"no identity provider named {name!r} is configured")
        return found

    def redirect_uri(self, name: str) -> str:
        """Where the provider sends the browser back (register it with the provider)."""
        return self.public_url() + CALLBACK_PATH.format(provider=name)

    def public_url(self) -> str:
        """Sealroom's address as browsers see it (``sso.public_url``)."""
        url = self.settings.sso.public_url
        assert url is not None  # required by the settings whenever a provider is configured
        return url.rstrip("/")

    def open_session(
        self,
        user: User,
        provider: str,
        *,
        action: str,
        via: str,
        subject: str,
        sid: str | None,
        tokens: Mapping[str, str | None],
        mfa_source: str | None,
        bearer: str | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[ActiveSession, str]:
        """Open a workspace session for a person a provider vouched for, with its link to the provider
        session (``tokens`` by kind — ``id_token``, ``access_token``, ``refresh_token`` — sealed) and the
        success record ``action``, all in one transaction. ``bearer``: the API token the session is
        bound to; ``expires_at``: when that token expires."""

        def attach(db: Session, session_id: str) -> None:
            db.add(
                SsoSessionLink(
                    session_id=session_id,
                    provider=provider,
                    subject=subject,
                    idp_sid=sid,
                    via=via,
                    id_token_enc=self.store.seal(tokens.get("id_token"), "id_token"),
                    access_token_enc=self.store.seal(tokens.get("access_token"), "access_token"),
                    refresh_token_enc=self.store.seal(tokens.get("refresh_token"), "refresh_token"),
                    mfa_source=mfa_source,
                    rechecked_at=self.clock.now(),
                )
            )
            details = {"provider": provider, "mfa": mfa_source, "roles": list(user.roles)}
            self.record(db, action, "success", user.username, session_id=session_id, details=details)

        suffix = ":bearer" if via == "bearer" else ""
        return self.sessions.open(
            user,
            mfa_verified=mfa_source is not None,
            token=bearer,
            expires_at=expires_at,
            details={"via": f"sso:{provider}{suffix}", "mfa_source": mfa_source},
            attach=attach,
        )

    def record(
        self,
        db: Session,
        action: str,
        outcome: str,
        actor: str,
        *,
        reason: str | None = None,
        session_id: str | None = None,
        details: dict[str, Any] | None = None,
        category: str = "authentication",
    ) -> None:
        """Append one audit record in ``db``'s transaction."""
        self.audit.record(
            db,
            category=category,
            action=action,
            outcome=outcome,
            actor=actor,
            reason=reason,
            session_id=session_id,
            details=details,
        )
