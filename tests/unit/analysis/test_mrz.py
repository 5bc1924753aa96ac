"""Machine-readable zones: ICAO 9303 specimens, check digits, OCR confusions, findings on a page."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.identity_docs import td3

from sealroom.analysis.local.identity import mrz_findings
from sealroom.analysis.local.layout import PageLayout
from sealroom.analysis.local.mrz import check_digit, parse_lines, read_zones

# ICAO Doc 9303 (8th ed.) specimens: part 4 (TD3), part 6 (TD2), part 5 (TD1), part 7 (MRV-A).
ICAO_TD3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
ICAO_TD2 = ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6")
ICAO_TD1 = (
    "I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"
)
ICAO_MRVA = ("V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L8988901C4XXX4009078F96121096ZE184226B<<<<<<")


@pytest.mark.parametrize(("data", "digit"), [("L898902C3", 6), ("740812", 2), ("120415", 9),
                                             ("ZE184226B<<<<<", 1), ("D23145890", 7), ("<<<<<", 0)])
def test_check_digits_match_the_icao_specimens(data: str, digit: int) -> None:
    assert check_digit(data) == digit


@pytest.mark.parametrize(("lines", "fmt", "optional"), [
    (ICAO_TD3, "TD3", "ZE184226B"), (ICAO_TD2, "TD2", ""), (ICAO_TD1, "TD1", ""),
])
def test_icao_specimens_parse_with_every_check_valid(lines: tuple[str, ...], fmt: str, optional: str) -> None:
    data = parse_lines(lines)
    assert data is not None
    kind = "P" if fmt == "TD3" else "I"
    assert (data.format, data.document_type) == (fmt, kind)
    assert data.issuing_state == data.nationality == "UTO"
    assert (data.surname, data.given_names, data.sex) == ("ERIKSSON", "ANNA MARIA", "F")
    assert data.document_number == ("L898902C3" if fmt == "TD3" else "D23145890")
    assert (data.birth_date_iso(), data.expiry_date_iso()) == ("1974-08-12", "2012-04-15")
    assert data.optional_data == optional
    assert data.valid and data.failed_checks == []
    assert {c.name for c in data.checks} >= {"document_number", "birth_date", "expiry_date", "composite"}


def test_a_visa_has_no_composite_check() -> None:
    data = parse_lines(ICAO_MRVA)
    assert data is not None and data.format == "MRVA"
    assert data.document_number == "L8988901C" and data.nationality == "XXX"
    assert data.valid and "composite" not in {c.name for c in data.checks}


@pytest.mark.parametrize(("position", "failed"), [
    (9, ["document_number", "composite"]),
    (19, ["birth_date", "composite"]),
    (27, ["expiry_date", "composite"]),
    (42, ["optional_data", "composite"]),
    (43, ["composite"]),
])
def test_a_wrong_check_digit_is_reported_invalid_naming_the_check(position: int, failed: list[str]) -> None:
    two = ICAO_TD3[1]
    wrong = str((int(two[position]) + 1) % 10) if two[position].isdigit() else "1"
    data = parse_lines([ICAO_TD3[0], two[:position] + wrong + two[position + 1:]])
    assert data is not None
    assert not data.valid and data.failed_checks == failed


def test_a_changed_birth_date_fails_its_check_in_td1() -> None:
    two = "7408132F1204159UTO<<<<<<<<<<<6"  # the 12th became the 13th; its check digit still says 2
    data = parse_lines([ICAO_TD1[0], two, ICAO_TD1[2]])
    assert data is not None and data.failed_checks == ["birth_date", "composite"]


def test_a_long_td1_document_number_continues_in_the_optional_data() -> None:
    number = "D23145890123"
    one = f"I<UTO{number[:9]}<{number[9:]}{check_digit(number)}".ljust(30, "<")
    two_body = "7408122F1204159UTO<<<<<<<<<<<"
    composite = one[5:30] + two_body[0:7] + two_body[8:15] + two_body[18:29]
    data = parse_lines([one, two_body[:29] + str(check_digit(composite)), ICAO_TD1[2]])
    assert data is not None and data.document_number == number and data.valid


def test_ocr_confusions_are_undone_before_the_checks() -> None:
    text = (
        "PASSPORT  UTOPIA\n"
        "P«UTO ERIKSSON«ANNA<MARIAKKKKKKKKKKKKKKKKKK\n"  # « for <, << read as one «, K for <, a space
        "L898902C36UTO74O8122F12O4159ZE184226B<<<10\n"   # O for 0 in dates, two fillers dropped
        "Signature"
    )
    (zone,) = read_zones(text)
    data = zone.data
    assert (data.surname, data.given_names, data.birth_date, data.expiry_date) == (
        "ERIKSSON", "ANNA MARIA", "740812", "120415")
    assert data.valid
    span = zone.source_span("name")
    assert span is not None and text[span[0]:span[1]] == "ERIKSSON«ANNA<MARIA"


def test_a_name_with_a_k_keeps_it() -> None:
    one, two = td3("NOVAK", "KAREL", "AB1234567", "900101", "M", "300101", "")
    (zone,) = read_zones(f"{one}\n{two}")
    assert (zone.data.surname, zone.data.given_names, zone.data.valid) == ("NOVAK", "KAREL", True)


def test_a_misread_document_number_is_reported_not_guessed() -> None:
    two = "L898902O36UTO7408122F1204159ZE184226B<<<<<10"  # C read as O: letters may not be "fixed"
    (zone,) = read_zones(f"{ICAO_TD3[0]}\n{two}")
    assert zone.data.document_number == "L898902O3" and "document_number" in zone.data.failed_checks


def test_text_that_is_no_mrz_gives_no_zone() -> None:
    text = ("Patient <<confidential>> record\n" + "<" * 44 + "\n" + "A" * 44 + "\n"
            "X4R7Q2L914UTO8503172F3109225K7T3309Q2<<<<<36\n")
    assert read_zones(text) == []


# "KK" is left out: a run of K beside a filler is read as fillers (the documented limit of that rule).
_NAME = st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=12).filter(lambda s: "KK" not in s)
_NUMBER = st.text(alphabet=string.ascii_uppercase + string.digits, min_size=5, max_size=9)
_DATE = st.dates().map(lambda d: d.strftime("%y%m%d"))


@settings(max_examples=60, deadline=None)
@given(_NAME, _NAME, _NUMBER, _DATE, st.sampled_from("MF<"), _DATE, _NUMBER, st.integers(0, 13))
def test_any_td3_round_trips_and_any_changed_digit_is_caught(
    surname: str, given_name: str, number: str, birth: str, sex: str, expiry: str, personal: str, at: int
) -> None:
    one, two = td3(surname, given_name, number, birth, sex, expiry, personal)
    (zone,) = read_zones(f"Passport\n{one}\n{two}\n")
    data = zone.data
    assert data.valid and data.format == "TD3"
    assert (data.surname, data.given_names, data.document_number, data.birth_date) == (
        surname, given_name, number, birth)
    position = 13 + at % 6  # a digit of the birth date
    changed = two[:position] + str((int(two[position]) + 1) % 10) + two[position + 1:]
    bad = parse_lines([one, changed])
    assert bad is not None and "birth_date" in bad.failed_checks and not bad.valid


def test_page_findings_carry_the_verdict_on_entities_and_fields() -> None:
    two = ICAO_TD3[1][:19] + "3" + ICAO_TD3[1][20:]  # wrong birth-date check digit
    text = f"{ICAO_TD3[0]}\n{two}"
    found = mrz_findings(2, PageLayout(width=0, height=0, text=text))
    assert found.identity
    zone = next(e for e in found.entities if e.type == "MRZ")
    assert zone.valid is False and zone.page == 2 and (zone.start, zone.end) == (0, len(text))
    assert {e.type for e in found.entities} == {"MRZ", "PERSON", "ID_NUMBER", "DATE_OF_BIRTH"}
    assert all(e.valid is False for e in found.entities)
    fields = {f.name: f for f in found.fields}
    assert fields["mrz_valid"].value == "false"
    assert fields["mrz_failed_checks"].value == "birth_date, composite"
    assert fields["mrz_surname"].entity_type == "PERSON" and fields["mrz_birth_date"].value == "1974-08-12"
