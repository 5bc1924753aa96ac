"""TOTP second factor (RFC 6238: SHA-1, 6 digits, 30-second steps, as authenticator apps expect).

The seed is stored sealed with the workspace key, bound to the user's id, so a copied database row
cannot be moved to another user. A code is accepted for the current step or one step either side
(clock drift), and only if its step is later than the last step this user used: a code, or any older
code, can never be used twice.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import pyotp

from sealroom.keys import WorkspaceKeys

DIGITS = 6
INTERVAL_SECONDS = 30
VALID_WINDOW = 1
ISSUER = "Sealroom"


class TotpOutcome(Enum):
    """What checking a code found."""

    ACCEPTED = "accepted"
    INVALID = "bad_totp"
    REPLAY = "totp_replay"


@dataclass(frozen=True)
class TotpCheck:
    """The result of ``check_code``: the outcome and, when accepted, the step to remember."""

    outcome: TotpOutcome
    step: int | None = None


def new_secret() -> str:
    """A fresh random base32 seed (160 bits)."""
    return pyotp.random_base32()


def _context(user_id: str) -> str:
    return f"totp:{user_id}"


def seal_secret(keys: WorkspaceKeys, user_id: str, secret: str) -> bytes:
    """Seal a seed for storage in ``User.totp_secret_enc``."""
    return keys.seal(secret.encode("ascii"), context=_context(user_id))


def unseal_secret(keys: WorkspaceKeys, user_id: str, sealed: bytes) -> str:
    """Recover a seed sealed by ``seal_secret`` for the same user."""
    return keys.unseal(sealed, context=_context(user_id)).decode("ascii")


def provisioning_uri(secret: str, username: str, issuer: str = ISSUER) -> str:
    """The ``otpauth://`` URI an authenticator app reads (from a QR code or typed in)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_SECONDS).provisioning_uri(
        name=username, issuer_name=issuer
    )


def current_step(now: datetime) -> int:
    """The TOTP time step ``now`` falls in."""
    return int(now.timestamp()) // INTERVAL_SECONDS


def code_at(secret: str, now: datetime) -> str:
    """The code valid at ``now`` (for tests and the demo)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_SECONDS).generate_otp(current_step(now))


def check_code(secret: str, code: str, *, now: datetime, last_step: int) -> TotpCheck:
    """Check ``code`` against the steps around ``now``, refusing steps at or before ``last_step``.

    Spaces inside the code are ignored ("123 456"). Every candidate step is compared in constant time.
    """
    candidate = code.replace(" ", "")
    if len(candidate) != DIGITS or not candidate.isascii() or not candidate.isdigit():
        return TotpCheck(TotpOutcome.INVALID)
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_SECONDS)
    step_now = current_step(now)
    matched: list[int] = []
    for step in range(step_now - VALID_WINDOW, step_now + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), candidate):
            matched.append(step)
    fresh = [step for step in matched if step > last_step]
    if fresh:
        return TotpCheck(TotpOutcome.ACCEPTED, max(fresh))
    if matched:
        return TotpCheck(TotpOutcome.REPLAY)
    return TotpCheck(TotpOutcome.INVALID)
