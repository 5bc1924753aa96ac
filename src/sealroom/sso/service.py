"""Single sign-on as the rest of Sealroom sees it: one object built by the workspace."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from sealroom.audit.log import AuditLog
from sealroom.clock import Clock
from sealroom.config import Settings
from sealroom.identity.service import IdentityService
from sealroom.keys import WorkspaceKeys
from sealroom.sessions import SessionManager
from sealroom.sso.bearer import SsoBearer
from sealroom.sso.context import SsoContext
from sealroom.sso.lifecycle import SsoLifecycle
from sealroom.sso.provider import OidcProvider
from sealroom.sso.signin import SsoSignIn
from sealroom.sso.store import SsoStore


class SsoService:
    """The configured providers, and the browser sign-in, API token, re-check and logout parts."""

    def __init__(
        self,
        settings: Settings,
        root: Path,
        db: sessionmaker[Session],
        keys: WorkspaceKeys,
        clock: Clock,
        audit: AuditLog,
        sessions: SessionManager,
        identity: IdentityService,
    ) -> None:
        providers = {name: OidcProvider(name, s, root) for name, s in settings.sso.providers.items()}
        self.context = SsoContext(settings, providers, db, SsoStore(keys), audit, clock, sessions)
        self.signin = SsoSignIn(self.context, identity)
        self.bearer = SsoBearer(self.context)
        self.lifecycle = SsoLifecycle(self.context)
        if providers:
            sessions.add_resolve_hook(self.lifecycle.recheck_if_due)

    def check_credentials(self) -> None:
        """Raise ``ConfigError`` naming what to set when a provider's client secret cannot be read (an
        environment variable unset for the server's process is the usual case)."""
        for provider in self.context.providers.values():
            provider.client_secret()

    @property
    def providers(self) -> dict[str, OidcProvider]:
        """The configured providers by name."""
        return dict(self.context.providers)

    @property
    def enabled(self) -> bool:
        """Whether any provider is configured."""
        return bool(self.context.providers)
