"""The real engine (RapidOCR models) on a synthetic document rendered with Pillow."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont

from sealroom.analysis.local.engine import LocalEngine
from sealroom.analysis.models import BBox, PageImage

LINES = [
    ("LABORATORY REPORT", None),
    ("Patient Name: Jane Doe", "PERSON"),
    ("SSN: 536-22-1234", "SSN"),
    ("Card: 4111 1111 1111 1111", "CREDIT_CARD"),
    ("Ordering Physician: Robert Smith, MD", "PERSON"),
]


def _render() -> tuple[Image.Image, dict[str, list[BBox]]]:
    img = Image.new("RGB", (1000, 420), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=28)
    where: dict[str, list[BBox]] = {}
    y = 30
    for text, etype in LINES:
        draw.text((40, y), text, fill="black", font=font)
        if etype:
            value = text.split(": ", 1)[1].split(",")[0]
            x0 = 40 + int(draw.textlength(text[: text.index(value)], font=font))
            x1 = x0 + int(draw.textlength(value, font=font))
            where.setdefault(etype, []).append((x0, y, x1, y + 30))
        y += 70
    return img, where


def _overlap(a: BBox, b: BBox) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0) / ((b[2] - b[0]) * (b[3] - b[1]))


@pytest.mark.slow
def test_local_engine_finds_and_boxes_entities() -> None:
    img, where = _render()
    result = LocalEngine().analyze([PageImage(0, img)])
    assert "Jane Doe" in result.pages[0].text
    assert result.document_type == "clinical"
    for etype, boxes in where.items():
        for box in boxes:
            hits = [e for e in result.entities if e.type == etype and e.bbox and _overlap(e.bbox, box) > 0.6]
            assert hits, f"{etype} at {box} not found in {result.entities}"
    assert {f.name: f.value for f in result.fields}["Patient Name"] == "Jane Doe"
    assert result.fields and all(f.page == 0 for f in result.fields)
