"""A real OpenID Connect provider for the single sign-on tests, and a browser that signs in through it.

The provider is the certified ``oidc-provider`` npm package, run by Node.js from ``tests/oidc_peer/``
(``make test`` installs it) on 127.0.0.1, with its issuer on ``localhost`` so that its cookies and the
relying party's (on ``127.0.0.1``) live apart in one ``httpx.Client`` cookie jar, as in a browser::

    if reason := node_available():
        pytest.skip(reason)
    with OidcPeer() as peer:                                   # port chosen now: peer.issuer is known
        peer.add_client("sealroom", "s3cret", "http://127.0.0.1:8700/sso/corp/callback",
                        backchannel_logout_uri="http://127.0.0.1:8700/sso/corp/backchannel-logout")
        peer.set_account("sam", groups=["clinicians"], amr=["pwd", "otp", "mfa"])
        peer.start()
        with httpx.Client() as browser:
            answer = browser_sign_in(browser, "http://127.0.0.1:8700/sso/corp/login", "sam")
            peer.set_account("sam", groups=[], disabled=True)     # seen on the next userinfo / refresh
            idp_logout(browser, peer)                             # back-channel logout tokens go out
        peer.rotate_keys()                                        # restarts, publishing only the new key

What the provider does (``tests/oidc_peer/server.mjs`` has the details): authorization code flow with
PKCE (S256) required, ``client_secret_basic`` by default, no consent screen, a login form taking only a
username, ID tokens carrying ``groups``, ``preferred_username``, ``email``, ``name``, ``amr``, ``acr``,
``auth_time`` and ``sid``, refresh tokens for clients allowed the ``refresh_token`` grant, a JWT access
token (``typ: at+jwt``, ``aud`` = the resource, ``groups``) when the authorization request carries
``resource=API_RESOURCE`` (or any other absolute URI), and back-channel logout when the IdP session ends.
Accounts are read again on every use; clients and keys when the provider (re)starts. Sessions, grants and
tokens are kept in the state folder, so they survive ``restart()`` and ``rotate_keys()``.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urljoin, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

PEER_DIR = Path(__file__).resolve().parent / "oidc_peer"
"""The Node.js project: ``server.mjs``, ``package.json`` and (once installed) ``node_modules``."""

API_RESOURCE = "urn:sealroom:api"
"""The resource indicator (RFC 8707) the tests use for Sealroom's API; the JWT access tokens issued for it
carry it as ``aud`` (RFC 9068). oidc-provider only takes absolute URIs as resource indicators, hence a URN
rather than a bare name such as ``sealroom-api``."""

DEFAULT_SCOPE = "openid profile email groups"
"""Scopes that give every claim the provider has (``groups`` is a custom scope with the ``groups`` claim)."""

_STARTUP_TIMEOUT = 20.0


def node_available() -> str | None:
    """Why the provider cannot run here (a reason for ``pytest.skip``), or ``None`` when it can."""
    if shutil.which("node") is None:
        return "Node.js is not installed: the single sign-on tests need it to run the OpenID provider"
    if not (PEER_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        return (
            "the OpenID provider of the single sign-on tests is not installed: run `make test` (installs it)"
        )
    return None


def _b64url_uint(value: int) -> str:
    data = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def rsa_private_jwk(key: rsa.RSAPrivateKey, kid: str | None = None) -> dict[str, str]:
    """The private JWK (RFC 7517/7518) of an RSA key for RS256 signatures; ``kid`` is random when unset."""
    private = key.private_numbers()
    public = private.public_numbers
    return {
        "kty": "RSA",
        "kid": kid or secrets.token_urlsafe(12),
        "use": "sig",
        "alg": "RS256",
        "n": _b64url_uint(public.n),
        "e": _b64url_uint(public.e),
        "d": _b64url_uint(private.d),
        "p": _b64url_uint(private.p),
        "q": _b64url_uint(private.q),
        "dp": _b64url_uint(private.dmp1),
        "dq": _b64url_uint(private.dmq1),
        "qi": _b64url_uint(private.iqmp),
    }


def public_jwk(jwk: Mapping[str, str]) -> dict[str, str]:
    """The public part of a JWK (what a JWKS endpoint publishes)."""
    return {name: value for name, value in jwk.items() if name not in {"d", "p", "q", "dp", "dq", "qi"}}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _write_json(path: Path, value: Any) -> None:
    """Writes ``value`` to ``path`` atomically (the provider may be reading the file at that moment)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    temporary.write_text(json.dumps(value, indent=2), encoding="utf-8")
    os.replace(temporary, path)


