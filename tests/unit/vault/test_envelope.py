"""Envelope encryption: round trip, tamper detection, binding to the image id, wrong keys."""

from __future__ import annotations

import hashlib
import secrets

import pytest

from sealroom.errors import ConfigError, SealroomError
from sealroom.keys import LocalKeyProvider, WorkspaceKeys
from sealroom.vault.envelope import NONCE_BYTES, SealIntegrityError, open_sealed, seal

PLAINTEXT = b"\x89PNG\r\n\x1a\n" + b"patient: Ada Lovelace, MRN 000123 " * 100


def provider(key_id: str = "local:test") -> LocalKeyProvider:
    keys = WorkspaceKeys(
        wrapping_key=secrets.token_bytes(32),
        secret_sealing_key=secrets.token_bytes(32),
        pii_hash_key=secrets.token_bytes(32),
        audit_key=secrets.token_bytes(32),
        key_id=key_id,
        csrf_key=secrets.token_bytes(32),
    )
    return LocalKeyProvider(keys)


def test_round_trip_and_metadata() -> None:
    keys = provider()
    sealed = seal("img1", PLAINTEXT, keys)
    assert sealed.sha256 == hashlib.sha256(PLAINTEXT).hexdigest()
    assert sealed.key_id == "local:test"
    assert len(sealed.wrapped_key) == 40  # RFC 3394 wrap of a 32-byte key
    assert len(sealed.ciphertext) == NONCE_BYTES + len(PLAINTEXT) + 16
    assert open_sealed("img1", sealed.ciphertext, sealed.wrapped_key, keys) == PLAINTEXT
    assert open_sealed("img1", sealed.ciphertext, sealed.wrapped_key, keys, key_id="local:test") == PLAINTEXT


def test_ciphertext_reveals_no_plaintext_and_every_seal_is_fresh() -> None:
    keys = provider()
    first, second = seal("img1", PLAINTEXT, keys), seal("img1", PLAINTEXT, keys)
    assert b"Lovelace" not in first.ciphertext and PLAINTEXT[:16] not in first.ciphertext
    assert first.ciphertext != second.ciphertext
    assert first.wrapped_key != second.wrapped_key  # a new data key per image
    assert first.ciphertext[:NONCE_BYTES] != second.ciphertext[:NONCE_BYTES]


def test_empty_plaintext_round_trips() -> None:
    keys = provider()
    sealed = seal("img1", b"", keys)
    assert open_sealed("img1", sealed.ciphertext, sealed.wrapped_key, keys) == b""


@pytest.mark.parametrize("position", [0, NONCE_BYTES, NONCE_BYTES + 100, -1])
def test_any_flipped_bit_is_detected(position: int) -> None:
    keys = provider()
    sealed = seal("img1", PLAINTEXT, keys)
    tampered = bytearray(sealed.ciphertext)
    tampered[position] ^= 0x01
    with pytest.raises(SealIntegrityError, match="failed authentication") as caught:
        open_sealed("img1", bytes(tampered), sealed.wrapped_key, keys)
    assert isinstance(caught.value, SealroomError)


@pytest.mark.parametrize("cut", [1, 16, 17, 100])
def test_truncated_ciphertext_is_detected(cut: int) -> None:
    keys = provider()
    sealed = seal("img1", PLAINTEXT, keys)
    with pytest.raises(SealIntegrityError):
        open_sealed("img1", sealed.ciphertext[:-cut], sealed.wrapped_key, keys)
    with pytest.raises(SealIntegrityError, match="truncated"):
        open_sealed("img1", sealed.ciphertext[:20], sealed.wrapped_key, keys)


def test_ciphertext_is_bound_to_its_image_id() -> None:
    keys = provider()
    sealed = seal("img1", PLAINTEXT, keys)
    with pytest.raises(SealIntegrityError):
        open_sealed("img2", sealed.ciphertext, sealed.wrapped_key, keys)


def test_swapping_wrapped_keys_between_images_fails() -> None:
    keys = provider()
    one, two = seal("img1", PLAINTEXT, keys), seal("img2", PLAINTEXT, keys)
    with pytest.raises(SealIntegrityError):
        open_sealed("img1", one.ciphertext, two.wrapped_key, keys)


def test_wrong_workspace_key_is_a_config_error() -> None:
    sealed = seal("img1", PLAINTEXT, provider())
    with pytest.raises(ConfigError, match="does not unwrap"):
        open_sealed("img1", sealed.ciphertext, sealed.wrapped_key, provider())


def test_tampered_wrapped_key_is_refused() -> None:
    keys = provider()
    sealed = seal("img1", PLAINTEXT, keys)
    wrapped = bytearray(sealed.wrapped_key)
    wrapped[3] ^= 0x80
    with pytest.raises(ConfigError):
        open_sealed("img1", sealed.ciphertext, bytes(wrapped), keys)


def test_key_id_mismatch_is_named() -> None:
    keys = provider("local:new")
    sealed = seal("img1", PLAINTEXT, keys)
    with pytest.raises(ConfigError, match="local:old"):
        open_sealed("img1", sealed.ciphertext, sealed.wrapped_key, keys, key_id="local:old")


def test_image_id_is_required() -> None:
    with pytest.raises(ValueError, match="image id"):
        seal("", PLAINTEXT, provider())
