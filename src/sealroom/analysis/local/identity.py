"""Identity-document findings of one page: MRZ, barcodes (AAMVA), faces and the portrait photo.

``page_findings`` is the offline engine's one hook: it returns entities and fields to add to the
page's text findings, and whether the page is certainly an identity document (a parsed MRZ or an
AAMVA barcode), which makes the whole document ``identity``.

Portrait photo heuristic: an ICAO portrait is 35 x 45 mm (width:height 7:9) and the head, crown to
chin, fills 70-80 % of its height, centred, with a little room above the hair. The face detector's
box already spans hair to chin, so the photo is taken as a 7:9 region ``PHOTO_HEAD_SHARE``-times
taller than that box, centred on it horizontally, starting ``PHOTO_TOP_MARGIN`` of its height above
the box (the rest lies below: neck and shoulders), never narrower than the box itself, clamped to
the page. It is reported on identity pages only; on any other page a face is only a ``FACE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from sealroom.analysis.local import barcodes, mrz
from sealroom.analysis.local.classify import classify
from sealroom.analysis.local.layout import PageLayout
from sealroom.analysis.local.mapping import place_span
from sealroom.analysis.models import BBox, Entity, ExtractedField

PHOTO_HEAD_SHARE = 0.72
"""Share of the portrait's height the head (detector box, hair to chin) is taken to fill."""
PHOTO_ASPECT = 7 / 9
PHOTO_TOP_MARGIN = 0.08
MRZ_SOURCE = "SealroomMrzParser"
BARCODE_SOURCE = "SealroomBarcodeReader"
AAMVA_SOURCE = "SealroomAamvaParser"
FACE_SOURCE = "SealroomFaceDetector"
PHOTO_SOURCE = "SealroomPortraitRegion"


@dataclass
class IdentityFindings:
    """What one page adds: entities, fields, and whether it is certainly an identity document."""

    entities: list[Entity] = field(default_factory=list)
    fields: list[ExtractedField] = field(default_factory=list)
    identity: bool = False


def _box(layout: PageLayout, start: int, end: int) -> BBox | None:
    # Text boxes are in the pixels the OCR read (turned, deskewed, scaled): map back to the page.
    placed = place_span(layout, start, end)
    return placed.bbox if placed is not None else None


def mrz_findings(page: int, layout: PageLayout) -> IdentityFindings:
    """Entities (the zone as ``MRZ``, the holder's name, number, birth date, optional data) and
    ``mrz_*`` fields of every MRZ in the page text; each carries the zone's check-digit verdict."""
    out = IdentityFindings()
    for zone in mrz.read_zones(layout.text):
        data = zone.data
        out.identity = True
        start, end = zone.line_spans[0][0], zone.line_spans[-1][1]
        zone_box = _box(layout, start, end)
        confidence = 0.99 if data.valid else 0.7
        out.entities.append(Entity("MRZ", layout.text[start:end], page, zone_box, confidence, start, end,
                                   MRZ_SOURCE, valid=data.valid))
        for name, entity_type in (("name", "PERSON"), ("document_number", "ID_NUMBER"),
                                  ("birth_date", "DATE_OF_BIRTH"), ("optional_data", "ID_NUMBER"),
                                  ("optional_data_2", "ID_NUMBER")):
            span = zone.source_span(name)
            if span is not None:
                out.entities.append(Entity(entity_type, layout.text[span[0]:span[1]], page,
                                           _box(layout, *span), confidence, span[0], span[1], MRZ_SOURCE,
                                           valid=data.valid))
        values: list[tuple[str, str, str | None]] = [
            ("format", data.format, None), ("document_type", data.document_type, None),
            ("issuing_state", data.issuing_state, None), ("surname", data.surname, "PERSON"),
            ("given_names", data.given_names, "PERSON"),
            ("document_number", data.document_number, "ID_NUMBER"),
            ("nationality", data.nationality, "NATIONALITY"),
            ("birth_date", data.birth_date_iso() or data.birth_date, "DATE_OF_BIRTH"),
            ("sex", data.sex, "PHYSICAL_DESCRIPTION"),
            ("expiry_date", data.expiry_date_iso() or data.expiry_date, None),
            ("optional_data", data.optional_data, "ID_NUMBER"),
            ("valid", "true" if data.valid else "false", None),
            ("failed_checks", ", ".join(data.failed_checks), None),
        ]
        out.fields += [ExtractedField(f"mrz_{name}", value, page, zone_box, entity_type)
                       for name, value, entity_type in values if value]
    return out


