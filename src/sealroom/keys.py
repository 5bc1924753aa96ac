"""Workspace key material: the local key files and the keys derived from them.

Two files, each 32 random bytes, created 0600 and refused if any other user can read them:

* ``workspace.key`` wraps every image's data key (AES key wrap, RFC 3394) and, through HKDF with
  distinct labels, seals TOTP seeds and keys the hashes of personal data;
* ``audit.key`` keys the audit chain's HMAC, kept apart so that a leak of one does not forge the other.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from sealroom.errors import ConfigError

KEY_BYTES = 32


class KeyProvider(Protocol):
    """Wraps and unwraps per-image data keys with a key the data never sits beside."""

    key_id: str

    def wrap(self, data_key: bytes) -> bytes:
        """Wrap a 32-byte data key for storage next to its ciphertext."""
        ...

    def unwrap(self, wrapped: bytes) -> bytes:
        """Recover a data key; raises ``ConfigError`` if it was wrapped by another key."""
        ...


def create_key_file(path: Path) -> None:
    """Write a new random key to ``path`` with mode 0600; refuses to overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(KEY_BYTES))


def read_key_file(path: Path) -> bytes:
    """Read a key file, refusing one that is missing, malformed or readable by others."""
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise ConfigError(f"key file {path} is missing; is this a Sealroom workspace?") from exc
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"key file {path} is accessible by other users (mode {stat.filemode(info.st_mode)}); "
            f"run: chmod 600 {path}"
        )
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise ConfigError(f"key file {path} is not a {KEY_BYTES}-byte key")
    return key


def _derive(master: bytes, label: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=label.encode()).derive(master)


@dataclass(frozen=True)
class WorkspaceKeys:
    """All keys of one workspace, derived once at start-up."""

    wrapping_key: bytes
    secret_sealing_key: bytes
    pii_hash_key: bytes
    audit_key: bytes
    key_id: str
    csrf_key: bytes

    @classmethod
    def load(cls, workspace_key: Path, audit_key: Path) -> WorkspaceKeys:
        """Load and check both key files, then derive the purpose keys."""
        master = read_key_file(workspace_key)
        return cls(
            wrapping_key=_derive(master, "sealroom/v1/data-key-wrap"),
            secret_sealing_key=_derive(master, "sealroom/v1/secret-seal"),
            pii_hash_key=_derive(master, "sealroom/v1/pii-hash"),
            audit_key=read_key_file(audit_key),
            key_id="local:" + hashlib.sha256(master).hexdigest()[:16],
            csrf_key=_derive(master, "sealroom/v1/csrf"),
        )

    def keyed_hash(self, value: str) -> str:
        """HMAC-SHA256 of a personal value, so records can match it without holding it."""
        return hmac.new(self.pii_hash_key, value.encode(), hashlib.sha256).hexdigest()

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """Encrypt a small secret (a TOTP seed) bound to ``context``."""
        nonce = secrets.token_bytes(12)
        return nonce + AESGCM(self.secret_sealing_key).encrypt(nonce, plaintext, context.encode())

    def unseal(self, sealed: bytes, context: str) -> bytes:
        """Decrypt what ``seal`` produced for the same ``context``."""
        return AESGCM(self.secret_sealing_key).decrypt(sealed[:12], sealed[12:], context.encode())


class LocalKeyProvider:
    """``KeyProvider`` backed by the workspace key file (the single-host default)."""

    def __init__(self, keys: WorkspaceKeys) -> None:
        self._key = keys.wrapping_key
        self.key_id = keys.key_id

    def wrap(self, data_key: bytes) -> bytes:
        """Wrap a data key with AES key wrap (RFC 3394)."""
        return aes_key_wrap(self._key, data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        """Unwrap a data key; a wrong workspace key is a configuration error."""
        try:
            return aes_key_unwrap(self._key, wrapped)
        except InvalidUnwrap as exc:
            raise ConfigError("a data key does not unwrap with this workspace key") from exc
