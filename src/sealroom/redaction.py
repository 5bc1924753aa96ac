"""Burn-in redaction: personal data and faces painted out of the pixels before a page leaves.

The regions come from the offline engine's findings (every entity with a pixel box, and every
extracted field holding personal data) plus the faces OpenCV finds. Each is painted solid black on a
copy of the page: never blurred or pixelated, which can be undone or read through. The input images
are left untouched, since other analyses in the session reuse them.

``Redaction.summary`` is what the audit log records: counts only, never a value, text or box.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from sealroom.analysis.local.faces import detect_faces
from sealroom.analysis.models import AnalysisResult, BBox, PageImage
from sealroom.errors import AnalysisError, SealroomError

FACE = "FACE"
AS_FOUND = frozenset({FACE, "PHOTO", "BARCODE"})
"""Entity types found in the pixels rather than read as text: their boxes are painted unpadded."""
INK = (0, 0, 0)
# Padding around a text box, as a share of its height: OCR boxes hug the glyphs (or are estimated
# from the line's width), so without it anti-aliased edges and descenders would survive, and a
# misplaced word boundary could leave the first or last character readable.
PAD_X = 0.4
PAD_Y = 0.2


@dataclass(frozen=True)
class Region:
    """One area painted out: ``page`` is the page index, ``kind`` the entity type or ``FACE``."""

    page: int
    bbox: BBox
    kind: str


@dataclass(frozen=True)
class Redaction:
    """Redacted copies of the pages and the regions painted on them."""

    pages: list[PageImage]
    regions: list[Region]
    unplaced: int = 0
    """Findings with no pixel box (read in the text but not located on the page): not painted."""

    def summary(self) -> dict[str, Any]:
        """Counts for the audit log: regions in all, faces, regions by kind, pages (no values)."""
        by_type = Counter(region.kind for region in self.regions)
        return {
            "regions": len(self.regions),
            "faces": by_type.get(FACE, 0),
            "by_type": dict(sorted(by_type.items())),
            "pages": len(self.pages),
            "pages_with_regions": len({region.page for region in self.regions}),
            "unplaced": self.unplaced,
        }


def _pad_text_box(box: BBox, width: int, height: int) -> BBox:
    """``box`` grown in proportion to its height (text size), clamped to the page."""
    x0, y0, x1, y1 = box
    h = max(y1 - y0, 1)
    dx, dy = math.ceil(PAD_X * h) + 1, math.ceil(PAD_Y * h) + 1
    return (max(0, x0 - dx), max(0, y0 - dy), min(width, x1 + dx), min(height, y1 + dy))


def _clamp(box: BBox, width: int, height: int) -> BBox:
    return (max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3]))


def _empty(box: BBox) -> bool:
    return box[2] <= box[0] or box[3] <= box[1]


def _inside(inner: BBox, outer: BBox) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def plan_regions(
    pages: Sequence[PageImage],
    local_result: AnalysisResult,
    faces_by_page: Mapping[int, Sequence[BBox]],
) -> list[Region]:
    """The regions to paint: each entity with a box (and each personal-data field the entities do
    not already cover), padded in proportion to its text height if it is text; each face, photo
    and barcode box as given. Boxes are
    clamped to their page; findings on pages not in ``pages`` are ignored."""
    sizes = {page.index: page.image.size for page in pages}
    regions: list[Region] = []
    seen: set[Region] = set()

    def add(page: int, box: BBox, kind: str, *, pad: bool) -> None:
        width, height = sizes[page]
        grown = _pad_text_box(box, width, height) if pad else _clamp(box, width, height)
        region = Region(page, grown, kind)
        if not _empty(grown) and region not in seen:
            seen.add(region)
            regions.append(region)

    for entity in local_result.entities:
        if entity.bbox is not None and entity.page in sizes:
            # Text is padded around its glyphs; a region found in the pixels (a face, the portrait
            # photo, a barcode) already has its margin and is painted as found.
            for box in entity.boxes or [entity.bbox]:  # a multi-row entity: each row, not the gaps
                add(entity.page, box, entity.type, pad=entity.type not in AS_FOUND)
    for field in local_result.fields:
        if field.entity_type is None or field.bbox is None or field.page not in sizes:
            continue
        padded = _pad_text_box(field.bbox, *sizes[field.page])
        if not any(r.page == field.page and _inside(padded, r.bbox) for r in regions):
            add(field.page, field.bbox, field.entity_type, pad=True)
    for page_index, boxes in faces_by_page.items():
        if page_index in sizes:
            for box in boxes:
                add(page_index, box, FACE, pad=False)
    return regions


def burn_in(pages: Sequence[PageImage], regions: Sequence[Region]) -> list[PageImage]:
    """New RGB copies of ``pages`` with every region filled solid black (inputs are not changed)."""
    out: list[PageImage] = []
    for page in pages:
        image: Image.Image = page.image.convert("RGB") if page.image.mode != "RGB" else page.image.copy()
        for region in regions:
            if region.page == page.index:
                image.paste(INK, region.bbox)  # a box is end-exclusive, as ``paste`` takes it
        out.append(PageImage(page.index, image))
    return out


def redact(pages: Sequence[PageImage], local_result: AnalysisResult) -> Redaction:
    """Find the faces on ``pages``, plan the regions from them and ``local_result`` (the offline
    engine's analysis of the same pages) and paint them out. Raises ``AnalysisError`` (reason
    ``redaction_failed``) if any step fails, so that nothing unredacted is sent."""
    try:
        faces = {page.index: detect_faces(page.image) for page in pages}
        regions = plan_regions(pages, local_result, faces)
        redacted = burn_in(pages, regions)
    except SealroomError:
        raise
    except Exception as exc:
        raise AnalysisError("the pages could not be redacted, so nothing was sent",
                            reason="redaction_failed") from exc
    indexes = {page.index for page in pages}
    unplaced = sum(1 for e in local_result.entities if e.bbox is None and e.page in indexes)
    return Redaction(pages=redacted, regions=regions, unplaced=unplaced)
