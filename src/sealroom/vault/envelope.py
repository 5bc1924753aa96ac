"""Envelope encryption of stored images: one data key per image, wrapped by the workspace key.

``seal`` encrypts the original file bytes with AES-256-GCM under a fresh random 32-byte data key. The
associated data binds the ciphertext to its image id, so a blob copied onto another image's row does not
decrypt. The data key is kept only wrapped (``KeyProvider.wrap``); the caller puts the wrapped key in the
data-key store (``sealroom.vault.keystore``), the key id in the database and the ciphertext in a blob
store. Database and blobs therefore never hold a usable key: destroying the key-store entry
crypto-shreds the image, in every backup of the data too.

Ciphertext layout: ``nonce (12 bytes) || AES-GCM ciphertext and tag``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealroom.errors import ConfigError, SealroomError
from sealroom.keys import KeyProvider
from sealroom.vault.keystore import DataKeyDestroyedError

__all__ = ["SealIntegrityError", "SealedBlob", "open_sealed", "seal"]

DATA_KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_AAD_PREFIX: Final = b"sealroom/v1/image:"


class SealIntegrityError(SealroomError):
    """Stored ciphertext failed authentication: it was altered, truncated or belongs to another image."""

    code = "integrity_error"


@dataclass(frozen=True)
class SealedBlob:
    """The result of sealing one image: what goes to the blob, data-key and metadata stores."""

    ciphertext: bytes  # nonce || ciphertext+tag, for the blob store
    wrapped_key: bytes  # the data key wrapped by the key provider, for the data-key store
    key_id: str  # which workspace key wrapped it
    sha256: str  # hex SHA-256 of the plaintext, for the database and the audit log


def _aad(image_id: str) -> bytes:
    if not image_id:
        raise ValueError("an image id is required to seal or open an image")
    return _AAD_PREFIX + image_id.encode("utf-8")


def seal(image_id: str, plaintext: bytes, key_provider: KeyProvider) -> SealedBlob:
    """Encrypt ``plaintext`` under a new data key bound to ``image_id``; the data key leaves only wrapped."""
    data_key = AESGCM.generate_key(bit_length=DATA_KEY_BYTES * 8)
    nonce = secrets.token_bytes(NONCE_BYTES)  # a fresh key per image, so a random nonce never repeats
    ciphertext = nonce + AESGCM(data_key).encrypt(nonce, plaintext, _aad(image_id))
    return SealedBlob(
        ciphertext=ciphertext,
        wrapped_key=key_provider.wrap(data_key),
        key_id=key_provider.key_id,
        sha256=hashlib.sha256(plaintext).hexdigest(),
    )


def open_sealed(
    image_id: str,
    ciphertext: bytes,
    wrapped_key: bytes,
    key_provider: KeyProvider,
    *,
    key_id: str | None = None,
) -> bytes:
    """Decrypt what ``seal`` produced for ``image_id``; the plaintext is returned in memory only.

    Raises ``DataKeyDestroyedError`` when no wrapped key is given (the image was crypto-shredded, or
    this is a database row whose key lives in the key store), ``ConfigError`` when the data key does
    not unwrap with this provider (or ``key_id`` names a different key), and ``SealIntegrityError``
    when the ciphertext was altered, truncated or sealed for another image.
    """
    if not wrapped_key:
        raise DataKeyDestroyedError(
            f"image {image_id} has no data key here: it was deleted by retention or its key is "
            "missing from the key store, so it cannot be decrypted"
        )
    if key_id is not None and key_id != key_provider.key_id:
        raise ConfigError(
            f"image {image_id} was sealed with key {key_id}, but this workspace's key is "
            f"{key_provider.key_id}; it cannot be opened here"
        )
    if len(ciphertext) < NONCE_BYTES + _TAG_BYTES:
        raise SealIntegrityError(
            f"the stored ciphertext of image {image_id} is truncated; refusing to use it"
        )
    data_key = key_provider.unwrap(wrapped_key)
    if len(data_key) != DATA_KEY_BYTES:
        raise ConfigError(f"the data key of image {image_id} has the wrong length")
    nonce, body = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
    try:
        return AESGCM(data_key).decrypt(nonce, body, _aad(image_id))
    except InvalidTag as exc:
        raise SealIntegrityError(
            f"the stored ciphertext of image {image_id} failed authentication (altered, corrupted or "
            "belonging to another image); refusing to use it"
        ) from exc
