"""Attacks on the document features of issue 7: DICOM ingest and de-identification, identity documents.

Every test here reproduces a finding of the security review and fails until it is fixed:

* a Deflated Explicit VR Little Endian DICOM is a zip bomb: the whole data set is inflated without
  any bound (a 400 KB upload takes ~870 MB of memory; a 50 MB upload would take ~50 GB);
* the JPEG 2000 size check only looks at the first 4096 bytes of a frame, so a JP2 whose codestream
  sits behind a large box is decoded at its full size (a 6 KB file decoded as 6000 x 6000);
* the de-identified derivative keeps attributes missing from the profile table (Patient Birth Date in
  Alternative Calendar...) and unknown public elements, none reported as PHI either;
* a burned-in patient name is not found (so not masked in the delivered text) when the header's
  Person Name has a middle name, a suffix or ideographic / phonetic groups (``=``);
* AAMVA barcode values keep terminal control characters (not cleaned like model replies);
* burned-in text the OCR reads in a box taller than a third of the frame is left in the derivative;
* a German line with "ß" crashes the MRZ reader (IndexError), failing the whole local analysis.
"""

from __future__ import annotations

import io
import struct
import unicodedata
import zlib

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

from sealroom.analysis.dicom_deid import deidentify
from sealroom.analysis.dicom_phi import burned_in, header_entities
from sealroom.analysis.local import barcodes
from sealroom.analysis.models import AnalysisResult, Entity, PageText, TextRegion
from sealroom.config import LimitSettings
from sealroom.errors import BadImageError, TooLargeError
from sealroom.masking import mask_result
from sealroom.vault.decode import decode_document
from sealroom.vault.dicom import read_dataset
from tests.conftest import CLINICAL_CASE, Env, login
from tests.dicom_files import CT_IMAGE, build

UPLOAD = f"/api/v1/images?dataset=clinical-records&case_id={CLINICAL_CASE}&document_type=clinical"


def _blobs(env: Env) -> list[object]:
    return [p for p in (env.root / "blobs").rglob("*") if p.is_file()]


# --- hostile DICOM: decompression bombs ---------------------------------------------------------------


def deflate_bomb(inflated_mb: int) -> bytes:
    """A 64 x 64 CT in Deflated Explicit VR Little Endian whose Pixel Data inflates to ``inflated_mb``."""
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = CT_IMAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = CT_IMAGE, meta.MediaStorageSOPInstanceUID
    ds.Rows = ds.Columns = 64
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    size = inflated_mb << 20
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [deflater.compress(body.getvalue()),
             deflater.compress(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, size))]  # fmt: skip
    chunk = bytes(1 << 20)
    parts += [deflater.compress(chunk) for _ in range(inflated_mb)]
    parts.append(deflater.flush())
    head = DicomBytesIO()
    write_file_meta_info(head, meta, enforce_standard=True)
    return bytes(128) + b"DICM" + head.getvalue() + b"".join(parts)


def test_a_deflated_dicom_that_inflates_far_beyond_its_header_is_refused_and_not_stored(
    env: Env, client: TestClient
) -> None:
    # 160 KB on the wire, 160 MB once inflated for a 64 x 64 image (8 KB of pixels). At zlib's
    # ~1000:1 a 50 MB upload (limits.max_file_bytes) inflates to ~50 GB, on every decode.
    data = deflate_bomb(160)
    assert len(data) < 300_000
    with pytest.raises((BadImageError, TooLargeError)):
        decode_document(data, LimitSettings())
    response = client.post(UPLOAD, content=data, headers=login(client, env, "nora"))
    assert response.status_code in (413, 422), response.text
    assert not _blobs(env)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def jp2_bomb(side: int, header_side: int = 64) -> bytes:
    """A DICOM whose header says ``header_side``^2 and whose JPEG 2000 frame is a JP2 holding a
    ``side`` x ``side`` image, with a 5 KB XML box ahead of the codestream."""
    import openjpeg

    codestream = bytes(openjpeg.encode(np.zeros((side, side), np.uint8), codec_format=0))
    ihdr = _box(b"ihdr", struct.pack(">IIHBBBB", side, side, 1, 7, 7, 0, 0))
    colr = _box(b"colr", struct.pack(">BBBI", 1, 0, 0, 17))
    jp2 = (_box(b"jP  ", b"\r\n\x87\n") + _box(b"ftyp", b"jp2 \0\0\0\0jp2 ") + _box(b"jp2h", ihdr + colr)
           + _box(b"xml ", b"<a/>" + b" " * 5000) + _box(b"jp2c", codestream))  # fmt: skip
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.file_meta.MediaStorageSOPClassUID = CT_IMAGE
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.SOPInstanceUID = CT_IMAGE, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Rows = ds.Columns = header_side
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = encapsulate([jp2])
    ds["PixelData"].VR = "OB"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_a_jp2_frame_whose_size_box_is_past_4096_bytes_is_refused_before_decoding() -> None:
    # The SIZ search stops at 4096 bytes, so this frame's 2000 x 2000 size is never compared with
    # the header's 64 x 64: the decoder inflates it in full (6000 x 6000 from a 6 KB file: ~270 MB
    # RSS) and only the reshape afterwards fails. It must be refused as a bomb, before decoding.
    data = jp2_bomb(2000)
    assert len(data) < 10_000
    with pytest.raises(BadImageError) as refused:
        decode_document(data, LimitSettings())
    assert "2000x2000" in str(refused.value) and "decompression bomb" in str(refused.value)


# --- PHI left in the de-identified derivative ----------------------------------------------------------

