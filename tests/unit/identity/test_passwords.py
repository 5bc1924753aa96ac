from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type
from argon2.profiles import CHEAPEST

from sealroom.errors import InputError
from sealroom.identity.passwords import PasswordHashing, check_password_policy


def test_default_hash_is_argon2id_with_rfc9106_parameters() -> None:
    hashing = PasswordHashing()
    stored = hashing.hash("correct horse 42 battery")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert hashing.verify(stored, "correct horse 42 battery")
    assert not hashing.verify(stored, "correct horse 42 batterY")
    assert not hashing.needs_rehash(stored)


def test_verify_is_false_for_a_malformed_hash() -> None:
    assert not PasswordHashing().verify("not-a-hash", "whatever 1234")


def test_needs_rehash_when_parameters_changed() -> None:
    cheap = PasswordHashing(PasswordHasher.from_parameters(CHEAPEST)).hash("correct horse 42 battery")
    assert PasswordHashing().needs_rehash(cheap)
    assert PasswordHashing().needs_rehash("garbage")


def test_only_argon2id_hashers_are_accepted() -> None:
    with pytest.raises(ValueError, match="argon2id"):
        PasswordHashing(PasswordHasher(type=Type.I))


def test_passwords_are_nfkc_normalised() -> None:
    hashing = PasswordHashing(PasswordHasher.from_parameters(CHEAPEST))
    composed = "caf\u00e9 au lait 2024"
    decomposed = "cafe\u0301 au lait 2024"
    assert hashing.verify(hashing.hash(composed), decomposed)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Short1!", "too short"),
        ("x" * 257 + "1", "too long"),
        (" " * 14, "whitespace"),
        ("alllowercaseletters", "one kind"),
        ("123456789012345", "one kind"),
        ("my-alice-password-1", "username"),
        ("MY-ALICE-password-1", "username"),
    ],
)
def test_policy_refuses_weak_passwords(password: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_password_policy(password, username="alice")


@pytest.mark.parametrize("password", ["correct horse battery 42", "Tr0ub4dor&3xyz", "lower and spaces"])
def test_policy_accepts_reasonable_passwords(password: str) -> None:
    check_password_policy(password, username="alice")
