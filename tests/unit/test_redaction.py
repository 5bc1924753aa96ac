"""Burn-in redaction: which regions are painted, how, and what the audit summary says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sealroom.redaction as redaction_module
from sealroom.analysis.models import AnalysisResult, BBox, Entity, ExtractedField, PageImage
from sealroom.errors import AnalysisError
from sealroom.redaction import FACE, Region, burn_in, plan_regions, redact

FACE_PHOTO = Path(__file__).parents[1] / "data" / "face_public_domain.jpg"


def result(entities: list[Entity], fields: list[ExtractedField] | None = None) -> AnalysisResult:
    return AnalysisResult(engine="local", document_type="clinical", document_type_confidence=0.9,
                          entities=entities, fields=fields or [])


def entity(etype: str, text: str, bbox: BBox | None, page: int = 0) -> Entity:
    return Entity(etype, text, page, bbox, 0.9)


def page(index: int = 0, size: tuple[int, int] = (400, 300), colour: str = "white") -> PageImage:
    return PageImage(index, Image.new("RGB", size, colour))


def black(image: Image.Image, box: BBox) -> bool:
    pixels = np.asarray(image.convert("RGB"))[box[1]:box[3], box[0]:box[2]]
    return pixels.size > 0 and not pixels.any()


def test_entity_boxes_are_padded_in_proportion_to_the_text_height() -> None:
    small = entity("SSN", "536-22-1234", (100, 100, 200, 110))  # 10 px high
    large = entity("PERSON", "Jane Doe", (100, 150, 200, 190))  # 40 px high
    (a, b) = plan_regions([page()], result([small, large]), {})
    assert a.kind == "SSN" and b.kind == "PERSON"
    pad_small, pad_large = 100 - a.bbox[0], 100 - b.bbox[0]
    assert 2 <= pad_small < pad_large and pad_large >= 10
    assert a.bbox[1] < 100 and a.bbox[3] > 110 and b.bbox[1] < 150 and b.bbox[3] > 190


def test_boxes_are_clamped_to_the_page_and_empty_ones_dropped() -> None:
    at_edge = entity("PERSON", "Jane", (0, 0, 50, 20))
    off_page = entity("PERSON", "Doe", (500, 400, 520, 410))
    (region,) = plan_regions([page()], result([at_edge, off_page]), {})
    assert region.bbox[:2] == (0, 0) and region.bbox[2] > 50


def test_findings_without_a_box_or_on_other_pages_are_not_painted() -> None:
    entities = [entity("PERSON", "Jane", None), entity("PERSON", "Doe", (10, 10, 50, 30), page=7)]
    assert plan_regions([page()], result(entities), {}) == []


def test_faces_are_painted_as_given_and_counted_as_faces() -> None:
    regions = plan_regions([page(0), page(1)], result([]), {1: [(10, 20, 110, 140)], 5: [(0, 0, 9, 9)]})
    assert regions == [Region(1, (10, 20, 110, 140), FACE)]


def test_a_personal_data_field_the_entities_missed_is_painted_but_not_twice() -> None:
    named = entity("PERSON", "Jane Doe", (100, 50, 200, 70))
    fields = [
        ExtractedField("Patient Name", "Jane Doe", 0, (100, 50, 200, 70), "PERSON"),  # already covered
        ExtractedField("MRN", "A-1234567", 0, (100, 100, 190, 120), "MRN"),  # not found as an entity
        ExtractedField("Sex", "F", 0, (100, 150, 110, 170), None),  # not personal data
    ]
    regions = plan_regions([page()], result([named], fields), {})
    assert [r.kind for r in regions] == ["PERSON", "MRN"]


def test_burn_in_paints_solid_black_on_new_images_and_leaves_the_inputs_alone() -> None:
    pages = [page(0, colour="white"), page(1, colour="yellow")]
    before = [p.image.tobytes() for p in pages]
    regions = [Region(0, (10, 10, 60, 40), "PERSON"), Region(0, (300, 200, 400, 300), FACE)]
    out = burn_in(pages, regions)
    assert [p.index for p in out] == [0, 1]
    assert all(o.image is not p.image for o, p in zip(out, pages, strict=True))
    assert [p.image.tobytes() for p in pages] == before
    assert black(out[0].image, (10, 10, 60, 40)) and black(out[0].image, (300, 200, 400, 300))
    # End-exclusive: the pixel just outside each box keeps its colour.
    assert out[0].image.getpixel((60, 39)) == (255, 255, 255)
    assert out[0].image.getpixel((9, 10)) == (255, 255, 255)
    assert out[1].image.tobytes() == before[1]
    assert int((np.asarray(out[0].image) == 0).all(axis=2).sum()) == 50 * 30 + 100 * 100


def test_burn_in_gives_rgb_for_grey_or_transparent_pages() -> None:
    grey = PageImage(0, Image.new("L", (50, 50), 200))
    rgba = PageImage(1, Image.new("RGBA", (50, 50), (10, 20, 30, 255)))
    out = burn_in([grey, rgba], [Region(0, (0, 0, 10, 10), "X"), Region(1, (0, 0, 10, 10), "X")])
    assert all(p.image.mode == "RGB" and black(p.image, (0, 0, 10, 10)) for p in out)


def test_redact_paints_the_face_and_the_text_findings_and_summarises_counts_only() -> None:
    with Image.open(FACE_PHOTO) as photo:
        face = photo.convert("RGB")
    card = Image.new("RGB", (700, 320), (236, 240, 246))
    card.paste(face, (20, 40))
    name_box = (300, 60, 520, 90)
    card.paste((0, 0, 0), (300, 70, 520, 80))  # stands in for the printed name
    findings = result([entity("PERSON", "Eleanor Whitfield", name_box),
                       entity("DATE_OF_BIRTH", "03/17/1984", (300, 120, 420, 145)),
                       entity("PERSON", "Whitfield", None)])
    pages = [PageImage(0, card)]

    red = redact(pages, findings)

    faces = [r for r in red.regions if r.kind == FACE]
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].bbox
    assert x0 <= 20 + 45 and y0 <= 40 + 5 and x1 >= 20 + 180 and y1 >= 40 + 180  # hair to chin
    assert black(red.pages[0].image, (20 + 45, 40 + 5, 20 + 180, 40 + 180))
    assert black(red.pages[0].image, name_box) and black(red.pages[0].image, (300, 120, 420, 145))
    assert pages[0].image is card and np.asarray(card)[100, 100].any()  # the input keeps its face

    summary = red.summary()
    assert summary == {"regions": 3, "faces": 1, "by_type": {"DATE_OF_BIRTH": 1, "FACE": 1, "PERSON": 1},
                       "pages": 1, "pages_with_regions": 1, "unplaced": 1}
    text = json.dumps(summary)
    assert "Whitfield" not in text and "1984" not in text and "300" not in text


def test_redact_on_a_page_with_nothing_to_hide_returns_an_identical_copy() -> None:
    pages = [page(0, colour="white")]
    red = redact(pages, result([]))
    assert red.regions == [] and red.summary()["regions"] == 0
    assert red.pages[0].image is not pages[0].image
    assert red.pages[0].image.tobytes() == pages[0].image.tobytes()


def test_when_face_detection_fails_redact_raises_so_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(image: Image.Image) -> list[BBox]:
        raise RuntimeError("model file unreadable")

    monkeypatch.setattr(redaction_module, "detect_faces", broken)
    with pytest.raises(AnalysisError) as caught:
        redact([page()], result([]))
    assert caught.value.reason == "redaction_failed"
