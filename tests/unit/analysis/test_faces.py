"""Offline face detection (OpenCV Haar cascades) on a real photograph and on document pages."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pypdfium2
import pytest
from PIL import Image, ImageOps

from sealroom.analysis.local.faces import detect_faces
from sealroom.analysis.models import BBox
from sealroom.demo.documents import render_bank_statement, render_id_card, render_lab_report

FACE_PHOTO = Path(__file__).parents[2] / "data" / "face_public_domain.jpg"
# Where the face sits in the fixture photo (hair to chin), measured by eye.
FACE_IN_PHOTO: BBox = (45, 0, 180, 180)
# The demo ID card's photo box, where the face is pasted.
CARD_PHOTO_AT = (35, 140)
CARD_PHOTO_SIZE = (250, 273)


@pytest.fixture(scope="module")
def face() -> Image.Image:
    with Image.open(FACE_PHOTO) as image:
        return image.convert("RGB")


def id_card_with(face: Image.Image) -> Image.Image:
    """The demo ID card with the photograph pasted over its silhouette."""
    with Image.open(io.BytesIO(render_id_card())) as card:
        card = card.convert("RGB")
    card.paste(face.resize(CARD_PHOTO_SIZE, Image.Resampling.LANCZOS), CARD_PHOTO_AT)
    return card


def covered(inner: BBox, outer: BBox) -> float:
    """Share of ``inner`` inside ``outer``."""
    w = min(inner[2], outer[2]) - max(inner[0], outer[0])
    h = min(inner[3], outer[3]) - max(inner[1], outer[1])
    return max(w, 0) * max(h, 0) / ((inner[2] - inner[0]) * (inner[3] - inner[1]))


def test_the_face_in_a_photograph_is_found_and_covered_from_hair_to_chin(face: Image.Image) -> None:
    boxes = detect_faces(face)
    assert len(boxes) == 1
    assert covered(FACE_IN_PHOTO, boxes[0]) > 0.95
    x0, y0, x1, y1 = boxes[0]
    assert 0 <= x0 < x1 <= face.width and 0 <= y0 < y1 <= face.height


def test_a_mirrored_or_grey_or_slightly_tilted_face_is_found_too(face: Image.Image) -> None:
    for variant in (ImageOps.mirror(face), ImageOps.grayscale(face), face.rotate(8, fillcolor="white")):
        assert len(detect_faces(variant)) == 1


def test_the_photo_on_an_id_card_is_found_where_it_was_pasted(face: Image.Image) -> None:
    card = id_card_with(face)
    boxes = detect_faces(card)
    x, y = CARD_PHOTO_AT
    scale = CARD_PHOTO_SIZE[0] / face.width
    expected = (x + int(FACE_IN_PHOTO[0] * scale), y + int(FACE_IN_PHOTO[1] * scale),
                x + int(FACE_IN_PHOTO[2] * scale), y + int(FACE_IN_PHOTO[3] * scale))
    assert len(boxes) == 1
    assert covered(expected, boxes[0]) > 0.9


def test_two_faces_on_a_page_give_two_boxes(face: Image.Image) -> None:
    page = Image.new("RGB", (900, 400), "white")
    page.paste(face, (20, 60))
    page.paste(face, (600, 100))
    boxes = detect_faces(page)
    assert len(boxes) == 2
    assert boxes[0][2] <= 450 <= boxes[1][0] or boxes[1][2] <= 450 <= boxes[0][0]


def test_a_face_at_the_corner_gives_a_box_clamped_to_the_image(face: Image.Image) -> None:
    page = Image.new("RGB", (600, 500), "white")
    page.paste(face, (-30, -10))  # padding around the head would reach past the top-left corner
    (box,) = detect_faces(page)
    assert box[0] == 0 and box[1] == 0 and box[2] <= 600 and box[3] <= 500


def test_no_faces_on_the_demo_lab_report() -> None:
    with Image.open(io.BytesIO(render_lab_report())) as page:
        assert detect_faces(page.convert("RGB")) == []


def test_no_faces_on_either_page_of_the_demo_bank_statement() -> None:
    document = pypdfium2.PdfDocument(render_bank_statement())
    try:
        pages = [page.render(scale=150 / 72).to_pil().convert("RGB") for page in document]
    finally:
        document.close()
    assert [detect_faces(page) for page in pages] == [[], []]


def test_no_faces_on_the_demo_id_card_silhouette_or_on_blank_or_tiny_images() -> None:
    with Image.open(io.BytesIO(render_id_card())) as card:
        assert detect_faces(card.convert("RGB")) == []
    assert detect_faces(Image.new("RGB", (800, 600), "white")) == []
    assert detect_faces(Image.new("RGB", (10, 3000), "black")) == []


def test_threads_may_detect_at_the_same_time(face: Image.Image) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(detect_faces, [face] * 6))
    assert all(result == results[0] and len(result) == 1 for result in results)
