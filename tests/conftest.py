"""Shared fixtures: a real workspace on disk, a movable clock, users with TOTP, the ASGI app."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from sealroom.analysis.registry import EngineRegistry
from sealroom.api.app import create_app
from sealroom.clock import ManualClock
from sealroom.sessions import ActiveSession
from sealroom.workspace import Workspace, init_workspace
from tests.sso_world import SsoWorld, running_sso_world

# Wide enough that CLI tables and messages are not wrapped in the middle of what tests look for.
os.environ.setdefault("COLUMNS", "250")

PASSWORD = "correct-Horse-battery-9"
USERS = {
    "nora": ["intake"],
    "sam": ["clinician"],
    "pat": ["privacy-officer"],
    "kim": ["auditor"],
    "ada": ["supervisor"],
    "ben": ["supervisor"],
    "alex": ["admin"],
}
CLINICAL_CASE = "ENC-2026-0042"


@pytest.fixture(scope="session")
def shared_engines() -> EngineRegistry:
    """One engine registry for the whole run, so OCR models load once."""
    return EngineRegistry()


@dataclass
class Env:
    """A workspace with users (all MFA-enrolled) and a clock the test can move."""

    root: Path
    workspace: Workspace
    clock: ManualClock
    secrets: dict[str, str] = field(default_factory=dict)

    def code(self, username: str) -> str:
        """The TOTP code of ``username`` at the workspace clock's time."""
        return pyotp.TOTP(self.secrets[username]).at(self.clock.now())

    def fresh_code(self, username: str) -> str:
        """A code from a new 30-second step (codes are single-use), moving the clock on."""
        self.clock.advance(seconds=30)
        return self.code(username)

    def session(self, username: str) -> ActiveSession:
        """Sign ``username`` in through the identity service and open a session."""
        user = self.workspace.identity.authenticate(username, PASSWORD, self.fresh_code(username))
        active, _token = self.workspace.sessions.open(user, mfa_verified=True)
        return active

    def reopen(self) -> Workspace:
        """Open the same workspace again, as a restarted server would."""
        self.workspace.close()
        self.workspace = Workspace.open(self.root, clock=self.clock, engines=self.workspace.engines)
        return self.workspace


START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A workspace with the four demo roles' users (argon2id, TOTP) and grants for the clinical case.

    Built once per run and copied for each test, because hashing passwords is slow on purpose.
    """
    root = init_workspace(tmp_path_factory.mktemp("template") / "ws")
    workspace = Workspace.open(root, clock=ManualClock(START))
    secrets = {}
    for username, roles in USERS.items():
        workspace.identity.add_user(username, PASSWORD, roles, actor="operator:test")
        secrets[username] = workspace.identity.enroll_mfa(username, actor="operator:test").secret
    for username in ("sam", "pat"):
        workspace.grants.create_grant(
            username, CLINICAL_CASE, purpose="care", duration=timedelta(hours=8), granted_by="operator:test"
        )
    workspace.close()
    return root, secrets


@pytest.fixture
def env(
    tmp_path: Path, template: tuple[Path, dict[str, str]], shared_engines: EngineRegistry
) -> Iterator[Env]:
    """A fresh copy of the template workspace, with its own clock."""
    source, secrets = template
    root = tmp_path / "ws"
    shutil.copytree(source, root)
    clock = ManualClock(START)
    workspace = Workspace.open(root, clock=clock, engines=shared_engines)
    environment = Env(root=root, workspace=workspace, clock=clock, secrets=dict(secrets))
    yield environment
    environment.workspace.close()


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    """The real ASGI app of ``env``'s workspace, driven over HTTP in-process."""
    with TestClient(create_app(env.workspace, sweep=False)) as test_client:
        yield test_client


def login(client: TestClient, env: Env, username: str) -> dict[str, str]:
    """Sign in over the API with password and a fresh TOTP code; returns bearer headers."""
    response = client.post(
        "/api/v1/login", json={"username": username, "password": PASSWORD, "totp": env.fresh_code(username)}
    )
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture(scope="module")
def sso_world(
    tmp_path_factory: pytest.TempPathFactory, template: tuple[Path, dict[str, str]]
) -> Iterator[SsoWorld]:
    """A real OpenID provider on loopback and a Sealroom server using it (``tests/sso_world.py``)."""
    yield from running_sso_world(tmp_path_factory, template)
