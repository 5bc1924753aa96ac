"""The synthetic demo documents and the example workspace configuration."""

from __future__ import annotations

import io
import tomllib
from importlib import resources

import pypdfium2
import pytest
from PIL import Image

from sealroom.config import Settings
from sealroom.demo.documents import (
    BANK_ACCOUNT,
    CARD_SIZE,
    LAB_ORDER,
    LAB_PATIENT,
    LETTER_SIZE,
    demo_documents,
    render_bank_statement,
    render_id_card,
    render_lab_report,
)


def _luhn(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def test_lab_report_is_a_letter_size_png() -> None:
    with Image.open(io.BytesIO(render_lab_report())) as image:
        assert image.format == "PNG" and image.size == LETTER_SIZE and image.mode == "RGB"


def test_bank_statement_is_a_two_page_letter_pdf() -> None:
    data = render_bank_statement()
    assert data.startswith(b"%PDF-")
    document = pypdfium2.PdfDocument(data)
    try:
        assert len(document) == 2
        for page in document:
            assert page.get_size() == (612.0, 792.0)  # US Letter in points
            width, height = page.render(scale=150 / 72).to_pil().size
            assert abs(width - LETTER_SIZE[0]) <= 1 and abs(height - LETTER_SIZE[1]) <= 1
    finally:
        document.close()


def test_id_card_is_an_id1_jpeg() -> None:
    with Image.open(io.BytesIO(render_id_card())) as image:
        assert image.format == "JPEG" and image.size == CARD_SIZE


def test_documents_are_deterministic() -> None:
    assert render_lab_report() == render_lab_report()
    assert render_bank_statement() == render_bank_statement()
    assert render_id_card() == render_id_card()


def test_demo_documents_metadata() -> None:
    documents = {document.document_type: document for document in demo_documents()}
    expected = {
        "clinical": ("clinical-records", "confidential", "ENC-2026-0042", ".png"),
        "financial": ("finance-records", "confidential", "ACCT-7731", ".pdf"),
        "identity": ("identity-docs", "restricted", "KYC-5520", ".jpg"),
    }
    assert set(documents) == set(expected)
    for kind, (dataset, classification, case_id, suffix) in expected.items():
        document = documents[kind]
        got = (document.dataset, document.classification, document.case_id)
        assert got == (dataset, classification, case_id)
        assert document.filename.endswith(suffix) and document.description


def test_invented_identifiers_are_well_formed() -> None:
    card = BANK_ACCOUNT["Debit Card Number"].replace(" ", "")
    assert _luhn(card)
    routing = [int(c) for c in BANK_ACCOUNT["Routing Number"]]
    assert (
        3 * (routing[0] + routing[3] + routing[6])
        + 7 * (routing[1] + routing[4] + routing[7])
        + routing[2]
        + routing[5]
        + routing[8]
    ) % 10 == 0
    iban = BANK_ACCOUNT["IBAN"].replace(" ", "")
    assert int("".join(str(int(c, 36)) for c in iban[4:] + iban[:4])) % 97 == 1
    assert _luhn("80840" + LAB_ORDER["NPI"])
    area, group, serial = LAB_PATIENT["SSN"].split("-")
    assert area not in {"000", "666"} and not area.startswith("9") and group != "00" and serial != "0000"


def test_workspace_toml_is_a_valid_configuration() -> None:
    text = resources.files("sealroom.demo").joinpath("workspace.toml").read_text(encoding="utf-8")
    settings = Settings.model_validate(tomllib.loads(text))
    assert set(settings.datasets) == {"clinical-records", "finance-records", "identity-docs"}
    assert set(settings.roles) == {"clinician", "intake", "privacy-officer", "supervisor", "auditor", "admin"}
    assert "request:approve" in settings.roles["supervisor"].actions
    assert settings.roles["clinician"].datasets == ["clinical-records"]
    assert "pii:view_unmasked" in settings.roles["privacy-officer"].actions
    assert settings.roles["auditor"].actions == ["audit:read"] and settings.roles["auditor"].datasets == []
    for document in demo_documents():
        assert document.dataset in settings.datasets
        assert document.classification in settings.classifications
        assert document.document_type in settings.document_types


@pytest.mark.slow
def test_lab_report_reads_back_with_ocr() -> None:
    np = pytest.importorskip("numpy")
    rapidocr = pytest.importorskip("rapidocr")
    with Image.open(io.BytesIO(render_lab_report())) as image:
        output = rapidocr.RapidOCR()(np.array(image.convert("RGB")))
    text = " ".join(output.txts)
    assert "Patient Name:" in text
    assert LAB_PATIENT["Patient Name"] in text
    assert LAB_PATIENT["SSN"] in text and LAB_PATIENT["MRN"] in text
