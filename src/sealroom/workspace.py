"""The workspace: creating one on disk, and wiring its services (the composition root).

``Workspace.open`` is the only place that builds stores, keys, engines and services; the API and the
CLI both call it and then talk to the services it exposes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from sealroom.access import Gatekeeper
from sealroom.alerting.monitor import Monitor
from sealroom.alerts import AlertDispatcher
from sealroom.analysis.jobs import AnalysisJobs
from sealroom.analysis.registry import EngineRegistry, configured_factories
from sealroom.analysis.service import AnalysisService
from sealroom.audit.anchors import check_anchor_paths
from sealroom.audit.log import AuditLog
from sealroom.clock import Clock, SystemClock
from sealroom.config import CONFIG_NAME, Settings, load_settings
from sealroom.db.engine import create_db_engine, session_factory
from sealroom.db.migrate import upgrade
from sealroom.egress import EgressPolicy
from sealroom.errors import ConfigError
from sealroom.exports.service import ExportService
from sealroom.forwarding import Forwarder
from sealroom.identity.admin import AccountAdmin
from sealroom.identity.integrations import IntegrationService
from sealroom.identity.invitations import InvitationService
from sealroom.identity.service import IdentityService
from sealroom.keys import LocalKeyProvider, WorkspaceKeys, create_key_file
from sealroom.material import SessionMaterial
from sealroom.policy.breakglass import BreakGlassService
from sealroom.policy.engine import PolicyEngine
from sealroom.policy.grants import GrantService
from sealroom.policy.lapsed_grants import close_lapsed_grants
from sealroom.policy.requests import RequestService
from sealroom.retention import RetentionService
from sealroom.sessions import SessionManager
from sealroom.sso.service import SsoService
from sealroom.vault.blobstore import FileBlobStore
from sealroom.vault.keystore import FileDataKeyStore
from sealroom.vault.service import VaultService

DATA_KEY_DIR = "data-keys"
"""The data-key store's folder, beside the workspace key file (so apart from database and blobs)."""

log = logging.getLogger("sealroom.workspace")


def default_config_text() -> str:
    """The starting ``sealroom.toml``: example data sets and roles for clinical, finance and identity."""
    return resources.files("sealroom.demo").joinpath("workspace.toml").read_text(encoding="utf-8")


def init_workspace(root: Path, config_text: str | None = None) -> Path:
    """Create a workspace folder: config, key files (0600), blob store and migrated database.

    Refuses a folder that already holds a workspace, so keys are never overwritten.
    """
    root = root.resolve()
    if (root / CONFIG_NAME).exists():
        raise ConfigError(f"{root} already holds a Sealroom workspace")
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    (root / CONFIG_NAME).write_text(config_text or default_config_text(), encoding="utf-8")
    settings = load_settings(root)
    for key_file in (settings.workspace_key_file, settings.audit_key_file):
        path = root / key_file
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        create_key_file(path)
    (root / settings.blob_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    database_url = _database_url(root, settings)
    _private_sqlite(_sqlite_file(database_url))
    engine = create_db_engine(database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return root


def _data_key_dir(root: Path, settings: Settings) -> Path:
    return (root / settings.workspace_key_file).parent / DATA_KEY_DIR


SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def _sqlite_file(database_url: str) -> Path | None:
    return Path(database_url.removeprefix("sqlite:///")) if database_url.startswith("sqlite:///") else None


def _private_sqlite(path: Path | None) -> None:
    """Make a SQLite database and its companion files readable by the owner only (0600).

    The workspace folder is 0700 already; this keeps the database private if it is copied out or the
    folder's mode is loosened. SQLite creates its ``-wal``/``-shm``/``-journal`` files with the mode of
    the database file, so a 0600 database keeps them 0600 too. A new database file is made (empty) here
    first, so it never exists with the process's default mode. A file that cannot be changed (another owner)
    is left as it is, with a warning.
    """
    if path is None:
        return
    if not path.exists():
        with contextlib.suppress(OSError):  # a missing folder: SQLite itself says what is wrong
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)):
        try:
            mode = stat.S_IMODE(candidate.stat().st_mode)
            if mode & 0o077:
                os.chmod(candidate, mode & 0o600)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("could not make %s private (0600): %s", candidate.name, type(exc).__name__)


def _database_url(root: Path, settings: Settings) -> str:
    url = settings.database_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return "sqlite:///" + str(root / url.removeprefix("sqlite:///"))
    return url


