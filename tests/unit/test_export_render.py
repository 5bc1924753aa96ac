"""Export rendering: the watermark band and diagonal, black boxes kept black, nothing but pixels encoded."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw

from sealroom.analysis.models import BBox, PageImage
from sealroom.exports.render import (
    BAND_FILL,
    Watermark,
    add_band,
    encode_pdf,
    encode_png,
    render_export,
    watermark_page,
)
from sealroom.redaction import Region

MARK = Watermark("sam", datetime(2026, 3, 2, 9, 5, tzinfo=UTC), "0123456789abcdef" * 2)


def white(size: tuple[int, int] = (800, 600)) -> Image.Image:
    return Image.new("RGB", size, "white")


def png_chunks(data: bytes) -> list[bytes]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    chunks, offset = [], 8
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        chunks.append(data[offset + 4 : offset + 8])
        offset += 12 + length
    return chunks


def test_the_band_names_export_user_time_and_request() -> None:
    assert MARK.label() == (
        "SEALROOM EXPORT  sam  2026-03-02 09:05 UTC  request 0123456789abcdef0123456789abcdef"
    )
    odd = Watermark("a b\x1b[31m", MARK.when, MARK.request_id)
    assert odd.parts()[1] == "ab[31m"  # no spaces or control characters reach the pixels


@pytest.mark.parametrize("size", [(1275, 1650), (400, 300), (60, 40)])
def test_the_band_is_added_below_the_page_with_dark_text(size: tuple[int, int]) -> None:
    page = white(size)
    marked = np.asarray(add_band(page, MARK))
    width, height = size
    assert marked.shape[1] == width and marked.shape[0] > height
    assert (marked[:height] == 255).all()  # the page itself is not covered
    band = marked[height:]
    fill = (band == BAND_FILL).all(axis=2)
    dark = (band.max(axis=2) < 80).sum()
    assert fill.mean() > 0.5 and dark > 50


def test_the_diagonal_is_semi_transparent_and_redacted_boxes_stay_black() -> None:
    page = white()
    ImageDraw.Draw(page).rectangle((100, 100, 300, 140), fill="black")
    box: BBox = (100, 100, 301, 141)
    marked = np.asarray(watermark_page(page, MARK, [box]))
    body = marked[:600]
    assert not marked[100:141, 100:301].any()
    tinted = (body != 255).any(axis=2).mean()
    assert 0.02 < tinted < 0.5  # repeated across the page, leaving most of it as it was
    outside = body[200:, :]
    assert outside.min() > 120  # the text is a tint, nothing on the page goes dark under it


def test_png_holds_pixels_only() -> None:
    page = white((200, 100))
    page.info.update({"icc_profile": b"\x00" * 200, "dpi": (300, 300), "comment": "secret"})
    exif = Image.Exif()
    exif[0x010E] = "patient photo"
    page.info["exif"] = exif.tobytes()
    data = encode_png(page)
    assert set(png_chunks(data)) == {b"IHDR", b"IDAT", b"IEND"}
    assert b"patient" not in data and b"secret" not in data
    decoded = Image.open(io.BytesIO(data))
    assert decoded.size == (200, 100) and not decoded.info.get("exif")


def test_pdf_has_every_page_and_no_document_information() -> None:
    data = encode_pdf([white((300, 200)), white((300, 200)), white((200, 300))], 150.0)
    document = pdfium.PdfDocument(data)
    try:
        assert len(document) == 3
        assert {key: value for key, value in document.get_metadata_dict().items() if value} == {}
    finally:
        document.close()
    for key in (b"/CreationDate", b"/ModDate", b"/Producer", b"/Title", b"/Author", b"/Creator"):
        assert key not in data


def test_render_export_marks_every_page() -> None:
    pages = [PageImage(0, white()), PageImage(1, white())]
    regions = [Region(1, (10, 10, 60, 30), "PERSON")]
    data = render_export(pages, regions, MARK, "pdf", resolution=100.0)
    document = pdfium.PdfDocument(data)
    try:
        assert len(document) == 2
        width, height = document[0].get_size()
        assert width == pytest.approx(800 * 72 / 100) and height > 600 * 72 / 100  # the band adds height
    finally:
        document.close()
    single = Image.open(io.BytesIO(render_export(pages[1:], regions, MARK, "png")))
    pixels = np.asarray(single.convert("RGB"))
    assert not pixels[10:30, 10:60].any()
    with pytest.raises(ValueError, match="one page"):
        render_export(pages, [], MARK, "png")
