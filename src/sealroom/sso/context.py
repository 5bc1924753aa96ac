"""What every part of single sign-on works with: the providers, the stores and the audit log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.errors import NotFoundError
from sealroom.sessions import SessionManager
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
