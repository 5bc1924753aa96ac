"""A de-identified DICOM derivative, made in memory: PS3.15 Basic Profile plus Clean Pixel Data.

Header (PS3.15 Annex E, Basic Application Level Confidentiality Profile). The profile's table ships
as data (``analysis/local/data/dicom_basic_profile.csv``: tag, keyword, action) and is applied to the
data set and to every item of every sequence:

* ``D`` a dummy value of the element's VR, ``Z`` an empty value, ``X`` removed, ``K`` kept, ``C``
  (clean) treated as ``D``, ``U`` a new UID; compound actions resolve to ``U``, else ``Z``, else
  ``D``, else ``X`` (the choice keeping the element where the standard allows it);
* UIDs are replaced consistently: one original UID maps to one new UID (``generate_uid``, random)
  throughout the derivative; a new mapping is made for every derivative, so two derivatives of the
  same study cannot be linked by their UIDs;
* every private element is removed, and so are overlays (groups 60xx, burned-in annotation is
  often stored there), curves (50xx) and every element of VR ``UN`` (its content cannot be cleaned);
* attributes the table does not list are handled by an allow-list, stricter than the profile: a UID
  that is not a registered DICOM UID is replaced, the technical attributes needed to show the image
  (``_KEEP``) are kept, and everything else is removed;
* the file meta group is rebuilt (no source application entity), and Patient Identity Removed
  ``YES``, De-identification Method and its Code Sequence (113100 Basic Application
  Confidentiality Profile, 113101 Clean Pixel Data Option) are added.

Pixels (Clean Pixel Data Option). Every box where the offline OCR found text on a frame — all text,
not only the values recognised as personal data, because burned-in annotations are where names, IDs
and dates sit — is filled in the original pixel data, at full bit depth, on every frame, with the
frame's darkest value, whatever the size of a read that is a real word; only a single-character,
very-low-confidence or unknown read covering most of the frame (anatomy read as a letter) is left,
and then Burned-In Annotation is ``YES``, else ``NO``: text the OCR did not read is not masked (see
docs/dicom.md). The derivative is written uncompressed (Explicit VR Little Endian).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, generate_uid

from sealroom.analysis.models import AnalysisResult, BBox, PageImage
from sealroom.config import LimitSettings
from sealroom.vault.dicom import decode_dicom, decode_frames, inspect_dicom

DEID_METHOD: Final = "PS3.15 Basic Profile; Clean Pixel Data (Sealroom)"
PAD: Final = 0.3
"""Padding around a text box, as a share of its height (anti-aliased edges, descenders)."""
MAX_UNREAD_AREA: Final = 1 / 2
"""A box covering more than this share of the frame, read as a single character, at very low
confidence or with no text known, is the OCR reading anatomy as a letter (a round body outline read
as ``O``); it is not masked (the whole image would be), it is counted, and Burned In Annotation
says ``YES``. A real word (two letters or digits or more, at a reasonable confidence) is masked
whatever its size."""
MIN_WORD_CONFIDENCE: Final = 0.3
"""Below this OCR confidence a read covering most of the frame is not trusted to be text."""


@dataclass(frozen=True)
class TextBox:
    """A box where the OCR read text, with what it read and how sure it was (when known)."""

    bbox: BBox
    text: str | None = None
    confidence: float | None = None

    def is_word(self) -> bool:
        """Whether the read is a real word: two letters or digits or more, at a reasonable confidence."""
        if self.text is None:
            return False
        if sum(ch.isalnum() for ch in self.text) < 2:
            return False
        return self.confidence is None or self.confidence >= MIN_WORD_CONFIDENCE


_DUMMY: Final[dict[str, Any]] = {
    "PN": "ANONYMIZED", "LO": "ANONYMIZED", "SH": "ANONYMIZED", "LT": "ANONYMIZED",
    "ST": "ANONYMIZED", "UT": "ANONYMIZED", "UC": "ANONYMIZED", "CS": "ANONYMIZED",
    "AE": "ANONYMIZED", "DA": "19000101", "TM": "000000", "DT": "19000101000000", "AS": "000Y",
    "IS": "0", "DS": "0",
}  # fmt: skip
_KEEP: Final = frozenset(
    {
        # Pixel data and the Image Pixel module: what the frames are and how to read them.
        "PixelData", "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
        "SamplesPerPixel", "PhotometricInterpretation", "PlanarConfiguration", "NumberOfFrames",
        "PixelAspectRatio", "SmallestImagePixelValue", "LargestImagePixelValue", "PixelPaddingValue",
        "PixelPaddingRangeLimit", "FrameIncrementPointer", "FrameTime", "FrameTimeVector",
        "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
        "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
        "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
        # Geometry and display: spacing, Modality LUT, VOI LUT, presentation.
        "PixelSpacing", "ImagerPixelSpacing", "SliceThickness", "SpacingBetweenSlices",
        "ImageOrientationPatient", "ImagePositionPatient", "PatientOrientation", "PatientPosition",
        "ViewPosition", "Laterality", "ImageLaterality", "RescaleSlope", "RescaleIntercept",
        "RescaleType", "ModalityLUTSequence", "ModalityLUTType", "LUTDescriptor", "LUTData",
        "WindowCenter", "WindowWidth", "VOILUTFunction", "VOILUTSequence", "PresentationLUTShape",
        "LossyImageCompression", "LossyImageCompressionRatio", "LossyImageCompressionMethod",
        # What the object is (registered UIDs; others are replaced below).
        "Modality", "SOPClassUID", "ImageType", "SpecificCharacterSet", "InstanceNumber",
        "SeriesNumber", "AcquisitionNumber",
        # Multi-frame functional groups: the per-frame window, spacing, rescale.
        "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence", "FrameVOILUTSequence",
        "PixelMeasuresSequence", "PixelValueTransformationSequence", "PlanePositionSequence",
        "PlaneOrientationSequence",
        # Codes inside kept sequences, and what the derivative says about itself.
        "CodeValue", "CodingSchemeDesignator", "CodingSchemeVersion", "CodeMeaning",
        "PatientIdentityRemoved", "BurnedInAnnotation",
    }
)  # fmt: skip
"""The attributes the table does not list that are kept: technical ones needed to show the image.
Every other unlisted attribute is removed (an allow-list: a newer or unknown public attribute may
carry patient data the table does not know about yet)."""


@dataclass(frozen=True)
class Derivative:
    """The de-identified file and what was done to it (counts only, for the audit log)."""

    data: bytes
    frames: int
    masked_regions: int
    skipped_regions: int = 0

    def summary(self) -> dict[str, Any]:
        """Counts for the audit log (no value, text or box)."""
        return {"profile": "basic+clean_pixel", "frames": self.frames, "masked_regions": self.masked_regions,
                "skipped_regions": self.skipped_regions}  # fmt: skip


@cache
def profile() -> dict[int, str]:
    """The Basic Profile table: tag → action code as the standard writes it (``X/Z/D``...)."""
    text = (
        resources.files("sealroom.analysis.local").joinpath("data/dicom_basic_profile.csv").read_text("utf-8")
    )
    table: dict[int, str] = {}
    for row in csv.reader(line for line in text.splitlines() if line and not line.startswith("#")):
        tag, _keyword, action = row
        table[int(tag, 16)] = action
    return table


def resolve(action: str) -> str:
    """One action of a compound code: ``U`` if offered, else ``Z``, else ``D``, else ``X``."""
    options = {part.rstrip("*") for part in action.split("/")}
    for choice in ("U", "Z", "D", "X", "K", "C"):
        if choice in options:
            return "D" if choice == "C" else choice
    raise ValueError(f"unknown de-identification action {action!r}")


def _registered(uid: str) -> bool:
    return UID(uid).name != uid


class _Deidentifier:
    def __init__(self) -> None:
        self.uids: dict[str, str] = {}
        self.table = profile()

    def new_uid(self, value: str) -> str:
        if value not in self.uids:
            self.uids[value] = generate_uid()
        return self.uids[value]

    def apply(self, ds: Dataset) -> None:
        for elem in list(ds):
            tag = int(elem.tag)
            group = elem.tag.group
            # Private elements, overlays, curves and values of unknown VR (UN: their content cannot be
            # cleaned) are removed whatever the table says.
            if elem.tag.is_private or (group & 0xFF00) in (0x5000, 0x6000) or elem.VR == "UN":
                del ds[elem.tag]
                continue
            action = self.table.get(tag)
            code = resolve(action) if action is not None else self._fallback(elem)
            self._act(ds, elem, code)

    def _fallback(self, elem: DataElement) -> str:
        """An attribute the table does not list: UIDs replaced unless registered, the technical
        attributes of ``_KEEP`` kept, everything else removed."""
        if elem.VR == "UI":
            if not elem.value:
                return "X"
            values = list(elem.value) if elem.VM > 1 else [elem.value]
            return "U" if any(not _registered(str(v)) for v in values) else "K"
        return "K" if elem.keyword in _KEEP else "X"

    def _act(self, ds: Dataset, elem: DataElement, code: str) -> None:
        if code == "X":
            del ds[elem.tag]
        elif elem.VR == "SQ":
            if code in ("Z", "D"):
                elem.value = DicomSequence()
            else:  # K, U: keep the sequence, de-identify its items (U* maps the UIDs inside)
                for item in elem.value:
                    self.apply(item)
        elif code == "U":
            if elem.value:
                values = list(elem.value) if elem.VM > 1 else [elem.value]
                mapped = [self.new_uid(str(v)) for v in values]
                elem.value = mapped if len(mapped) > 1 else mapped[0]
        elif code == "Z":
            elem.value = None if elem.VR not in _DUMMY else ""
        elif code == "D":
            elem.value = _DUMMY.get(elem.VR)


def _padded(box: BBox, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    pad = math.ceil(PAD * max(y1 - y0, 1)) + 1
    return max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)


def text_boxes(analysis: AnalysisResult) -> dict[int, list[TextBox]]:
    """Every box where the offline analysis saw text on each page (its text regions, entities and
    fields), with the text read there."""
    boxes: dict[int, list[TextBox]] = {}
    for page in analysis.pages:
        boxes.setdefault(page.index, []).extend(
            TextBox(region.bbox, page.text[region.start : region.end]) for region in page.regions
        )
    for entity in analysis.entities:
        if entity.bbox is not None:
            # Only an entity read in the text is a read; others (a face) are boxes of unknown text.
            text = entity.text if entity.start is not None else None
            boxes.setdefault(entity.page, []).append(TextBox(entity.bbox, text))
    for field in analysis.fields:
        if field.bbox is not None:
            boxes.setdefault(field.page, []).append(TextBox(field.bbox, field.value))
    return boxes


def _skipped(box: TextBox, width: int, height: int) -> bool:
    """Whether a box is not masked: it covers most of the frame and is not a real word."""
    x0, y0, x1, y1 = box.bbox
    area = max(0, min(x1, width) - max(x0, 0)) * max(0, min(y1, height) - max(y0, 0))
    return area > width * height * MAX_UNREAD_AREA and not box.is_word()


def _watermark_band(
    frames: np.ndarray[Any, Any], label: str, rgb: bool, inverted: bool
) -> np.ndarray[Any, Any]:
    """``frames`` with a band added below each, holding ``label`` burned in at full bit depth."""
    count, width = frames.shape[0], frames.shape[2]
    size = max(10, min(32, width // 40))
    font = ImageFont.load_default(size=size)
    lines: list[str] = []
    for word in label.split("  "):
        joined = f"{lines[-1]}  {word}" if lines else word
        if lines and font.getlength(joined) <= width - 2 * size:
            lines[-1] = joined
        else:
            lines.append(word)
    band_height = (len(lines) + 1) * math.ceil(size * 1.5)
    mask = Image.new("L", (width, band_height), 0)
    draw = ImageDraw.Draw(mask)
    for number, line in enumerate(lines):
        draw.text((size, size // 2 + number * math.ceil(size * 1.5)), line, font=font, fill=255)
    ink = np.asarray(mask) > 127
    low, high = frames.min(), frames.max()
    if high <= low:
        high = low + 1 if np.issubdtype(frames.dtype, np.integer) else low + 1.0
    background, text = (high, low) if inverted else (low, high)
    band = np.full((count, band_height, width, *frames.shape[3:]), background, dtype=frames.dtype)
    band[:, ink] = text
    return np.concatenate([frames, band], axis=1)


def deidentify(
    data: bytes,
    boxes: Mapping[int, Sequence[BBox | TextBox]],
    limits: LimitSettings,
    *,
    watermark: str | None = None,
) -> Derivative:
    """The de-identified derivative of a DICOM file, as bytes (Explicit VR Little Endian).

    ``boxes`` are the text boxes per frame (page index) to fill (a bare box is a read of unknown text);
    ``watermark``, when given, is burned into a band added below every frame. Raises
    ``BadImageError`` if the file cannot be decoded.
    """
    header, ds = inspect_dicom(data, limits)
    frames = np.stack(list(decode_frames(ds, header)))
    rgb = header.samples == 3
    inverted = header.photometric == "MONOCHROME1"
    masked = skipped = 0
    for index in range(header.frames):
        frame = frames[index]
        fill = (frame.max() if inverted else frame.min()) if not rgb else 0
        for given in boxes.get(index, ()):
            box = given if isinstance(given, TextBox) else TextBox(given)
            if _skipped(box, header.columns, header.rows):
                skipped += 1
                continue
            x0, y0, x1, y1 = _padded(box.bbox, header.columns, header.rows)
            if x1 > x0 and y1 > y0:
                frame[y0:y1, x0:x1] = fill
                masked += 1
    if watermark:
        frames = _watermark_band(frames, watermark, rgb, inverted)
    photometric = "RGB" if rgb else header.photometric
    bits_stored = 8 if rgb else int(ds.get("BitsStored", header.bits_allocated))
    pixels = frames if header.frames > 1 else frames[0]
    # The pixel data is replaced first (it drops the encapsulation and its attributes), then the
    # header is de-identified, so the UIDs set here are mapped like every other.
    ds.set_pixel_data(np.ascontiguousarray(pixels), photometric, bits_stored, generate_instance_uid=False)
    sop_class = str(ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID", ""))
    _Deidentifier().apply(ds)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = DEID_METHOD
    ds.DeidentificationMethodCodeSequence = DicomSequence(
        [
            _code("113100", "Basic Application Confidentiality Profile"),
            _code("113101", "Clean Pixel Data Option"),
        ]
    )
    # Text may be left where a read was not masked: the derivative must not claim otherwise.
    ds.BurnedInAnnotation = "YES" if skipped else "NO"
    if "SOPInstanceUID" not in ds or not ds.SOPInstanceUID:
        ds.SOPInstanceUID = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.preamble = bytes(128)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return Derivative(out.getvalue(), header.frames, masked, skipped)


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def derivative_pages(data: bytes, analysis: AnalysisResult, limits: LimitSettings) -> list[PageImage]:
    """The pages of the de-identified derivative (frames windowed to 8-bit RGB, as at ingest), for
    sending under the ``redacted`` egress mode. ``analysis`` is the offline analysis of the original."""
    derivative = deidentify(data, text_boxes(analysis), limits)
    return [PageImage(index, page) for index, page in enumerate(decode_dicom(derivative.data, limits))]