@dataclass
class Workspace:
    """An opened workspace and its services."""

    root: Path
    settings: Settings
    keys: WorkspaceKeys
    engine: Engine
    db: sessionmaker[Session]
    clock: Clock
    audit: AuditLog
    identity: IdentityService
    grants: GrantService
    sessions: SessionManager
    gate: Gatekeeper
    vault: VaultService
    analysis: AnalysisService
    requests: RequestService
    exports: ExportService
    breakglass: BreakGlassService
    alerts: AlertDispatcher
    retention: RetentionService
    integrations: IntegrationService
    invitations: InvitationService
    accounts: AccountAdmin
    jobs: AnalysisJobs
    sso: SsoService
    forwarder: Forwarder
    """Feeds the SIEM sinks in background threads; ``serve`` starts it (see ``api/app.py``)."""
    engines: EngineRegistry = field(repr=False)

    @classmethod
    def open(
        cls, root: Path, *, clock: Clock | None = None, engines: EngineRegistry | None = None
    ) -> Workspace:
        """Open a workspace: check keys, migrate the database, wire every service."""
        root = root.resolve()
        settings = load_settings(root)
        keys = WorkspaceKeys.load(root / settings.workspace_key_file, root / settings.audit_key_file)
        clock = clock or SystemClock()
        database_url = _database_url(root, settings)
        sqlite_file = _sqlite_file(database_url)
        check_anchor_paths(root, settings, sqlite_file)
        _private_sqlite(sqlite_file)
        engine = create_db_engine(database_url)
        upgrade(engine)
        db = session_factory(engine)
        audit = AuditLog(keys.audit_key, clock)
        sessions = SessionManager(db, settings.session, clock, audit, SessionMaterial())
        policy = PolicyEngine(settings)
        gate = Gatekeeper(policy, EgressPolicy(settings), audit, clock, settings, sessions.material)
        engines = (engines or EngineRegistry()).extended(configured_factories(settings, root))
        blobs = FileBlobStore(root / settings.blob_dir)
        keystore = FileDataKeyStore(_data_key_dir(root, settings))
        vault = VaultService(
            db, settings, LocalKeyProvider(keys), blobs, gate, audit, sessions, clock, keystore
        )
        vault.move_legacy_keys()  # workspaces from before the key store keep their keys in the database
        grants = GrantService(db, clock, audit, max_duration=timedelta(days=settings.access.grant_max_days))
        alerts = AlertDispatcher(settings.alerts, db, audit, clock)
        identity = IdentityService(db, keys, settings, clock, audit)
        invitations = InvitationService(db, keys, settings, clock, audit, identity.passwords)
        analysis = AnalysisService(db, gate, vault, engines, audit, keys.pii_hash_key)
        forwarder = Forwarder(settings.forwarding, db, audit, clock, root)
        if forwarder.sinks:
            # Any commit may have appended audit records: the forwarder looks at once, not at its next poll.
            event.listen(db, "after_commit", lambda _session: forwarder.wake())
        return cls(
            root=root,
            settings=settings,
            keys=keys,
            engine=engine,
            db=db,
            clock=clock,
            audit=audit,
            identity=identity,
            grants=grants,
            sessions=sessions,
            gate=gate,
            vault=vault,
            analysis=analysis,
            requests=RequestService(db, settings, clock, audit, grants, gate),
            exports=ExportService(db, settings, clock, audit, gate, vault, engines),
            breakglass=BreakGlassService(db, settings, gate, clock, audit, alerts, grants),
            alerts=alerts,
            retention=RetentionService(db, settings, clock, audit, keystore, blobs, sessions),
            integrations=IntegrationService(db, clock, audit),
            invitations=invitations,
            accounts=AccountAdmin(db, gate, identity, invitations),
            jobs=AnalysisJobs(analysis, sessions.material, clock),
            sso=SsoService(settings, root, db, keys, clock, audit, sessions, identity),
            forwarder=forwarder,
            engines=engines,
        )

    def forwarder_as(self, actor: str) -> Forwarder:
        """A separate forwarder recording its ``forward.sink.*`` events as ``actor`` (the CLI's operator)."""
        return Forwarder(self.settings.forwarding, self.db, self.audit, self.clock, self.root, actor=actor)

    def purge_stale_sessions(self) -> list[str]:
        """End sessions left open by a previous run (their memory is gone; record what they held)."""
        return self.sessions.end_all_open("restart")

    def maintain(self) -> None:
        """The periodic pass of ``serve``: end timed-out sessions, close grants and requests that ran
        out (destroying material they opened), and run retention when it is due; sign an anchor and
        verify the chain when due, and evaluate the alert rules (``sealroom.alerting``). Each step runs
        even when another fails; failures are logged by kind only."""
        monitor = Monitor.of(self)
        steps: list[tuple[str, Callable[[], object]]] = [
            ("sessions", self.sessions.end_expired),
            ("sso re-check", self.sso.lifecycle.recheck_open_sessions),
            ("grants", lambda: close_lapsed_grants(self.db, self.audit, self.clock, self.sessions.material)),
            ("requests", self.requests.expire_due),
            ("retention", self.retention.run_if_due),
            ("anchor", monitor.anchor_if_due),
            ("verify", monitor.verify_if_due),
            ("alert rules", monitor.run_rules),
        ]
        for name, step in steps:
            try:
                step()
            except Exception as exc:  # keep the other steps running; no details (they may hold ids)
                log.error("maintenance step %s failed: %s", name, type(exc).__name__)

    def close(self) -> None:
        """Let running analyses end, stop forwarding and let alerts go out (bounded waits); release
        database connections."""
        self.jobs.close()
        self.forwarder.stop()
        self.alerts.close()
        self.engine.dispose()