PLANTED = {
    # In PS3.15 Table E.1-1 (action X) but missing from dicom_basic_profile.csv: kept as they are.
    "PatientBirthDateInAlternativeCalendar": "1332/11/25 BIRTHALT",
    "PatientDeathDateInAlternativeCalendar": "1404/02/03 DEATHALT",
}


def _planted_dicom() -> bytes:
    ds = dcmread(io.BytesIO(build(rows=64, columns=64, frames=[["X"]]).data))
    for keyword, value in PLANTED.items():
        setattr(ds, keyword, value)
    ds.add_new(0x00101234, "LO", "QUINLAN UNLISTED LO")  # a public (even-group) element no table knows
    ds.add_new(0x00201234, "UN", b"QUINLAN UNLISTED UN")
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_the_derivative_keeps_no_birth_date_in_an_alternative_calendar() -> None:
    derivative = deidentify(_planted_dicom(), {}, LimitSettings()).data
    for value in PLANTED.values():
        assert value.encode() not in derivative, value


def test_alternative_calendar_birth_dates_are_reported_as_header_phi() -> None:
    found = {e.text for e in header_entities(read_dataset(_planted_dicom(), pixels=False))}
    for value in PLANTED.values():
        assert value in found, value


def test_unknown_public_elements_do_not_survive_de_identification() -> None:
    # Attributes the table does not list fall back to rules by VR; LO and UN are kept as they are,
    # so any newer or unknown public attribute carrying patient text reaches the dcm export.
    derivative = deidentify(_planted_dicom(), {}, LimitSettings()).data
    assert b"UNLISTED" not in derivative


# --- burned-in names the header search misses ----------------------------------------------------------


@pytest.mark.parametrize(
    "patient_name",
    ["QUINLAN^THADDEUS^J", "QUINLAN^THADDEUS^^DR", "QUINLAN^THADDEUS=クインラン^タデウス"],
    ids=["middle-name", "suffix", "ideographic-group"],
)
def test_a_burned_in_patient_name_is_found_and_masked_whatever_the_person_name_components(
    patient_name: str,
) -> None:
    text = "QUINLAN THADDEUS\nCT HEAD 2026"
    regions = [TextRegion(0, 16, (10, 10, 200, 30)), TextRegion(17, 29, (10, 40, 200, 60))]
    page = PageText(0, 512, 512, text, regions)
    result = AnalysisResult("local", "clinical", 0.9, pages=[page], entities=[])
    header = [Entity("PERSON", patient_name, 0, None, 1.0, source="DICOM header (0010,0010) PatientName")]
    found = burned_in(result, header)
    assert [e.text for e in found] == ["QUINLAN THADDEUS"]
    result.entities = [*found, *header]
    delivered = mask_result(result, unmasked=False)
    assert "QUINLAN" not in str(delivered) and "THADDEUS" not in str(delivered)


# --- identity documents ----------------------------------------------------------------------------------


def test_aamva_barcode_values_carry_no_terminal_control_characters() -> None:
    payload = (
        b"@\n\x1e\rANSI 636014090102DL00410120ZC01610010DL"
        b"DAQD1234567\nDCSSMITH\x1b]2;owned\x07\x1b[2J\x9b31m\nDACJOHN\nDBB01021980\nDAG1 MAIN ST\x1b[8m\r"
    )
    record = barcodes.parse_aamva(payload)
    assert record is not None
    values = [value for _, value, _ in record.fields()] + [record.full_name() or "", record.address() or ""]
    for value in values:
        assert not [c for c in value if unicodedata.category(c) in ("Cc", "Cf")], repr(value)


# --- burned-in text the OCR reads but the Clean Pixel Data step leaves ---------------------------------


@pytest.mark.slow
def test_large_burned_in_text_the_ocr_reads_is_masked_in_the_derivative() -> None:
    # A 320 x 160 secondary-capture-sized frame with the patient's name burned in large: the OCR
    # reads "QUINLAN" with a box 66 px tall, over a third of the frame, so it is skipped as
    # "anatomy read as a letter" while the derivative says Burned In Annotation NO.
    from PIL import Image, ImageDraw, ImageFont

    from sealroom.analysis.local.ocr import OcrReader

    ds = dcmread(io.BytesIO(build(rows=160, columns=320, frames=[[]]).data))
    pixels = ds.pixel_array.copy()
    mask = Image.new("L", (320, 160), 0)
    ImageDraw.Draw(mask).text((8, 40), "QUINLAN", font=ImageFont.load_default(size=64), fill=255)
    pixels[np.asarray(mask) > 127] = 4095
    ds.PixelData = pixels.tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    data = out.getvalue()
    reader = OcrReader()
    segments = reader.read(decode_document(data, LimitSettings()).pages[0])
    assert "QUINLAN" in " ".join(s.text for s in segments).upper()
    derivative = deidentify(data, {0: [s.bbox for s in segments]}, LimitSettings())
    after = " ".join(s.text for s in reader.read(decode_document(derivative.data, LimitSettings()).pages[0]))
    assert "QUINLAN" not in after.upper()


def test_german_text_with_sharp_s_does_not_crash_the_mrz_reader() -> None:
    # "ß".upper() is "SS": one list entry, two characters, so _fit indexes its character list with
    # offsets into the longer text and raises IndexError. The OCR's dictionary has "ß"; the error
    # fails the whole local analysis of an ordinary German letter (mrz_findings runs on every page).
    from sealroom.analysis.local import mrz

    text = "Postanschrift Große Hamburger Straße 17 Berlin.\nBitte überweisen Sie den Betrag bis Ende Mai."
    assert mrz.read_zones(text) == []
