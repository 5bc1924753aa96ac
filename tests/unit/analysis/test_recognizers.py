"""Recognisers on plain text: what is found, with which type, and what is rejected."""

from __future__ import annotations

import pytest

from sealroom.analysis.local.engine import LocalEngine

from .conftest import found


def test_card_needs_a_valid_luhn(engine: LocalEngine) -> None:
    got = found(engine, "Card no. 4111 1111 1111 1111 and 4111 1111 1111 1112 on file.")
    assert got["CREDIT_CARD"] == ["4111 1111 1111 1111"]


def test_routing_number_needs_aba_checksum(engine: LocalEngine) -> None:
    assert found(engine, "Routing Number: 021000021").get("ROUTING_NUMBER") == ["021000021"]
    assert found(engine, "ref 021000021 ok").get("ROUTING_NUMBER") == ["021000021"]
    assert "ROUTING_NUMBER" not in found(engine, "ref 021000022 ok")


def test_labelled_routing_number_failing_checksum_is_kept_with_lower_confidence(engine: LocalEngine) -> None:
    [ent] = [e for e in engine.analyze_text("Routing Number: 021000022") if e.type == "ROUTING_NUMBER"]
    assert ent.confidence < 0.7


def test_account_number_by_label(engine: LocalEngine) -> None:
    got = found(engine, "Account Number: 54024780161")
    assert got["BANK_ACCOUNT"] == ["54024780161"]


def test_iban_needs_mod97(engine: LocalEngine) -> None:
    assert found(engine, "pay to IBAN GB82 WEST 1234 5698 7654 32 today")["IBAN"] == [
        "GB82 WEST 1234 5698 7654 32"
    ]
    assert "IBAN" not in found(engine, "pay to GB82 WEST 1234 5698 7654 33 today")


def test_labelled_iban_failing_checksum_is_kept_with_lower_confidence(engine: LocalEngine) -> None:
    [ent] = [e for e in engine.analyze_text("IBAN: GB82 WEST 1234 5698 7654 33") if e.type == "IBAN"]
    assert ent.text == "GB82 WEST 1234 5698 7654 33" and ent.confidence < 0.7


def test_iban_bank_code_read_as_digits_is_repaired(engine: LocalEngine) -> None:
    # OCR reads the O of a four-letter bank code as 0; the checksum holds once it is undone
    [ent] = [e for e in engine.analyze_text("paid to NL81ROB00417164300 today") if e.type == "IBAN"]
    assert ent.text == "NL81ROB00417164300" and ent.confidence > 0.9


def test_ssn_ranges_are_enforced(engine: LocalEngine) -> None:
    got = found(engine, "SSN: 536-22-1234. Not SSNs: 666-12-3456, 912-12-3456, 536-00-1234.")
    assert got["SSN"] == ["536-22-1234"]


@pytest.mark.parametrize(
    "text,name",
    [
        ("Patient Name: MILLER, MELISSA  Accession #: 1", "MILLER, MELISSA"),
        ("Patient: John A. Smith", "John A. Smith"),
        ("Account Holder: Mary-Jane Watson", "Mary-Jane Watson"),
        ("PAY TO THE ORDER OF Timothy Allen  $ 4,035.64", "Timothy Allen"),
        ("Ordering Physician: Catherine Kim, MD", "Catherine Kim"),
        ("Tenant: Edward H. Gomez", "Edward H. Gomez"),
        ("Electronically verified by: Jeffrey Chavez, MT(ASCP) on 2025-07-20", "Jeffrey Chavez"),
    ],
)
def test_labelled_names(engine: LocalEngine, text: str, name: str) -> None:
    assert name in found(engine, text)["PERSON"]


def test_names_in_running_text(engine: LocalEngine) -> None:
    got = found(
        engine,
        "06/04 TRANSFER TO SHIRLEY HOWARD 324.92\nThe patient was seen by Dr. Okafor today.\n"
        "Emergency contact Elizabeth Harris (daughter).",
    )
    assert set(got["PERSON"]) >= {"SHIRLEY HOWARD", "Okafor", "Elizabeth Harris"}


def test_organisations_are_not_people(engine: LocalEngine) -> None:
    got = found(engine, "Bank Name: Lakeshore Community Bank\nMember FDIC. Member Services 469-461-5572")
    assert "PERSON" not in got


@pytest.mark.parametrize(
    "text,dob",
    [
        ("Date of Birth: 1961-10-19", "1961-10-19"),
        ("DOB 03/17/1988", "03/17/1988"),
        ("DOB: March 5, 1980", "March 5, 1980"),
        ("Birth Date: 05 Mar 1980", "05 Mar 1980"),
        ("D.O.B. 17.03.1988", "17.03.1988"),
    ],
)
def test_dates_of_birth(engine: LocalEngine, text: str, dob: str) -> None:
    assert found(engine, text)["DATE_OF_BIRTH"] == [dob]