def barcode_findings(page: int, image: Image.Image) -> IdentityFindings:
    """A ``BARCODE`` entity per barcode; for an AAMVA payload also the holder's data as entities and
    ``aamva_*`` fields, all placed at the barcode (their values are not in the page text)."""
    out = IdentityFindings()
    for code in barcodes.read_barcodes(image):
        out.entities.append(Entity("BARCODE", "", page, code.bbox, 0.99, source=BARCODE_SOURCE))
        out.fields.append(ExtractedField("barcode_format", code.format, page, code.bbox))
        record = barcodes.parse_aamva(code.payload) if code.format == "PDF417" else None
        if record is None:
            continue
        out.identity = True
        people = [("PERSON", record.full_name()), ("ADDRESS", record.address())]
        for entity_type, value in people + [
            (entity_type, value) for name, value, entity_type in record.fields()
            if entity_type in ("DATE_OF_BIRTH", "ID_NUMBER")
        ]:
            if value:
                out.entities.append(Entity(entity_type, value, page, code.bbox, 0.99, source=AAMVA_SOURCE))
        header = [("document", record.subfile, None), ("issuer_iin", record.iin, None),
                  ("version", str(record.version), None)]
        out.fields += [ExtractedField(f"aamva_{name}", value, page, code.bbox, entity_type)
                       for name, value, entity_type in header + record.fields()]
    return out


def photo_region(face: BBox, width: int, height: int) -> BBox:
    """The portrait photo around a face box (see the module docstring), clamped to the page."""
    x0, y0, x1, y1 = face
    photo_h = (y1 - y0) / PHOTO_HEAD_SHARE
    photo_w = max(photo_h * PHOTO_ASPECT, x1 - x0)
    cx = (x0 + x1) / 2
    top = y0 - PHOTO_TOP_MARGIN * photo_h
    return (max(0, int(cx - photo_w / 2)), max(0, int(top)), min(width, int(cx + photo_w / 2) + 1),
            min(height, int(top + photo_h) + 1))


def face_findings(page: int, image: Image.Image, identity: bool) -> list[Entity]:
    """A ``FACE`` entity per face; on an identity page also a ``PHOTO`` entity for its portrait."""
    from sealroom.analysis.local.faces import detect_faces  # OpenCV loads only when needed

    out = []
    for box in detect_faces(image):
        out.append(Entity("FACE", "", page, box, 0.9, source=FACE_SOURCE))
        if identity:
            photo = photo_region(box, *image.size)
            out.append(Entity("PHOTO", "", page, photo, 0.8, source=PHOTO_SOURCE))
    return out


def page_findings(
    page: int, layout: PageLayout, image: Image.Image | None, text_entity_types: list[str]
) -> IdentityFindings:
    """Everything this module finds on one page. Without ``image`` (text-only analysis) only the MRZ
    is read. ``text_entity_types``: the types already found in the page text (to judge whether the
    page is an identity document when neither an MRZ nor an AAMVA barcode says so)."""
    out = mrz_findings(page, layout)
    if image is None:
        return out
    codes = barcode_findings(page, image)
    out.entities += codes.entities
    out.fields += codes.fields
    out.identity = out.identity or codes.identity
    identity = out.identity or classify(layout.text, text_entity_types)[0] == "identity"
    out.entities += face_findings(page, image, identity)
    return out


def merge(entities: list[Entity], found: IdentityFindings, page: int) -> list[Entity]:
    """``entities`` plus ``found``'s, without the text recogniser's ``MRZ`` pieces inside a parsed
    zone (the parsed zone replaces them)."""
    zones = [(e.start, e.end) for e in found.entities if e.type == "MRZ" and e.start is not None]
    kept = [
        e for e in entities
        if not (e.page == page and e.type == "MRZ" and e.start is not None and e.end is not None
                and any(s is not None and z is not None and s <= e.start and e.end <= z for s, z in zones))
    ]
    return kept + found.entities


def add_findings(
    indexes: Sequence[int],
    layouts: Sequence[PageLayout],
    images: Sequence[Image.Image] | None,
    entities: list[Entity],
    fields: list[ExtractedField],
) -> tuple[list[Entity], list[ExtractedField], bool]:
    """The document's entities and fields with every page's identity findings added, and whether
    any page is certainly an identity document. ``images`` is ``None`` for text-only analysis."""
    entities, fields = list(entities), list(fields)
    certain = False
    for position, (page, layout) in enumerate(zip(indexes, layouts, strict=True)):
        image = images[position] if images is not None else None
        found = page_findings(page, layout, image, [e.type for e in entities if e.page == page])
        entities = merge(entities, found, page)
        fields += found.fields
        certain = certain or found.identity
    return entities, fields, certain
