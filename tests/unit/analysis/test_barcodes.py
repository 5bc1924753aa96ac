"""Barcodes: generated PDF417 codes decode to their AAMVA fields; anything else is a region only."""

from __future__ import annotations

import numpy as np
import pytest
import zxingcpp
from PIL import Image
from tests.identity_docs import LICENCE, aamva_payload, pdf417

from sealroom.analysis.local.barcodes import MAX_PAYLOAD, aamva_date, parse_aamva, read_barcodes
from sealroom.analysis.local.identity import barcode_findings, photo_region
from sealroom.analysis.models import AnalysisResult, Entity, PageImage
from sealroom.masking import mask_result
from sealroom.redaction import plan_regions


def _page(code: Image.Image, at: tuple[int, int] = (150, 200)) -> Image.Image:
    page = Image.new("RGB", (1000, 800), (255, 255, 255))
    page.paste(code, at)
    return page


def test_a_generated_pdf417_decodes_to_the_expected_fields() -> None:
    code = pdf417(aamva_payload(LICENCE))
    found = barcode_findings(0, _page(code))
    assert found.identity
    fields = {f.name: (f.value, f.entity_type) for f in found.fields}
    assert fields["aamva_family_name"] == ("HALVORSEN", "PERSON")
    assert fields["aamva_first_name"] == ("MARIT", "PERSON")
    assert fields["aamva_middle_name"] == ("ELISE", "PERSON")
    assert fields["aamva_birth_date"] == ("1985-03-17", "DATE_OF_BIRTH")
    assert fields["aamva_expiry_date"] == ("2030-03-17", None)
    assert fields["aamva_customer_id"] == ("W4419882", "ID_NUMBER")
    assert fields["aamva_street"] == ("742 LARKSPUR LN", "ADDRESS")
    assert fields["aamva_postal_code"] == ("920280000", "ADDRESS")
    assert fields["aamva_sex"] == ("F", "PHYSICAL_DESCRIPTION")
    assert fields["aamva_height"] == ("067 in", "PHYSICAL_DESCRIPTION")
    assert (fields["aamva_issuer_iin"][0], fields["aamva_version"][0], fields["aamva_document"][0]) == (
        "636014", "10", "DL")
    entities = {(e.type, e.text) for e in found.entities}
    assert {("BARCODE", ""), ("PERSON", "MARIT ELISE HALVORSEN"), ("DATE_OF_BIRTH", "1985-03-17"),
            ("ID_NUMBER", "W4419882"), ("ADDRESS", "742 LARKSPUR LN, FALLBROOK, CA 92028")} <= entities
    # Every entity sits on the barcode, which lies where it was pasted.
    (box,) = {e.bbox for e in found.entities}
    assert box is not None and box[0] <= 150 and box[1] <= 200
    assert box[2] >= 150 + code.width - 12 and box[3] >= 200 + code.height - 12
    assert all(e.start is None and e.end is None for e in found.entities)


def test_a_version_1_id_card_with_canadian_dates_and_a_wrong_offset_still_parses() -> None:
    payload = aamva_payload({"DAQ": "C1234-56789", "DAA": "TREMBLAY,JULIE,ANNE", "DBB": "19920229"},
                            iin="636012", version=1, subfile="ID")
    broken = payload.replace(b"ID0", b"ID9", 1)  # the designator's offset points nowhere
    record = parse_aamva(broken)
    assert record is not None and (record.version, record.subfile, record.iin) == (1, "ID", "636012")
    assert record.full_name() == "TREMBLAY JULIE ANNE"
    assert dict((n, v) for n, v, _ in record.fields())["birth_date"] == "1992-02-29"


@pytest.mark.parametrize("payload", [
    b"",
    b"HELLO WORLD, NOT A LICENCE",
    b"@\n\x1e\rANSI 6360141001DLxxxx0100DCSSMITH\n",  # a designator that is not one
    b"@\n\x1e\rANSI 636014100101DL00310020",            # no subfile at all
    aamva_payload({"XYZ": "1", "ZZZ": "2"}),            # no known element
])
def test_a_malformed_payload_gives_no_record(payload: bytes) -> None:
    assert parse_aamva(payload) is None


def test_a_malformed_pdf417_is_a_region_without_fields() -> None:
    code = pdf417(b"@\n\x1e\rANSI 63601410XXDL garbage DCSSMITH")
    found = barcode_findings(0, _page(code))
    assert not found.identity
    assert [e.type for e in found.entities] == ["BARCODE"]
    assert [f.name for f in found.fields] == ["barcode_format"]


def test_only_the_first_bytes_of_a_huge_payload_are_read() -> None:
    payload = aamva_payload({**LICENCE, "DAH": "X" * (MAX_PAYLOAD + 500)})
    record = parse_aamva(payload)
    assert record is not None
    assert record.elements["DCS"] == "HALVORSEN"
    assert len(record.elements.get("DAH", "")) <= 128


def test_a_qr_code_is_reported_as_a_barcode_region_only() -> None:
    qr = zxingcpp.create_barcode("Patient HALVORSEN MARIT 1985-03-17", zxingcpp.BarcodeFormat.QRCode)
    image = Image.fromarray(np.asarray(qr.to_image(scale=6))).convert("RGB")
    found = barcode_findings(3, _page(image, (400, 300)))
    assert [(e.type, e.page, e.text) for e in found.entities] == [("BARCODE", 3, "")]
    assert not found.identity and [f.value for f in found.fields] == ["QRCode"]


def test_a_page_without_codes_has_none() -> None:
    assert read_barcodes(Image.new("RGB", (640, 480), (255, 255, 255))) == []


@pytest.mark.parametrize(("value", "iso"), [("03171985", "1985-03-17"), ("19850317", "1985-03-17"),
                                            ("13171985", None), ("1985031", None), ("00000000", None)])
def test_aamva_dates_are_us_or_canadian(value: str, iso: str | None) -> None:
    assert aamva_date(value) == iso


def test_textless_entities_are_masked_and_painted_as_found() -> None:
    page = PageImage(0, Image.new("RGB", (800, 600)))
    result = AnalysisResult("local", "identity", 0.97, entities=[
        Entity("FACE", "", 0, (100, 100, 200, 220), 0.9, source="SealroomFaceDetector"),
        Entity("PHOTO", "", 0, photo_region((100, 100, 200, 220), 800, 600), 0.8),
        Entity("BARCODE", "", 0, (300, 400, 700, 560), 0.99),
        Entity("PERSON", "MARIT ELISE HALVORSEN", 0, (300, 400, 700, 560), 0.99),
    ])
    masked = mask_result(result, unmasked=False)
    assert [e["text"] for e in masked["entities"]] == ["", "", "", "M*** E*** H***"]
    regions = {(r.kind, r.bbox) for r in plan_regions([page], result, {})}
    assert ("BARCODE", (300, 400, 700, 560)) in regions and ("FACE", (100, 100, 200, 220)) in regions
    photo = next(box for kind, box in regions if kind == "PHOTO")
    # A portrait 7:9, holding the head box, taller than it (neck and shoulders below).
    assert photo[0] <= 100 and photo[2] >= 200 and photo[1] < 100 and photo[3] > 220
    assert abs((photo[2] - photo[0]) / (photo[3] - photo[1]) - 7 / 9) < 0.05
