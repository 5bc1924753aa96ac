from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.exceptions import InvalidTag

from sealroom.identity import totp
from sealroom.keys import WorkspaceKeys

NOW = datetime(2030, 1, 7, 9, 0, 0, tzinfo=UTC)
STEP = totp.current_step(NOW)


def test_seal_round_trip_is_bound_to_the_user(keys: WorkspaceKeys) -> None:
    secret = totp.new_secret()
    sealed = totp.seal_secret(keys, "user-a", secret)
    assert secret.encode() not in sealed
    assert totp.unseal_secret(keys, "user-a", sealed) == secret
    with pytest.raises(InvalidTag):
        totp.unseal_secret(keys, "user-b", sealed)


def test_new_secret_is_160_bit_base32() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32
    assert secret != totp.new_secret()


def test_provisioning_uri() -> None:
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, "alice", "Sealroom Clinic")
    assert uri.startswith("otpauth://totp/Sealroom%20Clinic:alice?")
    assert f"secret={secret}" in uri


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_codes_within_one_step_are_accepted(offset: int) -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, NOW + timedelta(seconds=30 * offset))
    check = totp.check_code(secret, code, now=NOW, last_step=0)
    assert check.outcome is totp.TotpOutcome.ACCEPTED
    assert check.step == STEP + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_codes_outside_the_window_are_refused(offset: int) -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, NOW + timedelta(seconds=30 * offset))
    assert totp.check_code(secret, code, now=NOW, last_step=0).outcome is totp.TotpOutcome.INVALID


def test_the_same_step_is_a_replay() -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, NOW)
    assert totp.check_code(secret, code, now=NOW, last_step=STEP).outcome is totp.TotpOutcome.REPLAY


def test_an_older_step_after_a_newer_one_is_a_replay() -> None:
    secret = totp.new_secret()
    older = totp.code_at(secret, NOW - timedelta(seconds=30))
    check = totp.check_code(secret, older, now=NOW, last_step=STEP)
    assert check.outcome is totp.TotpOutcome.REPLAY
    assert check.step is None


def test_spaces_are_ignored_and_junk_is_invalid() -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, NOW)
    spaced = f"{code[:3]} {code[3:]}"
    assert totp.check_code(secret, spaced, now=NOW, last_step=0).outcome is totp.TotpOutcome.ACCEPTED
    for junk in ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦"]:
        assert totp.check_code(secret, junk, now=NOW, last_step=0).outcome is totp.TotpOutcome.INVALID
