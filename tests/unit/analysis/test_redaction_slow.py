"""Redaction end to end: the real offline engine finds the personal data on the demo documents, it
is burned out, and OCR run again on the redacted pixels can no longer read it, while the rest of the
document still reads (so the page was not simply blacked out)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sealroom.analysis.local.engine import LocalEngine
from sealroom.analysis.local.ocr import OcrReader
from sealroom.analysis.models import PageImage
from sealroom.demo.documents import (
    ID_CARD,
    LAB_ORDER,
    LAB_PATIENT,
    render_id_card,
    render_lab_report,
)
from sealroom.redaction import FACE, Redaction, redact

FACE_PHOTO = Path(__file__).parents[2] / "data" / "face_public_domain.jpg"
CARD_PHOTO = (35, 140, 285, 413)
"""Where the photograph goes on the demo ID card (over its silhouette)."""


@pytest.fixture(scope="module")
def reader() -> OcrReader:
    return OcrReader()


def squash(text: str) -> str:
    """Lower case without spaces: OCR may split or join words differently on every read."""
    return "".join(text.split()).lower()


def read_back(reader: OcrReader, redaction: Redaction) -> str:
    return squash(" ".join(segment.text for segment in reader.read(redaction.pages[0].image)))


def run(engine: LocalEngine, image: Image.Image) -> Redaction:
    pages = [PageImage(0, image)]
    before = image.tobytes()
    redaction = redact(pages, engine.analyze(pages))
    assert image.tobytes() == before  # the session's page is untouched
    return redaction


@pytest.mark.slow
def test_lab_report_personal_data_is_unreadable_after_redaction(engine: LocalEngine,
                                                                 reader: OcrReader) -> None:
    with Image.open(io.BytesIO(render_lab_report())) as png:
        image = png.convert("RGB")
    redaction = run(engine, image)
    text = read_back(reader, redaction)

    gone = [
        "Eleanor", "Whitfield", LAB_PATIENT["MRN"], "20473918", LAB_PATIENT["Date of Birth"],
        LAB_PATIENT["SSN"], "555-0147", "Larkspur", "62704", LAB_PATIENT["Email"],
        LAB_PATIENT["Encounter"], "Oyelaran", LAB_ORDER["NPI"], LAB_ORDER["Member ID"],
        LAB_ORDER["Accession"], "Halvorsen",
    ]
    assert [value for value in gone if squash(value) in text] == []
    kept = [
        "LABORATORY REPORT", "PATIENT INFORMATION", "Hemoglobin", "Creatinine", "Platelets",
        "Potassium", "Patient Name:", "Date of Birth:", "Mild normocytic anemia", "Whole blood, serum",
    ]
    assert [value for value in kept if squash(value) not in text] == []
    summary = redaction.summary()
    assert summary["faces"] == 0
    for kind in ("PERSON", "MRN", "DATE_OF_BIRTH", "SSN", "PHONE", "ADDRESS", "EMAIL"):
        assert summary["by_type"].get(kind, 0) >= 1, kind
    # Black boxes, not a black page: few pixels changed.
    changed = (np.asarray(redaction.pages[0].image) != np.asarray(image)).any(axis=2).mean()
    assert 0.005 < changed < 0.15


@pytest.mark.slow
def test_id_card_personal_data_and_photo_are_gone_after_redaction(engine: LocalEngine,
                                                                   reader: OcrReader) -> None:
    with Image.open(io.BytesIO(render_id_card())) as jpeg:
        card = jpeg.convert("RGB")
    with Image.open(FACE_PHOTO) as photo:
        x0, y0, x1, y1 = CARD_PHOTO
        card.paste(photo.convert("RGB").resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS), (x0, y0))
    redaction = run(engine, card)
    text = read_back(reader, redaction)

    gone = [ID_CARD["DL No"], ID_CARD["Last Name"], "SOFIA", "MARIA", "JUNIPER", "905",
            "FAIRHAVEN", "98225", ID_CARD["Date of Birth"], "Castellanos"]
    assert [value for value in gone if squash(value) in text] == []
    kept = ["DRIVER LICENSE", "Department of Licensing", "Last Name:", "Date of Birth:", "Height:", "Eyes:"]
    assert [value for value in kept if squash(value) not in text] == []

    assert redaction.summary()["faces"] == 1
    (face,) = [region.bbox for region in redaction.regions if region.kind == FACE]
    # The head in the pasted photograph (hair to chin), scaled from the fixture's 220 x 240 pixels.
    head = (x0 + 51, y0 + 0, x0 + 205, y0 + 205)
    assert face[0] <= head[0] and face[1] <= head[1] + 8 and face[2] >= head[2] and face[3] >= head[3]
    assert not np.asarray(redaction.pages[0].image)[head[1] + 8:head[3], head[0]:head[2]].any()