def test_dates_without_birth_label_are_dates(engine: LocalEngine) -> None:
    got = found(engine, "Admission Date: 2025-11-15  Collected: 2025-07-19 09:00")
    assert got["DATE"] == ["2025-11-15", "2025-07-19 09:00"]
    assert "DATE_OF_BIRTH" not in got
    assert "DATE" not in found(engine, "Invalid: 2025-13-45")


@pytest.mark.parametrize(
    "phone",
    [
        "(713) 432-3275",
        "713-432-3275",
        "713.432.3275",
        "+1 713 432 3275",
        "+44 20 7946 0958",
    ],
)
def test_phones(engine: LocalEngine, phone: str) -> None:
    assert found(engine, f"Call {phone} after 5.")["PHONE"] == [phone]


@pytest.mark.parametrize(
    "text,addresses",
    [
        ("Address: 2774 Elm Ave\nSpringfield, IL 97905", ["2774 Elm Ave", "Springfield, IL 97905"]),
        ("residing at 7185 Summit Avenue, Clinton, IA 97198 (the", ["7185 Summit Avenue, Clinton, IA 97198"]),
        ("3789 WASHINGTON AVE\nAUBURN, AL 60764", ["3789 WASHINGTON AVE", "AUBURN, AL 60764"]),
        ("45 Oak Street, London SW1A 1AA", ["45 Oak Street, London SW1A 1AA"]),
    ],
)
def test_addresses(engine: LocalEngine, text: str, addresses: list[str]) -> None:
    assert found(engine, text)["ADDRESS"] == addresses


def test_email_without_network_lookup(engine: LocalEngine) -> None:
    got = found(engine, "write to cwilliams@mailbox.example.net.")
    assert got["EMAIL"] == ["cwilliams@mailbox.example.net"]


def test_identifiers_by_label(engine: LocalEngine) -> None:
    got = found(engine, "MRN: 28260283  Member ID: W123456789\nAttending NPI: 1234567893  DL G19555516")
    assert got["MRN"] == ["28260283"]
    assert got["HEALTH_PLAN_ID"] == ["W123456789"]
    assert got["NPI"] == ["1234567893"]
    assert got["ID_NUMBER"] == ["G19555516"]


def test_mrz_lines(engine: LocalEngine) -> None:
    got = found(engine, "IDUTOG195555163<<<<<<<<<<<<<<<\nPETERSON<<AMY<<<<<<<<<<<<<<<<<")
    assert got["MRZ"] == ["IDUTOG195555163<<<<<<<<<<<<<<<", "PETERSON<<AMY<<<<<<<<<<<<<<<<<"]


def test_micr_line(engine: LocalEngine) -> None:
    got = found(engine, 'MEMO invoice\n021000021H 915139799".2052')
    assert got["ROUTING_NUMBER"] == ["021000021"]
    assert got["BANK_ACCOUNT"] == ["915139799"]


def test_payment_phrases_and_relations_introduce_names(engine: LocalEngine) -> None:
    got = found(
        engine, "03/02 FASTER PAYMENT FROM DESMOND OYELARAN 250.00\nHer son, Thaddeus Quinlan, came along."
    )
    assert set(got["PERSON"]) >= {"DESMOND OYELARAN", "Thaddeus Quinlan"}


def test_label_with_hash_takes_value_without_space(engine: LocalEngine) -> None:
    assert found(engine, "Insurance: Member #XQH-448-120-77")["HEALTH_PLAN_ID"] == ["XQH-448-120-77"]
    assert found(engine, "Medical Record No.:MR-00481172 Sex: F")["MRN"] == ["MR-00481172"]


def test_micr_digits_spaced_out_by_ocr(engine: LocalEngine) -> None:
    got = found(engine, '1 1 8 9 7 8 0 3 7 日 9 1 5 1 3 9 7 9 9 " . 2 0 5 2')
    assert got["ROUTING_NUMBER"] == ["1 1 8 9 7 8 0 3 7"]
    assert got["BANK_ACCOUNT"] == ["9 1 5 1 3 9 7 9 9"]


def test_amount_in_words_is_not_a_name(engine: LocalEngine) -> None:
    assert "PERSON" not in found(engine, "Pay Four Thousand Thirty-Five and 64/100 DOLLARS")


def test_transaction_row_dates_are_not_personal(engine: LocalEngine) -> None:
    got = found(engine, "06/03/2024 POS PURCHASE GROCERY OUTLET 51.65 6,781.83\nAdmitted 06/03/2024 via ER")
    assert got["DATE"] == ["06/03/2024"]
    assert engine.analyze_text("x\nAdmitted 06/03/2024 via ER")[0].start == len("x\nAdmitted ")


def test_short_labels_must_be_capitals(engine: LocalEngine) -> None:
    assert "ID_NUMBER" not in found(engine, "HDL Cholesterol  59  mg/dL  40-60")
    assert found(engine, "DL  G19555516")["ID_NUMBER"] == ["G19555516"]
