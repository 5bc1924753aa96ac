"""Behaviour that must not depend on the dev corpus: other name pools, value formats, OCR damage."""

from __future__ import annotations

import pytest

from sealroom.analysis.local.engine import LocalEngine
from sealroom.analysis.local.fields import find_field_hits
from sealroom.analysis.local.layout import build_layout
from sealroom.analysis.local.ocr import OcrSegment, normalise_text, split_evenly

from .conftest import found


def seg(text: str, x0: int, y0: int, char_w: int = 10, h: int = 20) -> OcrSegment:
    bbox = (x0, y0, x0 + char_w * len(text), y0 + h)
    return OcrSegment(text, bbox, 1.0, split_evenly(text, bbox))


@pytest.mark.parametrize(
    "text, name",
    [
        ("Patient Name: Søren Kjær", "Søren Kjær"),
        ("Patient: ÁLVAREZ, JOSÉ MARÍA", "ÁLVAREZ, JOSÉ MARÍA"),
        ("Her sister Agnieszka Wiśniewska can be reached at home.", "Agnieszka Wiśniewska"),
        ("She was seen by Dr. Oluwaseun Adebayo today.", "Oluwaseun Adebayo"),
        ("Member: Ó Briain, Siobhan", "Ó Briain, Siobhan"),
    ],
)
def test_names_with_diacritics(engine: LocalEngine, text: str, name: str) -> None:
    assert name in found(engine, text).get("PERSON", [])


@pytest.mark.parametrize(
    "text, name",
    [
        ("The patient, Priya Raghunathan, born 1 Mar 1970, was admitted.", "Priya Raghunathan"),
        ("Follow-up with Kwame Mensah, NP in two weeks.", "Kwame Mensah"),
        ("Yours sincerely,\nThabo Nkosi\nRelationship Manager", "Thabo Nkosi"),
        ("2024-03-19 STANDING ORDER ZAINAB ABUBAKAR 437.48", "ZAINAB ABUBAKAR"),
        ("12/03/2024 DIRECT DEBIT Hiroshi Tanaka 12.00", "Hiroshi Tanaka"),
    ],
)
def test_names_outside_the_lexicon_by_context(engine: LocalEngine, text: str, name: str) -> None:
    assert name in found(engine, text).get("PERSON", [])


def test_context_words_alone_do_not_make_names(engine: LocalEngine) -> None:
    got = found(engine, "Follow-up with cardiology in two weeks. Kind regards,\nRiverside Medical Center")
    assert "PERSON" not in got


@pytest.mark.parametrize(
    "text, date",
    [
        ("DOB: 17 Mar 1984", "17 Mar 1984"),
        ("DOB: 17.03.1984", "17.03.1984"),
        ("DOB: March 17, 1984", "March 17, 1984"),
        ("born22February1963, was admitted", "22February1963"),
        ("Date of Birth: March 17,1984", "March 17,1984"),
    ],
)
def test_birth_dates_in_several_formats(engine: LocalEngine, text: str, date: str) -> None:
    got = found(engine, text)
    assert date in got.get("DATE_OF_BIRTH", []) + got.get("DATE", [])


def test_spelled_month_without_separator_needs_four_digit_year(engine: LocalEngine) -> None:
    assert not found(engine, "Lot 12MAR24 of reagent")


@pytest.mark.parametrize(
    "text, value",
    [
        ("Sort Code: 12-34-56", "12-34-56"),
        ("Routing Number: 12-34-56", "12-34-56"),
    ],
)
def test_uk_sort_code_by_label(engine: LocalEngine, text: str, value: str) -> None:
    assert found(engine, text).get("ROUTING_NUMBER") == [value]


@pytest.mark.parametrize("label", ["Hospital No.", "MR No.", "Med Rec #", "Patient No.", "Record Number"])
def test_more_mrn_labels(engine: LocalEngine, label: str) -> None:
    assert found(engine, f"{label}: A6294084").get("MRN") == ["A6294084"]


def test_labelled_phone_stops_at_a_column_break(engine: LocalEngine) -> None:
    assert found(engine, "Phone: 07303584002  91 mg/dL").get("PHONE") == ["07303584002"]


