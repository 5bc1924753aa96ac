"""Document type from text."""

from __future__ import annotations

import pytest

from sealroom.analysis.local.classify import classify


@pytest.mark.parametrize(
    "text,kind",
    [
        ("LABORATORY REPORT\nPatient Name: X  MRN: 1\nOrdering Physician: Y\nReference Range", "clinical"),
        (
            "Account Summary\nAccount Number: 1\nRouting Number: 2\nBeginning Balance\nDeposits Withdrawals",
            "financial",
        ),
        ("DRIVER LICENSE\nDL 123 EXP 2027\nSEX F HGT 5-11 EYES BLU", "identity"),
        (
            "RESIDENTIAL LEASE AGREEMENT\nLandlord and Tenant ... governing law ... IN WITNESS WHEREOF",
            "legal",
        ),
        ("Grocery list: apples, bread", "other"),
    ],
)
def test_classify(text: str, kind: str) -> None:
    got, confidence = classify(text)
    assert got == kind
    assert 0.0 < confidence <= 1.0


def test_entity_types_count_as_evidence() -> None:
    assert classify("IDUTO<<<<", ["MRZ"])[0] == "identity"
