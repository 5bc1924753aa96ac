"""One OpenID Connect provider: its discovery document, its published signing keys, and the calls a
relying party makes to it (code exchange, userinfo, refresh).

Connections ignore proxy and certificate environment variables and never follow redirects; an internal
CA goes in ``ca_bundle``. Keys are cached and fetched again when a token names a key id the cache does
not hold (the provider rotated its keys), at most once per ``jwks_min_refresh_seconds``, so forged
tokens with random key ids cannot make Sealroom hammer the provider.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from joserfc.jwk import KeySet

from sealroom.analysis.model.credentials import read_key_file
from sealroom.config import OidcProviderSettings
from sealroom.errors import AuthenticationError, SealroomError

MAX_DOCUMENT_BYTES = 512 * 1024


class ProviderUnavailableError(SealroomError):
    """The identity provider could not be reached or answered something unusable."""

    http_status = 503


@dataclass(frozen=True)
class ProviderMetadata:
    """The endpoints of a provider's discovery document that Sealroom uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    iss_parameter_supported: bool
    """RFC 9207: the provider puts ``iss`` on every authorization response, so one without it is refused."""


class OidcProvider:
    """A configured provider; thread-safe, caching its metadata and keys."""

    def __init__(self, name: str, settings: OidcProviderSettings, workspace_root: Path) -> None:
        self.name = name
        self.settings = settings
        self._root = workspace_root
        self._lock = threading.Lock()
        self._fetch_lock = threading.Lock()
        self._metadata: ProviderMetadata | None = None
        self._keys: KeySet | None = None
        self._keys_fetched_at = 0.0

    # -- connections ---------------------------------------------------------------------------

    def _http_options(self) -> dict[str, Any]:
        verify: str | bool = str(self._root / self.settings.ca_bundle) if self.settings.ca_bundle else True
        return {
            "timeout": self.settings.timeout_seconds,
            "trust_env": False,
            "follow_redirects": False,
            "verify": verify,
        }

    def client_secret(self) -> str | None:
        """The client secret from its environment variable or 0600 file; None for a public client."""
        settings = self.settings
        if settings.client_secret_env:
            value = os.environ.get(settings.client_secret_env, "").strip()
            if not value:
                raise ProviderUnavailableError(
                    f"sign-in through {settings.display_name} is not set up on this server: its client "
                    f"secret is missing (set the environment variable {settings.client_secret_env} for "
                    "the sealroom serve process)",
                    reason="client_secret_missing",
                )
            return value
        if settings.client_secret_file:
            path = self._root / settings.client_secret_file
            try:
                return read_key_file(self.name, path, settings.client_secret_file, owner="sso provider")
            except SealroomError as exc:
                raise ProviderUnavailableError(exc.message, reason="client_secret_missing") from None
        return None

    def oauth_client(
        self, redirect_uri: str | None = None, token: dict[str, Any] | None = None
    ) -> OAuth2Client:
        """An Authlib OAuth 2.0 client for this provider (PKCE S256; secret sent by HTTP Basic)."""
        secret = self.client_secret()
        return OAuth2Client(
            client_id=self.settings.client_id,
            client_secret=secret,
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
            scope=" ".join(self.settings.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token=token,
            **self._http_options(),
        )

    def _unreachable(self, what: str, exc: Exception) -> ProviderUnavailableError:
        return ProviderUnavailableError(
            f"the identity provider {self.settings.display_name} cannot be reached "
            f"({what}: {type(exc).__name__})",
            reason="provider_unreachable",
        )

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            with httpx.Client(**self._http_options()) as client:
                response = client.get(url, headers={"accept": "application/json"})
        except httpx.HTTPError as exc:
            raise self._unreachable(url, exc) from None
        if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
            raise ProviderUnavailableError(
                f"the identity provider {self.settings.display_name} answered {response.status_code} "
                f"for {url}",
                reason="provider_error",
            )
        try:
            document = response.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ProviderUnavailableError(
                f"the identity provider {self.settings.display_name} sent something other than JSON",
                reason="provider_error",
            )
        return document

    # -- discovery and keys --------------------------------------------------------------------

    def metadata(self) -> ProviderMetadata:
        """The provider's discovery document (fetched once); its issuer must be the configured one."""
        with self._lock:
            if self._metadata is None:
                issuer = self.settings.issuer.rstrip("/")
                document = self._get_json(issuer + "/.well-known/openid-configuration")
                if document.get("issuer") != self.settings.issuer:
                    named = str(document.get("issuer"))[:200]
                    raise ProviderUnavailableError(
                        f"the discovery document of {self.settings.display_name} names the issuer {named!r}, "
                        f"not the configured {self.settings.issuer!r} (they must match exactly, trailing "
                        "slash included)",
                        reason="issuer_mismatch",
                    )
                try:
                    self._metadata = ProviderMetadata(
                        issuer=document["issuer"],
                        authorization_endpoint=str(document["authorization_endpoint"]),
                        token_endpoint=str(document["token_endpoint"]),
                        jwks_uri=str(document["jwks_uri"]),
                        userinfo_endpoint=document.get("userinfo_endpoint"),
                        end_session_endpoint=document.get("end_session_endpoint"),
                        iss_parameter_supported=document.get("authorization_response_iss_parameter_supported")
                        is True,
                    )
                except KeyError as exc:
                    raise ProviderUnavailableError(
                        f"the discovery document of {self.settings.display_name} lacks {exc.args[0]}",
                        reason="provider_error",
                    ) from None
            return self._metadata

    def key_set(self, wanted_kid: str | None = None) -> KeySet:
        """The provider's published keys; fetched again when ``wanted_kid`` is not among them.

        One fetch at a time, and at most one per ``jwks_min_refresh_seconds`` (counted from the
        attempt, so failed fetches are limited too): concurrent tokens with made-up key ids wait for
        the same answer instead of each asking the provider.
        """
        metadata = self.metadata()
        with self._fetch_lock:
            with self._lock:
                keys = self._keys
                known = keys is not None and (
                    wanted_kid is None or any(k.kid == wanted_kid for k in keys.keys)
                )
                recently = time.monotonic() - self._keys_fetched_at < self.settings.jwks_min_refresh_seconds
                if keys is not None and (known or recently):
                    return keys
                self._keys_fetched_at = time.monotonic()
            document = self._get_json(metadata.jwks_uri)
            try:
                fetched = KeySet.import_key_set(document)  # type: ignore[arg-type]  # checked by joserfc
            except Exception:  # any malformed key set: the provider's fault, said plainly
                raise ProviderUnavailableError(
                    f"the published keys of {self.settings.display_name} cannot be read",
                    reason="provider_error",
                ) from None
            with self._lock:
                self._keys = fetched
            return fetched

    # -- calls ---------------------------------------------------------------------------------

    def exchange_code(self, code: str, code_verifier: str, redirect_uri: str) -> dict[str, Any]:
        """Exchange an authorization code (with its PKCE verifier) for tokens."""
        with self.oauth_client(redirect_uri) as client:
            try:
                token = client.fetch_token(
                    self.metadata().token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                )
            except OAuthError as exc:
                raise AuthenticationError(
                    f"the identity provider refused the sign-in code ({_oauth_error(exc)}); sign in again",
                    reason="code_refused",
                ) from None
            except Exception as exc:  # Authlib's own HTTP client's transport errors
                raise self._unreachable("token endpoint", exc) from None
        return dict(token)

    def userinfo(self, access_token: str) -> dict[str, Any] | None:
        """The userinfo claims for an access token; None when the provider refuses the token."""
        endpoint = self.metadata().userinfo_endpoint
        if endpoint is None:
            raise ProviderUnavailableError(
                f"{self.settings.display_name} publishes no userinfo endpoint", reason="provider_error"
            )
        try:
            with httpx.Client(**self._http_options()) as client:
                response = client.get(endpoint, headers={"authorization": f"Bearer {access_token}"})
        except httpx.HTTPError as exc:
            raise self._unreachable("userinfo endpoint", exc) from None
        if response.status_code in (401, 403):
            return None
        if response.status_code != 200:
            raise ProviderUnavailableError(
                f"the userinfo endpoint answered {response.status_code}", reason="provider_error"
            )
        try:
            claims = response.json()
        except ValueError:
            claims = None
        if not isinstance(claims, dict):
            raise ProviderUnavailableError(
                "the userinfo endpoint sent something other than JSON", reason="provider_error"
            )
        return claims

    def refresh(self, refresh_token: str) -> dict[str, Any] | None:
        """New tokens for a refresh token; None when the provider refuses it (account gone, revoked)."""
        with self.oauth_client() as client:
            try:
                token = client.refresh_token(self.metadata().token_endpoint, refresh_token=refresh_token)
            except OAuthError:  # invalid_grant ...: the account is gone or the grant revoked
                return None
            except Exception as exc:  # Authlib's own HTTP client's transport errors
                raise self._unreachable("token endpoint", exc) from None
        return dict(token)


def _oauth_error(exc: Exception) -> str:
    error = getattr(exc, "error", None)
    return str(error) if error else type(exc).__name__
