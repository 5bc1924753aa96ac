"""Check-digit and range validators."""

from __future__ import annotations

import pytest

from sealroom.analysis.local import checks


@pytest.mark.parametrize("number", ["4111111111111111", "5500005555555559", "378282246310005"])
def test_luhn_valid_cards(number: str) -> None:
    assert checks.card_ok(number)


@pytest.mark.parametrize("number", ["4111111111111112", "1234567812345678", "0000000000000000"])
def test_invalid_cards(number: str) -> None:
    assert not checks.card_ok(number)


def test_aba_checksum() -> None:
    assert checks.aba_ok("021000021")
    assert checks.aba_ok("011000015")
    assert not checks.aba_ok("021000022")
    assert not checks.aba_ok("12345678")
    assert not checks.aba_ok("991000021")  # no such Federal Reserve prefix


def test_iban_mod97() -> None:
    assert checks.iban_ok("GB82 WEST 1234 5698 7654 32")
    assert checks.iban_ok("DE89370400440532013000")
    assert not checks.iban_ok("GB82 WEST 1234 5698 7654 33")


@pytest.mark.parametrize(
    "ssn,ok",
    [
        ("536221234", True),
        ("000121234", False),
        ("666121234", False),
        ("912121234", False),
        ("536001234", False),
        ("536220000", False),
    ],
)
def test_ssn_ranges(ssn: str, ok: bool) -> None:
    assert checks.ssn_ok(ssn) is ok


def test_npi_luhn_with_prefix() -> None:
    assert checks.npi_ok("1234567893")
    assert not checks.npi_ok("1234567890")
    assert not checks.npi_ok("3234567893")


def test_ocr_digit_confusions_are_read_as_digits() -> None:
    assert checks.ocr_digits("7O8-85-33l7") == "708853317"
