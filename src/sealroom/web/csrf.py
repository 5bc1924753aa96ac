"""CSRF tokens: one per session for the signed-in pages, a double-submit cookie for the sign-in form.

A session's token is an HMAC of its id under a key derived from the workspace key, so it cannot be
made without that key and dies with the session. The sign-in form (before any session exists) pairs a
random value in a ``SameSite=Strict`` cookie with the same value in the form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sealroom.errors import AccessDeniedError

LOGIN_COOKIE = "sealroom_login"
FIELD = "csrf_token"


def session_token(key: bytes, session_id: str) -> str:
    """The CSRF token of the pages of session ``session_id``."""
    return hmac.new(key, f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def check_session_token(key: bytes, session_id: str, sent: str | None) -> None:
    """Raise ``AccessDeniedError`` (reason ``csrf``) unless ``sent`` is the session's token."""
    if not sent or not hmac.compare_digest(session_token(key, session_id), sent):
        raise AccessDeniedError(
            "the form was not sent from this session's page (reload the page and try again)", reason="csrf"
        )


def new_login_value() -> str:
    """A fresh value for the sign-in form's cookie and hidden field."""
    return secrets.token_urlsafe(24)


def check_login_value(cookie: str | None, sent: str | None) -> None:
    """Raise ``AccessDeniedError`` unless the sign-in form's field matches its cookie."""
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise AccessDeniedError(
            "the sign-in form has expired or was not sent from this site; reload it and sign in",
            reason="csrf",
        )