class OidcPeer:
    """One oidc-provider process on ``127.0.0.1:port``, issuer ``http://localhost:port``.

    Configure clients and accounts, then ``start()``; ``add_client`` after the start takes effect at the
    next ``restart()``. ``set_account`` takes effect at once. Use it as a context manager to stop the
    process (and remove the state folder when it made one itself).
    """

    def __init__(self, state_dir: Path | None = None, *, port: int | None = None) -> None:
        self._own_state_dir = state_dir is None
        self.state_dir: Path = Path(tempfile.mkdtemp(prefix="oidc-peer-")) if state_dir is None else state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.port: int = port or _free_port()
        self.issuer: str = f"http://localhost:{self.port}"
        self._clients: list[dict[str, Any]] = []
        self._accounts: dict[str, dict[str, Any]] = {}
        self._signing_key = self.new_key()
        self._foreign_key: dict[str, str] | None = None
        # The same cookie keys across restarts: a browser's IdP session outlives a key rotation.
        self._cookie_keys = secrets.token_urlsafe(32)
        self._process: subprocess.Popen[str] | None = None
        self._log_file = self.state_dir / "provider.log"
        _write_json(self.state_dir / "clients.json", self._clients)
        _write_json(self.state_dir / "accounts.json", self._accounts)
        _write_json(self.state_dir / "jwks.json", {"keys": [self._signing_key]})

    # ---------------------------------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """Starts the provider and waits until it listens."""
        if self.running:
            return self
        if reason := node_available():
            raise RuntimeError(reason)
        node = shutil.which("node")
        assert node is not None
        env = {
            **os.environ,
            "PORT": str(self.port),
            "ISSUER": self.issuer,
            "STATE_DIR": str(self.state_dir),
            "COOKIE_KEYS": self._cookie_keys,
        }
        with self._log_file.open("a", encoding="utf-8") as log:
            process = subprocess.Popen(
                [node, str(PEER_DIR / "server.mjs")],
                cwd=PEER_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        self._process = process
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:  # reads stdout to its end, so the pipe never fills up
            assert process.stdout is not None
            with process.stdout:
                for line in process.stdout:
                    lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, name=f"oidc-peer-{self.port}", daemon=True).start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            if line.startswith("READY "):
                return self
        self.stop()
        raise RuntimeError(f"the OpenID provider did not start; its log ends:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        """Stops the provider (its sessions, grants and tokens stay in the state folder)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def restart(self) -> Self:
        """Stops and starts again on the same port, re-reading ``clients.json`` and ``jwks.json``."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stops the provider and removes the state folder if this object created it."""
        self.stop()
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def log(self) -> str:
        """What the provider wrote to stderr so far (all runs)."""
        try:
            return self._log_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    # -------------------------------------------------------------------------------- clients, accounts

    def add_client(
        self,
        client_id: str,
        secret: str,
        redirect_uri: str | Sequence[str],
        post_logout_redirect_uri: str | Sequence[str] | None = None,
        backchannel_logout_uri: str | None = None,
        *,
        backchannel_logout_session_required: bool = True,
        token_endpoint_auth_method: str = "client_secret_basic",
        refresh_tokens: bool = True,
        **metadata: Any,
    ) -> dict[str, Any]:
        """Registers a confidential web client (written to ``clients.json``; replaces one of the same id).

        Read by the provider when it starts: call it before ``start()``, or ``restart()`` afterwards.
        ``metadata`` adds or overrides any other oidc-provider client metadata. Returns what was written.
        """
        client: dict[str, Any] = {
            "client_id": client_id,
            "client_secret": secret,
            "redirect_uris": [redirect_uri] if isinstance(redirect_uri, str) else list(redirect_uri),
            "grant_types": ["authorization_code", *(["refresh_token"] if refresh_tokens else [])],
            "response_types": ["code"],
            "token_endpoint_auth_method": token_endpoint_auth_method,
        }
        if post_logout_redirect_uri is not None:
            client["post_logout_redirect_uris"] = (
                [post_logout_redirect_uri]
                if isinstance(post_logout_redirect_uri, str)
                else list(post_logout_redirect_uri)
            )
        if backchannel_logout_uri is not None:
            client["backchannel_logout_uri"] = backchannel_logout_uri
            client["backchannel_logout_session_required"] = backchannel_logout_session_required
        client.update(metadata)
        self._clients = [c for c in self._clients if c["client_id"] != client_id] + [client]
        _write_json(self.state_dir / "clients.json", self._clients)
        return client

    def set_account(
        self,
        username: str,
        *,
        groups: Sequence[str],
        amr: Sequence[str] | None = None,
        acr: str | None = None,
        email: str | None = None,
        name: str | None = None,
        disabled: bool = False,
    ) -> None:
        """Creates or replaces an account; the provider sees the change on its next request.

        ``amr``/``acr`` are what the sign-in reports (left out of the tokens when ``None``); a disabled
        account cannot sign in, and its userinfo and refresh requests fail.
        """
        self._accounts[username] = {
            "groups": list(groups),
            "amr": list(amr) if amr is not None else None,
            "acr": acr,
            "email": email if email is not None else f"{username}@example.test",
            "name": name if name is not None else username.title(),
            "disabled": disabled,
        }
        _write_json(self.state_dir / "accounts.json", self._accounts)

    def remove_account(self, username: str) -> None:
        """Deletes an account (the provider then treats it as unknown)."""
        self._accounts.pop(username, None)
        _write_json(self.state_dir / "accounts.json", self._accounts)

    # -------------------------------------------------------------------------------------------- keys

    @staticmethod
    def new_key() -> dict[str, str]:
        """A fresh RSA-2048 private JWK (RS256, random ``kid``)."""
        return rsa_private_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def signing_key(self) -> dict[str, str]:
        """The private JWK the provider signs with now (for tests that forge well-signed tokens)."""
        return dict(self._signing_key)

    def foreign_key(self) -> dict[str, str]:
        """An RSA private JWK the provider never publishes (for forged-signature tests); stable per peer."""
        if self._foreign_key is None:
            self._foreign_key = self.new_key()
        return dict(self._foreign_key)

    def public_jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWKS the provider publishes (computed locally: the public part of ``signing_key()``)."""
        return {"keys": [public_jwk(self._signing_key)]}

    def rotate_keys(self) -> dict[str, str]:
        """Replaces the signing key by a new one and restarts the provider (when running) to publish it.

        The old key is gone from the JWKS at once (no overlap). Returns the new private JWK.
        """
        self._signing_key = self.new_key()
        _write_json(self.state_dir / "jwks.json", {"keys": [self._signing_key]})
        if self.running:
            self.restart()
        return self.signing_key()

    # ------------------------------------------------------------------------------------------ helpers

    def url(self, path: str) -> str:
        """An absolute URL on the provider, e.g. ``url("/jwks")``."""
        return self.issuer + path

    def discovery(self) -> dict[str, Any]:
        """The provider's discovery document (``/.well-known/openid-configuration``)."""
        response = httpx.get(self.url("/.well-known/openid-configuration"), timeout=10)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document


# ------------------------------------------------------------------------------------------------ browser


class _Form:
    def __init__(self, form_id: str | None, action: str, method: str) -> None:
        self.id = form_id
        self.action = action
        self.method = method
        self.fields: dict[str, str] = {}
        self.buttons: list[tuple[str, str]] = []


class _FormParser(HTMLParser):
    """The forms of a page: action, method, named inputs and submit buttons (also those outside a form
    naming it with ``form=``)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self._current: _Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = _Form(
                attributes.get("id"), attributes.get("action", ""), attributes.get("method", "get").lower()
            )
            self.forms.append(self._current)
            return
        owner = self._owner(attributes.get("form"))
        if owner is None or "name" not in attributes:
            return
        kind = attributes.get("type", "submit" if tag == "button" else "text").lower()
        if tag == "button" or (tag == "input" and kind == "submit"):
            owner.buttons.append((attributes["name"], attributes.get("value", "")))
        elif tag in {"input", "textarea", "select"}:
            owner.fields[attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None

    def _owner(self, form_id: str | None) -> _Form | None:
        if form_id:
            return next((form for form in self.forms if form.id == form_id), None)
        return self._current


def _forms(response: httpx.Response) -> list[_Form]:
    if "html" not in response.headers.get("content-type", ""):
        return []
    parser = _FormParser()
    parser.feed(response.text)
    parser.close()
    return parser.forms


def _origin(url: str | httpx.URL) -> tuple[str, str]:
    parts = urlsplit(str(url))
    return parts.scheme, parts.netloc


def _submit(
    client: httpx.Client, page: httpx.Response, form: _Form, data: Mapping[str, str]
) -> httpx.Response:
    target = urljoin(str(page.url), form.action or str(page.url))
    if form.method == "post":
        return client.post(target, data=dict(data), follow_redirects=False)
    return client.get(target, params=dict(data), follow_redirects=False)


def _location(response: httpx.Response) -> str:
    return urljoin(str(response.url), response.headers["location"])


def _follow(client: httpx.Client, response: httpx.Response) -> httpx.Response:
    target = _location(response)
    if response.status_code in {307, 308} and response.request.method == "POST":
        return client.post(
            target,
            content=response.request.content,
            headers={"content-type": response.request.headers.get("content-type", "")},
            follow_redirects=False,
        )
    return client.get(target, follow_redirects=False)


def browser_sign_in(client: httpx.Client, start_url: str, username: str) -> httpx.Response:
    """Signs ``username`` in through the provider, as a browser would, starting at the relying party.

    GETs ``start_url`` (the relying party's login endpoint), follows its redirect to the provider, fills
    in the login form (or passes straight through when the IdP session already covers the request),
    submits the provider's auto-posting forms (``form_post`` answers, the logout it runs first when
    another account is signed in), and follows the redirects back. Returns the relying party's own
    answer to the first request that comes back to its origin (its callback), without following that
    answer's redirects. If the provider stops the journey (unknown or disabled user: 400/403, an error
    page), that response is returned instead. Redirects are followed by hand, whatever ``client`` does.
    """
    rp_origin = _origin(start_url)
    response = client.get(start_url, follow_redirects=False)
    left_rp = False
    for _ in range(40):
        on_rp = _origin(response.url) == rp_origin
        if on_rp and left_rp:
            return response
        if response.is_redirect:
            left_rp = left_rp or _origin(_location(response)) != rp_origin
            response = _follow(client, response)
            continue
        if on_rp:
            return response  # the relying party answered without sending us to the provider
        forms = _forms(response) if response.status_code == 200 else []
        if not forms:
            return response  # the provider refused (or showed an error page)
        login_form = next((form for form in forms if "login" in form.fields), None)
        if login_form is not None:
            response = _submit(client, response, login_form, {**login_form.fields, "login": username})
        else:
            # An auto-submitting page (form_post) or a confirmation: submit it as it stands.
            form = forms[0]
            data = dict(form.fields)
            if form.buttons and form.buttons[0][0] not in data:
                data[form.buttons[0][0]] = form.buttons[0][1]
            response = _submit(client, response, form, data)
    raise AssertionError(f"the sign-in did not come back to the relying party; last URL {response.url}")


def idp_logout(
    client: httpx.Client,
    peer: OidcPeer,
    id_token_hint: str | None = None,
    *,
    post_logout_redirect_uri: str | None = None,
) -> None:
    """Ends the browser's IdP session the standard way (RP-initiated logout at the end-session endpoint,
    confirmed with ``logout=yes``), which makes the provider send back-channel logout tokens to every
    relying party of the session that registered a ``backchannel_logout_uri``, before it answers.

    Stops at the redirect away from the provider (``post_logout_redirect_uri`` is not fetched).
    """
    params = {}
    if id_token_hint is not None:
        params["id_token_hint"] = id_token_hint
    if post_logout_redirect_uri is not None:
        params["post_logout_redirect_uri"] = post_logout_redirect_uri
    page = client.get(peer.url("/session/end"), params=params, follow_redirects=False)
    if page.status_code != 200:
        raise AssertionError(f"end-session endpoint answered {page.status_code}: {page.text[:500]}")
    form = next((form for form in _forms(page) if "xsrf" in form.fields), None)
    if form is None:
        raise AssertionError(f"no logout confirmation form at the end-session endpoint: {page.text[:500]}")
    response = _submit(client, page, form, {**form.fields, "logout": "yes"})
    if not response.is_redirect:
        raise AssertionError(f"logout confirmation answered {response.status_code}: {response.text[:500]}")
    provider = _origin(peer.issuer)
    while response.is_redirect and _origin(_location(response)) == provider:
        response = _follow(client, response)