@pytest.mark.parametrize(
    "text, street",
    [
        ("Address: 156 Cedar Ridge Crescent", "156 Cedar Ridge Crescent"),
        ("lives at 42 Park Lane Court, Leeds LS1 4AB", "42 Park Lane Court, Leeds LS1 4AB"),
    ],
)
def test_street_name_ending_in_a_suffix_word(engine: LocalEngine, text: str, street: str) -> None:
    assert street in found(engine, text).get("ADDRESS", [])


def test_city_with_ocr_zero_for_o(engine: LocalEngine) -> None:
    assert found(engine, "Lake 0swego, OR 97034").get("ADDRESS") == ["Lake 0swego, OR 97034"]


def test_glued_amounts_and_dates_are_split() -> None:
    segments = [
        seg("22.12.2024Transfer fromSøren Strand", 0, 0),
        seg("Payment from SVETLANA PETROVA637.68", 0, 40),
        seg("67Old Mill Street", 0, 80),
    ]
    layout = build_layout(segments, 600, 120)
    assert layout.text == (
        "22.12.2024 Transfer from Søren Strand\nPayment from SVETLANA PETROVA 637.68\n67 Old Mill Street"
    )


def test_ids_are_not_split_by_glue_rules() -> None:
    layout = build_layout([seg("XJH471192992 MR-982470 A7916342 EH113DY", 0, 0)], 600, 40)
    assert layout.text == "XJH471192992 MR-982470 A7916342 EH113DY"


def test_table_columns_under_header_labels(engine: LocalEngine) -> None:
    rows = [
        ("Patient", "DOB", "MRN", "Glucose"),
        ("Tanaka, Aisha", "1/26/02", "MR-119829", "132 mg/dL"),
        ("Yuki Watanabe", "1999-10-03", "280-259-356", "163 mg/dL"),
        ("Ó Briain, Anneliese", "3 Dec 1974", "A7916342", "91 mg/dL"),
    ]
    segments = [
        seg(cell, 10 + 250 * c, 10 + 40 * r) for r, row in enumerate(rows) for c, cell in enumerate(row)
    ]
    layout = build_layout(segments, 1100, 200)
    hits = {(h.label.entity_type, layout.text[h.start : h.end]) for h in find_field_hits(layout)}
    for row in rows[1:]:
        assert ("PERSON", row[0]) in hits
        assert ("MRN", row[2]) in hits
    assert not any(t == "mg/dL" or "mg/dL" in v for t, v in hits)


def test_table_column_reads_a_cell_merged_into_its_neighbour() -> None:
    # OCR merged "November 27, 1958" and "MR-982470" into one segment
    segments = [
        seg("Patient", 10, 10),
        seg("DOB", 260, 10),
        seg("MRN", 510, 10),
        seg("Søren Abubakar", 10, 50),
        seg("November 27, 1958 MR-982470", 260, 50, char_w=9),
        seg("Lindqvist, Yuki", 10, 90),
        seg("11-APR-1952", 260, 90),
        seg("860-582-478", 510, 90),
    ]
    layout = build_layout(segments, 800, 140)
    hits = {layout.text[h.start : h.end] for h in find_field_hits(layout) if h.label.entity_type == "MRN"}
    assert hits == {"MR-982470", "860-582-478"}


def test_one_label_row_is_not_a_table_header() -> None:
    segments = [seg("MRN", 10, 10), seg("Results", 260, 10), seg("12345678", 10, 50), seg("99887766", 10, 90)]
    layout = build_layout(segments, 600, 140)
    values = {layout.text[h.start : h.end] for h in find_field_hits(layout)}
    assert "99887766" not in values


def test_full_width_punctuation_from_ocr_is_ascii() -> None:
    assert normalise_text("Acct #：（312）５55") == "Acct #:(312)555"


@pytest.mark.parametrize(
    "text, etype, value",
    [
        ("Acct#:****8130", "BANK_ACCOUNT", "****8130"),
        ("DL No. D9894937", "ID_NUMBER", "D9894937"),
    ],
)
def test_label_punctuation_variants(engine: LocalEngine, text: str, etype: str, value: str) -> None:
    assert found(engine, text).get(etype) == [value]


def test_town_glued_to_uk_postcode_is_split(engine: LocalEngine) -> None:
    layout = build_layout([seg("LeedsSW38UD", 0, 0)], 300, 40)
    assert layout.text == "Leeds SW38UD"
    assert found(engine, layout.text).get("ADDRESS") == ["Leeds SW38UD"]
