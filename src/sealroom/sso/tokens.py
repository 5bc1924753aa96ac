"""Validating the JWTs an identity provider signs: ID tokens, API access tokens and logout tokens.

Signature (against the provider's published keys, fetched again when a token names a new key),
issuer, audience, expiry and issue time are checked by joserfc; what OpenID Connect adds (nonce,
``azp``, the logout event) is checked here. A refused token raises ``TokenRefusedError`` whose
``reason`` names the check that failed; the message never repeats the token or its claims.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any, Final

from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwt import JWTClaimsRegistry

from sealroom.errors import AuthenticationError
from sealroom.sso.provider import OidcProvider

ALGORITHMS: Final = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
"""Asymmetric algorithms only: ``none`` and HMAC (keyed with a secret the client also holds) are refused."""
MAX_TOKEN_CHARS: Final = 16 * 1024
BACKCHANNEL_LOGOUT_EVENT: Final = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_MAX_AGE: Final = 5 * 60
"""How old (by ``iat``) a logout token may be; its ``jti`` is remembered that long to refuse replays."""


class TokenRefusedError(AuthenticationError):
    """A token from (or claiming to be from) an identity provider was not accepted.

    ``reason``: ``malformed``, ``bad_signature``, ``unknown_issuer``, ``wrong_audience``, ``expired``,
    ``not_yet_valid``, ``missing_claim``, ``bad_nonce``, ``replayed_nonce``, ``replayed_token``,
    ``not_a_logout_token``, ``not_an_access_token`` or ``stale_authentication``.
    """

    def __init__(self, reason: str, message: str | None = None) -> None:
        text = message or f"the identity provider's token was refused ({reason.replace('_', ' ')})"
        super().__init__(text, reason=reason)


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS without checking anything, only to choose the provider whose keys
    verify it. Raises ``TokenRefusedError`` (``malformed``)."""
    try:
        payload = json.loads(_compact(token).payload)
    except ValueError:
        raise TokenRefusedError("malformed") from None
    if not isinstance(payload, dict):
        raise TokenRefusedError("malformed")
    return payload


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated base64url parts starting with a JSON header (``eyJ``)."""
    return token.startswith("eyJ") and token.count(".") == 2


def _compact(token: str) -> jws.CompactSignature:
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise TokenRefusedError("malformed")
    try:
        return jws.extract_compact(token.encode("ascii"))
    except (JoseError, ValueError, UnicodeError):
        raise TokenRefusedError("malformed") from None


def verify_signed(provider: OidcProvider, token: str) -> dict[str, Any]:
    """The claims of ``token`` once its signature verifies against ``provider``'s published keys."""
    header = _compact(token).headers()
    if header.get("alg") not in ALGORITHMS:
        raise TokenRefusedError("bad_signature")
    kid = header.get("kid")
    keys = provider.key_set(kid if isinstance(kid, str) else None)
    if isinstance(kid, str) and not any(key.kid == kid for key in keys.keys):
        raise TokenRefusedError("bad_signature", "the token is signed by a key the provider does not publish")
    try:
        decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
    except BadSignatureError:
        raise TokenRefusedError("bad_signature") from None
    except (JoseError, ValueError):
        raise TokenRefusedError("malformed") from None
    claims = decoded.claims
    if not isinstance(claims, dict):
        raise TokenRefusedError("malformed")
    return claims


def check_claims(provider: OidcProvider, claims: dict[str, Any], audience: str, *essential: str) -> None:
    """Issuer, audience, expiry, issue and not-before times (with the provider's clock skew)."""
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": provider.settings.issuer},
        "aud": {"essential": True, "value": audience},
        "iat": {"essential": True},
    }
    for name in essential:
        options.setdefault(name, {"essential": True})
    registry = JWTClaimsRegistry(now=int(time.time()), leeway=provider.settings.clock_skew_seconds, **options)
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise TokenRefusedError("expired") from None
    except MissingClaimError:
        raise TokenRefusedError("missing_claim") from None
    except InvalidClaimError as exc:
        reason = {
            "iss": "unknown_issuer",
            "aud": "wrong_audience",
            "iat": "not_yet_valid",
            "nbf": "not_yet_valid",
        }
        raise TokenRefusedError(reason.get(exc.claim, "malformed")) from None


def validate_id_token(provider: OidcProvider, token: str, nonce: str) -> dict[str, Any]:
    """An ID token from the code exchange: signed, ours (``aud``/``azp``), current, and carrying the
    nonce this sign-in sent."""
    claims = verify_signed(provider, token)
    client_id = provider.settings.client_id
    check_claims(provider, claims, client_id, "exp", "sub")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise TokenRefusedError("wrong_audience")
    sent = claims.get("nonce")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
        raise TokenRefusedError("bad_nonce")
    return claims


def validate_access_token(provider: OidcProvider, token: str) -> dict[str, Any]:
    """A JWT access token presented to the API: signed, issued for ``api_audience``, current."""
    audience = provider.settings.api_audience
    if audience is None:
        raise TokenRefusedError("wrong_audience", "this provider's tokens are not accepted by the API")
    claims = verify_signed(provider, token)
    check_claims(provider, claims, audience, "exp", "sub")
    if "nonce" in claims:
        # An ID token is proof of a sign-in to the browser client, not a credential for the API.
        raise TokenRefusedError("not_an_access_token")
    return claims


def validate_logout_token(provider: OidcProvider, token: str) -> dict[str, Any]:
    """A back-channel logout token (OpenID Connect Back-Channel Logout 1.0, section 2.6)."""
    claims = verify_signed(provider, token)
    check_claims(provider, claims, provider.settings.client_id, "jti")
    if int(time.time()) - int(claims["iat"]) > LOGOUT_TOKEN_MAX_AGE + provider.settings.clock_skew_seconds:
        raise TokenRefusedError("expired")
    events = claims.get("events")
    if not isinstance(events, dict) or BACKCHANNEL_LOGOUT_EVENT not in events or "nonce" in claims:
        raise TokenRefusedError("not_a_logout_token")
    if not isinstance(claims.get("sid"), str) and not isinstance(claims.get("sub"), str):
        raise TokenRefusedError("missing_claim")
    return claims
