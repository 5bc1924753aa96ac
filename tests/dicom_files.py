"""Synthetic DICOM files for the tests: header PHI, burned-in text at 12-bit values, frames, syntaxes.

Every PHI value put in is listed in ``PHI``, so tests can check each one is found and that none is
left in a de-identified derivative.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, RLELossless, generate_uid

CT_IMAGE = UID("1.2.840.10008.5.1.4.1.1.2")
BURNED_NAME = "QUINLAN THADDEUS"
BURNED_ID = "MRN 48213977"


@dataclass(frozen=True)
class Phi:
    """One header PHI item: keyword, value as written and the entity type it must be reported as."""

    keyword: str
    value: str
    entity_type: str


@dataclass
class Built:
    """A built file and the header PHI in it (including the UIDs generated for it)."""

    data: bytes
    phi: list[Phi] = field(default_factory=list)
    private_tags: list[str] = field(default_factory=list)

    @property
    def values(self) -> list[str]:
        """Every PHI value in the header, as written."""
        return [item.value for item in self.phi]


HEADER_PHI = [
    Phi("PatientName", "QUINLAN^THADDEUS", "PERSON"),
    Phi("PatientID", "48213977", "MRN"),
    Phi("PatientBirthDate", "19530214", "DATE_OF_BIRTH"),
    Phi("AccessionNumber", "ACC77120934", "ACCESSION_NUMBER"),
    Phi("InstitutionName", "Saint Brigid Memorial Hospital", "INSTITUTION"),
    Phi("InstitutionAddress", "14 Harbour Lane Kilcormac", "ADDRESS"),
    Phi("ReferringPhysicianName", "OKAFOR^ADAEZE", "PERSON"),
    Phi("PerformingPhysicianName", "LINDQVIST^MARTA", "PERSON"),
    Phi("NameOfPhysiciansReadingStudy", "BRENNAN^CIARAN", "PERSON"),
    Phi("OperatorsName", "DUBOIS^ELOISE", "PERSON"),
    Phi("StudyDate", "20260114", "DATE"),
    Phi("SeriesDate", "20260115", "DATE"),
    Phi("StudyTime", "093412", "TIME"),
    Phi("OtherPatientIDs", "X55120987", "MRN"),
    Phi("PatientAddress", "7 Rowan Terrace Ballymore", "ADDRESS"),
    Phi("PatientTelephoneNumbers", "+353 61 555 0199", "PHONE"),
    Phi("StudyID", "ST93021", "ID_NUMBER"),
]


def burned_frame(rows: int, columns: int, lines: list[str], *, seed: int = 7) -> np.ndarray:
    """A 12-bit CT-like frame (values around 1000-1100, noise) with ``lines`` burned in at 4095."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:columns]
    body = ((yy - rows / 2) ** 2 / (rows * 0.42) ** 2 + (xx - columns / 2) ** 2 / (columns * 0.45) ** 2) < 1
    frame = np.where(body, 1040, 24).astype(np.float64) + rng.normal(0, 6, (rows, columns))
    mask = Image.new("L", (columns, rows), 0)
    draw = ImageDraw.Draw(mask)
    font = ImageFont.load_default(size=max(16, rows // 22))
    for number, line in enumerate(lines):
        draw.text((12, 10 + number * max(22, rows // 15)), line, font=font, fill=255)
    frame[np.asarray(mask) > 127] = 4095
    return np.clip(frame, 0, 4095).astype(np.uint16)


def build(
    *,
    frames: list[list[str]] | None = None,
    rows: int = 512,
    columns: int = 512,
    syntax: str = ExplicitVRLittleEndian,
    with_phi: bool = True,
) -> Built:
    """A 16-bit (12 stored) MONOCHROME2 CT with a realistic window; one frame per ``frames`` entry,
    each with its lines of burned-in text. Header PHI from ``HEADER_PHI``, a private block, UIDs."""
    frames = frames if frames is not None else [[BURNED_NAME, BURNED_ID]]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CT_IMAGE
    built = Built(b"")
    study, series, instance, frame_of_ref = (generate_uid() for _ in range(4))
    ds.file_meta.MediaStorageSOPInstanceUID = instance
    ds.SOPClassUID = CT_IMAGE
    ds.SOPInstanceUID = instance
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = frame_of_ref
    ds.Modality = "CT"
    if with_phi:
        for item in HEADER_PHI:
            setattr(ds, item.keyword, item.value)
        built.phi.extend(HEADER_PHI)
        for keyword, uid in (
            ("StudyInstanceUID", study),
            ("SeriesInstanceUID", series),
            ("SOPInstanceUID", instance),
            ("FrameOfReferenceUID", frame_of_ref),
        ):
            built.phi.append(Phi(keyword, uid, "DICOM_UID"))
        referenced = Dataset()
        referenced.ReferencedSOPClassUID = CT_IMAGE
        referenced.ReferencedSOPInstanceUID = generate_uid()
        ds.ReferencedImageSequence = Sequence([referenced])
        built.phi.append(Phi("ReferencedSOPInstanceUID", referenced.ReferencedSOPInstanceUID, "DICOM_UID"))
        nested = Dataset()
        nested.PatientID = "Z77001234"
        nested.IssuerOfPatientID = "Northside Clinic"
        ds.OtherPatientIDsSequence = Sequence([nested])
        built.phi.append(Phi("PatientID", "Z77001234", "MRN"))
        built.phi.append(Phi("IssuerOfPatientID", "Northside Clinic", "INSTITUTION"))
        block = ds.private_block(0x0009, "ACME MODALITY", create=True)
        block.add_new(0x01, "LO", "VIP patient Quinlan")
        block.add_new(0x02, "LO", "RM 4B-2291")
        built.private_tags = ["(0009,1001)", "(0009,1002)"]
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    pixels = np.stack([burned_frame(rows, columns, lines, seed=i) for i, lines in enumerate(frames)])
    ds.set_pixel_data(
        pixels if len(frames) > 1 else pixels[0], "MONOCHROME2", 12, generate_instance_uid=False
    )
    if syntax == RLELossless:
        ds.compress(RLELossless, generate_instance_uid=False)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    built.data = out.getvalue()
    return built


def with_syntax(data: bytes, syntax: str, pixel_data: bytes) -> bytes:
    """``data`` re-labelled with ``syntax`` and encapsulated ``pixel_data`` (for unsupported cases)."""
    from pydicom import dcmread
    from pydicom.encaps import encapsulate

    ds = dcmread(io.BytesIO(data))
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    ds.PixelData = encapsulate([pixel_data])
    ds["PixelData"].VR = "OB"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def header_only(rows: int, columns: int, frames: int = 1) -> bytes:
    """A DICOM whose header claims ``rows`` x ``columns`` x ``frames`` but holds a few bytes of pixels."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CT_IMAGE
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = CT_IMAGE
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, columns, frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = bytes(64)
    ds["PixelData"].VR = "OW"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
