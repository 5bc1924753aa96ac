"""The OpenID provider test peer on its own, driven by a tiny relying party written here.

Proves what the single sign-on tests rely on: discovery, the code flow with PKCE, the claims in the ID
token and in the JWT access token for a resource, refresh and userinfo seeing account changes, re-
authentication, back-channel logout when the IdP session ends, and key rotation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.oidc_peer import API_RESOURCE, DEFAULT_SCOPE, OidcPeer, browser_sign_in, idp_logout, node_available

CLIENT_ID = "smoke-rp"
CLIENT_SECRET = "smoke-secret-" + "x" * 20


@dataclass
class RelyingParty:
    """Answers ``/login`` with a redirect to ``authorize_url``, records ``/callback`` queries and the
    back-channel logout POSTs."""

    authorize_url: str = ""
    callbacks: list[dict[str, str]] = field(default_factory=list)
    logout_posts: list[dict[str, str]] = field(default_factory=list)
    base_url: str = ""


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _int(part: str) -> int:
    return int.from_bytes(_b64url_decode(part), "big")


def decode_verified(token: str, jwks: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of an RS256 JWT whose signature a key of ``jwks`` verifies."""
    header_part, payload_part, signature_part = token.split(".")
    header = json.loads(_b64url_decode(header_part))
    assert header["alg"] == "RS256"
    jwk = next(key for key in jwks["keys"] if key["kid"] == header["kid"])
    public_key = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
    public_key.verify(
        _b64url_decode(signature_part),
        f"{header_part}.{payload_part}".encode("ascii"),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    return header, json.loads(_b64url_decode(payload_part))


@pytest.fixture(scope="module")
def relying_party() -> Iterator[RelyingParty]:
    rp = RelyingParty()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: bytes = b"", location: str | None = None) -> None:
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/login":
                self._reply(302, location=rp.authorize_url)
            elif url.path == "/callback":
                rp.callbacks.append({k: v[0] for k, v in parse_qs(url.query).items()})
                self._reply(200, b"signed in")
            else:
                self._reply(404)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            if self.path == "/backchannel-logout":
                rp.logout_posts.append({k: v[0] for k, v in parse_qs(body).items()})
                self._reply(200)
            else:
                self._reply(404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rp.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rp
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def peer(relying_party: RelyingParty) -> Iterator[OidcPeer]:
    if reason := node_available():
        pytest.skip(reason)
    with OidcPeer() as peer:
        peer.add_client(
            CLIENT_ID,
            CLIENT_SECRET,
            f"{relying_party.base_url}/callback",
            post_logout_redirect_uri=f"{relying_party.base_url}/signed-out",
            backchannel_logout_uri=f"{relying_party.base_url}/backchannel-logout",
        )
        peer.set_account("sam", groups=["clinicians"], amr=["pwd", "otp"], acr="urn:sealroom:mfa")
        peer.set_account("nora", groups=["intake"])
        peer.start()
        yield peer


@dataclass
class Flow:
    state: str
    nonce: str
    verifier: str


def begin(rp: RelyingParty, peer: OidcPeer, **extra: str) -> Flow:
    """Points the RP's /login at a fresh authorization request (state, nonce, PKCE S256)."""
    flow = Flow(secrets.token_urlsafe(16), secrets.token_urlsafe(16), secrets.token_urlsafe(48))
    digest = hashlib.sha256(flow.verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": f"{rp.base_url}/callback",
        "response_type": "code",
        "scope": DEFAULT_SCOPE,
        "state": flow.state,
        "nonce": flow.nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    rp.authorize_url = f"{peer.url('/auth')}?{urlencode(params)}"
    return flow


def sign_in(
    browser: httpx.Client, rp: RelyingParty, peer: OidcPeer, user: str, **extra: str
) -> dict[str, Any]:
    """The whole code flow; returns the token endpoint's answer."""
    flow = begin(rp, peer, **extra)
    answer = browser_sign_in(browser, f"{rp.base_url}/login", user)
    assert answer.status_code == 200, answer.text
    assert answer.text == "signed in"
    callback = rp.callbacks[-1]
    assert callback["state"] == flow.state
    tokens = httpx.post(
        peer.url("/token"),
        data={
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": f"{rp.base_url}/callback",
            "code_verifier": flow.verifier,
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert tokens.status_code == 200, tokens.text
    result: dict[str, Any] = tokens.json()
    result["_nonce"] = flow.nonce
    return result


def jwks(peer: OidcPeer) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(peer.url("/jwks")).json()
    return document


def refresh(peer: OidcPeer, refresh_token: str) -> httpx.Response:
    return httpx.post(
        peer.url("/token"),
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )


def test_discovery_document(peer: OidcPeer) -> None:
    document = peer.discovery()
    assert document["issuer"] == peer.issuer
    assert document["authorization_endpoint"] == peer.url("/auth")
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True
    assert document["end_session_endpoint"] == peer.url("/session/end")
    assert {"groups", "amr", "acr", "preferred_username", "email"} <= set(document["claims_supported"])
    assert "groups" in document["scopes_supported"]


def test_code_flow_id_token_userinfo_and_refresh(peer: OidcPeer, relying_party: RelyingParty) -> None:
    with httpx.Client() as browser:
        tokens = sign_in(browser, relying_party, peer, "sam")
    header, claims = decode_verified(tokens["id_token"], jwks(peer))
    assert header["kid"] == peer.signing_key()["kid"]
    assert claims["iss"] == peer.issuer
    assert claims["aud"] == CLIENT_ID
    assert claims["sub"] == "sam"
    assert claims["nonce"] == tokens["_nonce"]
    assert claims["groups"] == ["clinicians"]
    assert claims["amr"] == ["pwd", "otp"]
    assert claims["acr"] == "urn:sealroom:mfa"
    assert claims["preferred_username"] == "sam"
    assert claims["email"] == "sam@example.test"
    assert isinstance(claims["auth_time"], int)
    assert claims["sid"]
    assert tokens["refresh_token"]

    userinfo = httpx.get(peer.url("/me"), headers={"authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 200
    assert userinfo.json()["groups"] == ["clinicians"]

    # Group changes show on refresh, a disabled account can no longer refresh nor read userinfo.
    peer.set_account("sam", groups=["clinicians", "auditors"], amr=["pwd", "otp"], acr="urn:sealroom:mfa")
    refreshed = refresh(peer, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    _, claims = decode_verified(refreshed.json()["id_token"], jwks(peer))
    assert claims["groups"] == ["clinicians", "auditors"]
    try:
        peer.set_account("sam", groups=["clinicians"], disabled=True)
        assert refresh(peer, refreshed.json()["refresh_token"]).json()["error"] == "invalid_grant"
        bearer = {"authorization": f"Bearer {refreshed.json()['access_token']}"}
        assert httpx.get(peer.url("/me"), headers=bearer).status_code == 401
        with httpx.Client() as browser:
            begin(relying_party, peer)
            assert browser_sign_in(browser, f"{relying_party.base_url}/login", "sam").status_code == 403
    finally:
        peer.set_account("sam", groups=["clinicians"], amr=["pwd", "otp"], acr="urn:sealroom:mfa")


def test_resource_indicator_gives_jwt_access_token(peer: OidcPeer, relying_party: RelyingParty) -> None:
    with httpx.Client() as browser:
        tokens = sign_in(browser, relying_party, peer, "sam", resource=API_RESOURCE)
    header, claims = decode_verified(tokens["access_token"], jwks(peer))
    assert header["typ"] == "at+jwt"
    assert claims["aud"] == API_RESOURCE
    assert claims["iss"] == peer.issuer
    assert claims["sub"] == "sam"
    assert claims["client_id"] == CLIENT_ID
    assert claims["groups"] == ["clinicians"]
    assert claims["amr"] == ["pwd", "otp"]
    assert set(claims["scope"].split()) == set(DEFAULT_SCOPE.split())
    _, id_claims = decode_verified(tokens["id_token"], jwks(peer))
    assert id_claims["groups"] == ["clinicians"]


def test_reauthentication_gives_a_fresh_auth_time(peer: OidcPeer, relying_party: RelyingParty) -> None:
    with httpx.Client() as browser:
        first = sign_in(browser, relying_party, peer, "nora")
        _, before = decode_verified(first["id_token"], jwks(peer))
        # The IdP session covers a plain new request: no login form, same auth_time.
        again = sign_in(browser, relying_party, peer, "ignored-when-the-session-covers-it")
        _, same = decode_verified(again["id_token"], jwks(peer))
        assert same["sub"] == "nora"
        assert same["auth_time"] == before["auth_time"]
        while time.time() < before["auth_time"] + 1:  # auth_time counts whole seconds
            time.sleep(0.05)
        fresh = sign_in(browser, relying_party, peer, "nora", prompt="login", max_age="0")
    _, after = decode_verified(fresh["id_token"], jwks(peer))
    assert after["sub"] == "nora"
    assert after["auth_time"] > before["auth_time"]
    assert "amr" not in after  # nora's sign-in reports no amr


def test_idp_logout_sends_backchannel_logout_token(peer: OidcPeer, relying_party: RelyingParty) -> None:
    with httpx.Client() as browser:
        tokens = sign_in(browser, relying_party, peer, "nora")
        _, id_claims = decode_verified(tokens["id_token"], jwks(peer))
        before = len(relying_party.logout_posts)
        idp_logout(browser, peer, tokens["id_token"])
    assert len(relying_party.logout_posts) == before + 1
    header, claims = decode_verified(relying_party.logout_posts[-1]["logout_token"], jwks(peer))
    assert header["typ"] == "logout+jwt"
    assert claims["iss"] == peer.issuer
    assert claims["aud"] == CLIENT_ID
    assert claims["sub"] == "nora"
    assert claims["sid"] == id_claims["sid"]
    assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"]
    assert "nonce" not in claims
    # The grant went with the session: its refresh token no longer works.
    assert refresh(peer, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_rotate_keys_publishes_only_the_new_key(peer: OidcPeer, relying_party: RelyingParty) -> None:
    with httpx.Client() as browser:
        tokens = sign_in(browser, relying_party, peer, "sam")
        old_kid = peer.signing_key()["kid"]
        new_key = peer.rotate_keys()
        assert [key["kid"] for key in jwks(peer)["keys"]] == [new_key["kid"]] != [old_kid]
        assert "d" not in jwks(peer)["keys"][0]
        # Sessions and refresh tokens survive the restart; new tokens are signed with the new key.
        refreshed = refresh(peer, tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
        header, _ = decode_verified(refreshed.json()["id_token"], jwks(peer))
        assert header["kid"] == new_key["kid"]
        again = sign_in(browser, relying_party, peer, "ignored-when-the-session-covers-it")
        header, claims = decode_verified(again["id_token"], jwks(peer))
        assert header["kid"] == new_key["kid"]
        assert claims["sub"] == "sam"
    assert peer.foreign_key()["kid"] not in {key["kid"] for key in jwks(peer)["keys"]}
