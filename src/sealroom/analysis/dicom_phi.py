"""Personal data in a DICOM header, reported as entities like those found in the pixels.

Every element is walked, sequences included (recursively), and an attribute that carries PHI
becomes an ``Entity`` with ``page`` 0, no ``bbox`` (it is in the header, not the pixels) and
``source`` naming the attribute (``DICOM header (0010,0010) PatientName``). Values are the clear
text, like every engine finding; ``sealroom.masking`` masks them for roles without
``pii:view_unmasked``. Private elements are reported as ``DICOM_PRIVATE`` with the tag only: their
meaning is vendor-specific, so their value is never shown, masked or not.

What counts as PHI, beyond the attributes named in ``_BY_KEYWORD``: every person name (VR ``PN``),
every date, time and date-time (``DA``, ``TM``, ``DT``), and every UID that is not a registered
DICOM UID (SOP class and transfer syntax UIDs are registered; study, series and instance UIDs are
generated per patient and link the image to records elsewhere).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Final

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID

from sealroom.analysis.models import AnalysisResult, Entity
from sealroom.config import LimitSettings
from sealroom.vault.dicom import MEDIA_TYPE, read_dataset

SOURCE_PREFIX: Final = "DICOM header"
PRIVATE: Final = "DICOM_PRIVATE"
MIN_BURNED_LENGTH: Final = 4
"""Shorter header values (a sex code, an age) are not searched for in the pixels' text."""
MIN_NAME_PART: Final = 3
"""A family or given name on its own is searched for when it has at least this many letters."""

# Entity type names follow those of the offline recognisers (PERSON, MRN, DATE_OF_BIRTH, DATE,
# ADDRESS, PHONE, ID_NUMBER); the DICOM-only ones are named so ``masking._kind`` picks the right
# style (``...NUMBER`` and ``..._ID`` mask as identifiers, ``..._UID`` and ``INSTITUTION`` fully).
_BY_KEYWORD: Final[dict[str, str]] = {
    "PatientID": "MRN",
    "OtherPatientIDs": "MRN",
    "MedicalRecordLocator": "MRN",
    "IssuerOfPatientID": "INSTITUTION",
    "PatientBirthDate": "DATE_OF_BIRTH",
    "PatientBirthTime": "DATE_OF_BIRTH",
    "PatientBirthDateInAlternativeCalendar": "DATE_OF_BIRTH",
    "PatientDeathDateInAlternativeCalendar": "DATE",
    "AccessionNumber": "ACCESSION_NUMBER",
    "StudyID": "ID_NUMBER",
    "AdmissionID": "ID_NUMBER",
    "ServiceEpisodeID": "ID_NUMBER",
    "RequestedProcedureID": "ID_NUMBER",
    "PerformedProcedureStepID": "ID_NUMBER",
    "ScheduledProcedureStepID": "ID_NUMBER",
    "PlacerOrderNumberImagingServiceRequest": "ID_NUMBER",
    "FillerOrderNumberImagingServiceRequest": "ID_NUMBER",
    "ClinicalTrialSubjectID": "ID_NUMBER",
    "InsurancePlanIdentification": "HEALTH_PLAN_ID",
    "DeviceSerialNumber": "DEVICE_SERIAL_NUMBER",
    "InstitutionName": "INSTITUTION",
    "InstitutionalDepartmentName": "INSTITUTION",
    "InstitutionAddress": "ADDRESS",
    "PatientAddress": "ADDRESS",
    "ReferringPhysicianAddress": "ADDRESS",
    "PersonAddress": "ADDRESS",
    "PatientTelephoneNumbers": "PHONE",
    "ReferringPhysicianTelephoneNumbers": "PHONE",
    "PersonTelephoneNumbers": "PHONE",
    "OrderCallbackPhoneNumber": "PHONE",
    "PatientAge": "AGE",
    "StationName": "DEVICE_ID",
    "PatientComments": "FREE_TEXT",
    "AdditionalPatientHistory": "FREE_TEXT",
    "ImageComments": "FREE_TEXT",
}
_BY_VR: Final[dict[str, str]] = {"PN": "PERSON", "DA": "DATE", "DT": "DATE", "TM": "TIME", "UI": "DICOM_UID"}


