"""A real OpenID provider and a Sealroom server configured for it, for the single sign-on tests.

Sealroom runs as a real uvicorn server, because the provider calls it back (back-channel logout), and a
browser is played by an ``httpx.Client`` (or Chromium) that follows the provider's redirects and fills in
its login form. The workspace's clock starts at the real time (the provider's tokens carry real times)
and is moved by hand to reach re-check intervals.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from sealroom.api.app import create_app
from sealroom.clock import ManualClock
from sealroom.db.models import AuditEvent, WorkspaceSession
from sealroom.workspace import Workspace
from tests.oidc_peer import API_RESOURCE, OidcPeer, browser_sign_in, node_available

CLIENT_ID = "sealroom"
CLIENT_SECRET = "test-client-secret-" + "x" * 16
CLI_CLIENT = "sealroom-cli"
CLI_REDIRECT = "http://127.0.0.1:9/cli-callback"  # never fetched: the test reads the code off the redirect
SECRET_ENV = "SEALROOM_TEST_OIDC_SECRET"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sso_config(issuer: str, public_url: str, partner_issuer: str | None = None) -> str:
    """The ``[sso]`` part of sealroom.toml these tests use (with a second provider, ``partner``, when
    its issuer is given)."""
    partner = (
        ""
        if partner_issuer is None
        else f"""
[sso.providers.partner]
display_name = "Partner Clinic ID"
issuer = "{partner_issuer}"
client_id = "{CLIENT_ID}"
client_secret_env = "{SECRET_ENV}"
scopes = ["openid", "profile", "email", "groups"]
api_audience = "{API_RESOURCE}"
role_mapping = [{{ value = "imaging-staff", roles = ["clinician"] }}]
"""
    )
    return (
        partner
        + f"""
[sso]
public_url = "{public_url}"

[sso.providers.corp]
display_name = "Corp ID"
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
client_secret_env = "{SECRET_ENV}"
scopes = ["openid", "profile", "email", "groups"]
api_audience = "{API_RESOURCE}"
recheck_minutes = 1
jwks_min_refresh_seconds = 0
role_mapping = [
  {{ value = "radiology-clinicians", roles = ["clinician"] }},
  {{ value = "records-auditors", roles = ["auditor"] }},
]
"""
    )


@dataclass
class SsoWorld:
    """The provider, a Sealroom server configured for it, and the workspace behind that server."""

    peer: OidcPeer
    partner: OidcPeer
    """A second provider, ``partner`` in the configuration (group ``imaging-staff`` → clinician)."""
    workspace: Workspace
    clock: ManualClock
    base: str
    secrets: dict[str, str]

    def browser(self) -> httpx.Client:
        return httpx.Client(timeout=20)

    def sign_in(self, browser: httpx.Client, username: str, next_path: str = "/") -> httpx.Response:
        return browser_sign_in(browser, f"{self.base}/sso/corp/login?next={next_path}", username)

    def session_token(self, browser: httpx.Client) -> str:
        token = browser.cookies.get("sealroom_session", domain="127.0.0.1")
        assert token, "no session cookie was set"
        return token

    def api(self, browser: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.session_token(browser)}"}
        return httpx.request(method, self.base + path, headers=headers, timeout=60, **kwargs)

    def events(self, action: str, actor: str | None = None) -> list[AuditEvent]:
        with self.workspace.db() as db:
            query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            if actor is not None:
                query = query.where(AuditEvent.actor == actor)
            return list(db.scalars(query))

    def session_row(self, session_id: str) -> WorkspaceSession:
        with self.workspace.db() as db:
            row = db.get(WorkspaceSession, session_id)
            assert row is not None
            return row

    def cli_code(self, username: str, peer: OidcPeer | None = None) -> tuple[str, str]:
        """An authorization code issued to the *command-line* client for Sealroom's API (code flow with
        PKCE and the API resource, the provider's form filled in as ``username``), and its verifier."""
        discovery = (peer or self.peer).discovery()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params = {
            "client_id": CLI_CLIENT,
            "response_type": "code",
            "scope": "openid profile groups",
            "redirect_uri": CLI_REDIRECT,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": API_RESOURCE,
            "state": "s",
            "nonce": "n",
        }
        with httpx.Client(timeout=20) as browser:
            response = browser.get(discovery["authorization_endpoint"], params=params)
            for _ in range(20):
                if response.is_redirect:
                    target = response.headers["location"]
                    if target.startswith(CLI_REDIRECT):
                        return parse_qs(urlsplit(target).query)["code"][0], verifier
                    response = browser.get(str(response.url.join(target)))
                else:
                    action = re.search(r'action="([^"]*login[^"]*)"', response.text)
                    assert action is not None, response.text
                    response = browser.post(str(response.url.join(action.group(1))), data={"login": username})
        raise AssertionError("no code came back")

    def cli_tokens(self, username: str, peer: OidcPeer | None = None) -> dict[str, Any]:
        """Tokens of the command-line client: a JWT access token for Sealroom's API, an ID token (its
        audience the command-line client) and a refresh token."""
        code, verifier = self.cli_code(username, peer)
        answer = httpx.post(
            (peer or self.peer).discovery()["token_endpoint"],
            auth=(CLI_CLIENT, CLIENT_SECRET),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": CLI_REDIRECT,
                "code_verifier": verifier,
                "resource": API_RESOURCE,
            },
        )
        assert answer.status_code == 200, answer.text
        tokens: dict[str, Any] = answer.json()
        return tokens

    def person(self, groups: list[str], amr: list[str] | None = None) -> str:
        """A new person at the provider (a fresh username per test keeps tests apart)."""
        username = f"p{uuid.uuid4().hex[:10]}"
        self.peer.set_account(username, groups=groups, amr=amr)
        return username


def _provider(folder: Path, name: str, base: str) -> OidcPeer:
    """A started provider knowing Sealroom (as provider ``name``) and the command-line client."""
    peer = OidcPeer(folder / f"{name}-idp")
    peer.add_client(
        CLIENT_ID,
        CLIENT_SECRET,
        f"{base}/sso/{name}/callback",
        post_logout_redirect_uri=f"{base}/signed-out",
        backchannel_logout_uri=f"{base}/sso/{name}/backchannel-logout",
    )
    peer.add_client(CLI_CLIENT, CLIENT_SECRET, CLI_REDIRECT)
    return peer.start()


def running_sso_world(
    tmp_path_factory: pytest.TempPathFactory, template: tuple[Path, dict[str, str]]
) -> Iterator[SsoWorld]:
    """Start the provider and Sealroom (the ``sso_world`` fixture of ``tests/conftest.py``); skips when
    Node.js or the provider package is missing."""
    if reason := node_available():
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("sso")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    peer, partner = (_provider(folder, name, base) for name in ("corp", "partner"))
    root = folder / "ws"
    shutil.copytree(template[0], root)
    with (root / "sealroom.toml").open("a", encoding="utf-8") as config:
        config.write(sso_config(peer.issuer, base, partner.issuer))
    monkey = pytest.MonkeyPatch()
    monkey.setenv(SECRET_ENV, CLIENT_SECRET)
    clock = ManualClock(datetime.now(UTC))
    workspace = Workspace.open(root, clock=clock)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(workspace, sweep=False),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield SsoWorld(peer, partner, workspace, clock, base, dict(template[1]))
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        workspace.close()
        peer.close()
        partner.close()
        monkey.undo()
