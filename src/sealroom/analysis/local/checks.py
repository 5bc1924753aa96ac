"""Check-digit and range validators for identifiers (all pure functions on strings)."""

from __future__ import annotations

import re

_OCR_DIGITS = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "l": "1", "I": "1", "|": "1"})


def ocr_digits(text: str) -> str:
    """Only the digits of ``text``, reading the usual OCR confusions (O→0, l/I→1) as digits."""
    return re.sub(r"\D", "", text.translate(_OCR_DIGITS))


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check used by card numbers and NPIs."""
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_ok(digits: str) -> bool:
    """A plausible payment card number: 13-19 digits, a known leading digit, Luhn-valid."""
    return 13 <= len(digits) <= 19 and digits[0] in "3456" and luhn_ok(digits) and len(set(digits)) > 1


def npi_ok(digits: str) -> bool:
    """A US National Provider Identifier: 10 digits starting 1 or 2, Luhn-valid with prefix 80840."""
    return len(digits) == 10 and digits[0] in "12" and luhn_ok("80840" + digits)


def aba_ok(digits: str) -> bool:
    """An ABA routing number: 9 digits, weights 3-7-1, valid Federal Reserve prefix."""
    if len(digits) != 9 or not digits.isdigit() or len(set(digits)) == 1:
        return False
    prefix = int(digits[:2])
    if not (0 <= prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 10 == 0


def iban_ok(text: str) -> bool:
    """An IBAN: country code, check digits, mod-97 remainder 1."""
    s = re.sub(r"[\s-]", "", text).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", s):
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


# Countries whose IBAN has a four-letter bank code right after the check digits (BIC prefix).
_IBAN_LETTER_BANK = frozenset({"GB", "NL", "IE", "BG", "GI", "LV", "MT", "KW", "JO", "QA", "MU", "SC", "GE"})
_TO_LETTER = str.maketrans({"0": "O", "1": "I", "5": "S", "8": "B", "2": "Z", "6": "G"})


def iban_ocr_fix(text: str) -> str:
    """``text`` with OCR digit-for-letter misreads undone in a four-letter bank code ("NL43MDC0..." →
    "NL43MDCO..."), for the countries whose IBAN has one."""
    s = re.sub(r"[\s-]", "", text).upper()
    if len(s) < 8 or s[:2] not in _IBAN_LETTER_BANK:
        return s
    return s[:4] + s[4:8].translate(_TO_LETTER) + s[8:]


def ssn_ok(digits: str) -> bool:
    """A US SSN: area not 000, 666 or 900-999; group not 00; serial not 0000."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    area, group, serial = int(digits[:3]), int(digits[3:5]), int(digits[5:])
    if area == 0 or area == 666 or area >= 900:
        return False
    return group != 0 and serial != 0 and digits not in {"123456789", "078051120", "219099999"}


def date_parts_ok(year: int, month: int, day: int) -> bool:
    """A calendar-plausible date between 1880 and 2100."""
    if not (1 <= month <= 12 and 1 <= day <= 31 and 1880 <= year <= 2100):
        return False
    return not (month == 2 and day > 29) and not (month in (4, 6, 9, 11) and day > 30)


def labelled_value_ok(entity_type: str, value: str) -> bool:
    """False when a labelled value of a check-digit type fails its check (likely an OCR misread)."""
    digits = ocr_digits(value)
    if entity_type == "ROUTING_NUMBER":
        return aba_ok(digits) or len(digits) == 6
    if entity_type == "CREDIT_CARD":
        return card_ok(digits)
    if entity_type == "IBAN":
        return iban_ok(value) or iban_ok(iban_ocr_fix(value))
    return True