def _elements(ds: Dataset) -> Iterator[DataElement]:
    """Every element of ``ds`` and of the items of its sequences, depth first, file meta included."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        yield from meta
    yield from ds.iterall()


def _values(elem: DataElement) -> list[str]:
    value = elem.value
    if value is None or value == "":
        return []
    items = list(value) if elem.VM > 1 else [value]
    return [text for text in (str(item).strip() for item in items) if text]


def _entity_type(elem: DataElement) -> str | None:
    kind = _BY_KEYWORD.get(elem.keyword)
    if kind is not None:
        return kind
    kind = _BY_VR.get(elem.VR)
    if kind == "DICOM_UID":
        values = _values(elem)
        # A registered UID (a SOP class, a transfer syntax) names a kind of object, nobody's data.
        return kind if any(UID(v).name == v for v in values) else None  # unregistered: named by itself
    return kind


def header_entities(ds: Dataset) -> list[Entity]:
    """The PHI of a parsed DICOM data set as entities (``page`` 0, no box, attribute in ``source``)."""
    found: list[Entity] = []
    for elem in _elements(ds):
        tag = f"({elem.tag.group:04X},{elem.tag.element:04X})"
        if elem.tag.is_private:
            if not elem.tag.is_private_creator and elem.VR != "SQ":
                found.append(Entity(PRIVATE, f"private element {tag}", 0, None, 1.0,
                                    source=f"{SOURCE_PREFIX} {tag} private"))  # fmt: skip
            continue
        if elem.VR == "SQ":
            continue  # its items' elements come next in the walk
        kind = _entity_type(elem)
        if kind is None:
            continue
        for value in _values(elem):
            found.append(Entity(kind, value, 0, None, 1.0, source=f"{SOURCE_PREFIX} {tag} {elem.keyword}"))
    return found


def _name_variants(value: str) -> set[str]:
    """How a Person Name (PS3.5 6.2: ``=``-separated alphabetic / ideographic / phonetic groups, each
    ``family^given^middle^prefix^suffix``) may be written: family and given names in both orders,
    with and without middle names, with and without prefix and suffix, and each family or given name
    part alone when it has at least ``MIN_NAME_PART`` letters."""
    out: set[str] = set()
    for group in value.split("="):
        family, given, middle, prefix, suffix = ([c.strip() for c in group.split("^")] + [""] * 5)[:5]
        parts = [p for p in (family, given, middle, prefix, suffix) if p]
        if not parts:
            continue
        out |= {group.strip(), " ".join(parts)}
        if family and given:
            firsts = {given, f"{given} {middle}".strip()}
            for first in firsts:
                out |= {f"{family} {first}", f"{first} {family}", f"{family}, {first}"}
                if prefix:
                    out.add(f"{prefix} {first} {family}")
                if suffix:
                    out |= {f"{first} {family} {suffix}", f"{first} {family}, {suffix}"}
        for name in (family, given):
            for part in {name, *name.replace("-", " ").split()}:
                if sum(ch.isalpha() for ch in part) >= MIN_NAME_PART:
                    out.add(part)
    return out


def _variants(entity: Entity) -> set[str]:
    """How a header value may be written when burned into the pixels."""
    value = entity.text
    if entity.type == "PERSON":
        return {v for v in _name_variants(value) if sum(ch.isalnum() for ch in v) >= MIN_NAME_PART}
    out = {value}
    digits = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", value)
    if digits and entity.type in ("DATE", "DATE_OF_BIRTH"):
        y, m, d = digits.groups()
        out |= {f"{y}-{m}-{d}", f"{d}/{m}/{y}", f"{m}/{d}/{y}", f"{d}.{m}.{y}", f"{y}/{m}/{d}"}
    return {variant for variant in out if len(variant) >= MIN_BURNED_LENGTH}


def _pattern(variant: str) -> re.Pattern[str]:
    """``variant`` as a case-insensitive whole-word pattern, tolerant of extra spaces and commas
    between its words."""
    words = [re.escape(word) for word in re.split(r"[\s,]+", variant.strip()) if word]
    return re.compile(r"(?<!\w)" + r"[\s,]+".join(words) + r"(?!\w)", re.IGNORECASE)


def burned_in(result: AnalysisResult, header: list[Entity]) -> list[Entity]:
    """Header values found again in the OCR text of the frames, as entities with the box of the
    text region they were read in (burned-in annotation repeats the header: name, ID, dates)."""
    found: list[Entity] = []
    taken = [(e.page, e.start, e.end) for e in result.entities if e.start is not None and e.end is not None]
    for entity in header:
        if entity.type in (PRIVATE, "DICOM_UID"):
            continue
        keyword = entity.source.rsplit(" ", 1)[-1]
        for variant in sorted(_variants(entity), key=len, reverse=True):
            pattern = _pattern(variant)
            for page in result.pages:
                for match in pattern.finditer(page.text):
                    start, end = match.span()
                    if any(p == page.index and s < end and start < e for p, s, e in taken):
                        continue
                    boxes = [r.bbox for r in page.regions if r.start < end and start < r.end]
                    box = (
                        (
                            min(b[0] for b in boxes),
                            min(b[1] for b in boxes),
                            max(b[2] for b in boxes),
                            max(b[3] for b in boxes),
                        )
                        if boxes
                        else None
                    )
                    taken.append((page.index, start, end))
                    found.append(Entity(entity.type, match.group(0), page.index, box, 0.95, start, end,
                                        source=f"{SOURCE_PREFIX} value burned in ({keyword})"))  # fmt: skip
    return found


def is_dicom(media_type: str) -> bool:
    """Whether an image of ``media_type`` is DICOM."""
    return media_type == MEDIA_TYPE


def with_header_phi(
    result: AnalysisResult,
    media_type: str,
    plaintext: bytes | bytearray,
    limits: LimitSettings | None = None,
) -> AnalysisResult:
    """``result`` as delivered for an image: for DICOM a copy with the header's PHI entities added
    and their burned-in occurrences (the cached result, which redaction and exports reuse, is not
    changed); otherwise ``result``."""
    if not is_dicom(media_type):
        return result
    entities = header_entities(read_dataset(bytes(plaintext), pixels=False, limits=limits))
    return replace(result, entities=[*result.entities, *burned_in(result, entities), *entities])
