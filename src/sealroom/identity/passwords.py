"""Password hashing (argon2id) and the minimum password policy.

Hashes are PHC strings (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``), so the parameters travel
with each hash and ``needs_rehash`` tells when a stored hash should be upgraded after a successful
sign-in. Passwords are NFKC-normalised before hashing and verifying, so the same password typed on
different keyboards or platforms (composed vs decomposed accents) matches.
"""

from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

from sealroom.errors import InputError

MIN_LENGTH = 12
# argon2 accepts any length, but an unbounded input is a cheap way to make the server hash megabytes.
MAX_LENGTH = 256
MIN_CLASSES = 2


def _normalise(password: str) -> bytes:
    return unicodedata.normalize("NFKC", password).encode("utf-8")


class PasswordHashing:
    """argon2id hashing with one set of parameters.

    The default is RFC 9106's second recommended option (argon2id, t=3, m=64 MiB, p=4), argon2-cffi's
    own default: about 50-100 ms per hash on a server core. Tests pass cheaper parameters.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
        if self._hasher.type is not Type.ID:
            raise ValueError("Sealroom stores argon2id password hashes only")

    def hash(self, password: str) -> str:
        """Hash a password with a fresh random salt; returns the PHC string to store."""
        return self._hasher.hash(_normalise(password))

    def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches ``password_hash``; False for a mismatch or a malformed hash."""
        try:
            return self._hasher.verify(password_hash, _normalise(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the stored hash was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


def _character_classes(password: str) -> int:
    lower = any(ch.islower() for ch in password)
    upper = any(ch.isupper() for ch in password)
    digit = any(ch.isdigit() for ch in password)
    other = any(not ch.isalnum() for ch in password)
    return sum((lower, upper, digit, other))


def check_password_policy(password: str, *, username: str | None = None) -> None:
    """Refuse a password below the minimum policy, with a message saying how to fix it.

    The policy: at least 12 characters (at most 256), at least two of lower case, upper case, digits
    and other characters, not only whitespace, and not containing the username.
    Raises ``InputError``.
    """
    if len(password) < MIN_LENGTH:
        raise InputError(f"the password is too short: use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InputError(f"the password is too long: use at most {MAX_LENGTH} characters")
    if not password.strip():
        raise InputError("the password must not be only whitespace")
    if _character_classes(password) < MIN_CLASSES:
        raise InputError(
            "the password uses only one kind of character: mix at least two of lower case, "
            "upper case, digits and symbols (or use a longer passphrase with spaces or digits)"
        )
    if username and username.strip().lower() in password.lower():
        raise InputError("the password must not contain the username")
