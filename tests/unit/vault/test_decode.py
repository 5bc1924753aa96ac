"""Decoding inside the limits: boundaries, modes, orientation, PDFs, and no global Pillow state."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageFile
from tests.hostile_files import make_jpeg, make_pdf, make_png, make_tiff

from sealroom.config import LimitSettings
from sealroom.errors import BadImageError, ConfigError, TooLargeError
from sealroom.vault.decode import decode_document, inspect_document


def limits(**overrides: int) -> LimitSettings:
    return LimitSettings(**overrides)


def test_file_size_limit_is_checked_first_and_exactly() -> None:
    data = make_png()
    decode_document(data, limits(max_file_bytes=len(data)))
    with pytest.raises(TooLargeError) as caught:
        decode_document(data, limits(max_file_bytes=len(data) - 1))
    message = caught.value.message
    assert f"{len(data):,} bytes" in message and f"{len(data) - 1:,} bytes" in message
    assert "max_file_bytes" in message
    # even garbage is refused for its size before its content is looked at
    with pytest.raises(TooLargeError):
        decode_document(b"<html>" * 10, limits(max_file_bytes=10))


@pytest.mark.parametrize(
    "make", [lambda: make_png(100, 50), lambda: make_jpeg(100, 50), lambda: make_tiff(1, 100, 50)]
)
def test_pixel_limit_is_exact(make: object) -> None:
    data = make()  # type: ignore[operator]
    decode_document(data, limits(max_pixels_per_page=100 * 50))
    with pytest.raises(TooLargeError) as caught:
        decode_document(data, limits(max_pixels_per_page=100 * 50 - 1))
    assert "100 x 50 = 5,000 pixels" in caught.value.message
    assert "4,999" in caught.value.message


def test_pixel_limit_applies_to_every_tiff_page() -> None:
    data = make_tiff(3, 40, 30)  # pages are 40x30, 41x31, 42x32
    decode_document(data, limits(max_pixels_per_page=42 * 32))
    with pytest.raises(TooLargeError, match="page 3 of the TIFF"):
        decode_document(data, limits(max_pixels_per_page=42 * 32 - 1))


def test_page_limit_is_exact_for_tiff_and_pdf() -> None:
    assert decode_document(make_tiff(3), limits(max_pages=3)).page_count == 3
    assert decode_document(make_pdf(3), limits(max_pages=3)).page_count == 3
    with pytest.raises(TooLargeError, match="at least 4 pages, over the limit of 3"):
        decode_document(make_tiff(4), limits(max_pages=3))
    with pytest.raises(TooLargeError, match="has 4 pages, over the limit of 3 pages"):
        inspect_document(make_pdf(4), limits(max_pages=3))


def test_pdf_renders_at_the_configured_dpi_and_checks_pixels_at_that_dpi() -> None:
    data = make_pdf(1, (72, 144))  # one inch by two inches
    document = decode_document(data, limits(pdf_render_dpi=100))
    assert (document.width, document.height) == (100, 200)
    assert document.pages[0].mode == "RGB"
    assert document.pages[0].getpixel((0, 0)) == (255, 255, 255)
    assert document.pages[0].getpixel((30, 150)) == (0, 0, 255)  # inside the filled rectangle
    decode_document(data, limits(pdf_render_dpi=100, max_pixels_per_page=100 * 200))
    with pytest.raises(TooLargeError, match="at 100 dpi"):
        decode_document(data, limits(pdf_render_dpi=100, max_pixels_per_page=100 * 200 - 1))


def test_transparent_png_is_composited_on_white() -> None:
    img = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    img.putpixel((1, 1), (255, 0, 0, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    page = decode_document(buf.getvalue(), limits()).pages[0]
    assert page.getpixel((0, 0)) == (255, 255, 255)
    assert page.getpixel((1, 1)) == (255, 0, 0)


def test_exif_orientation_is_applied() -> None:
    document = decode_document(make_jpeg(64, 48, exif_orientation=6), limits())
    assert (document.width, document.height) == (48, 64)
    assert inspect_document(make_jpeg(64, 48, exif_orientation=6), limits()).page_sizes == [(48, 64)]


def test_corrupt_image_data_inside_a_well_formed_png_is_refused() -> None:
    # Structure and checksums are fine, but the compressed pixel data is not zlib.
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", b"not zlib data at all")
        + chunk(b"IEND", b"")
    )
    with pytest.raises(BadImageError, match="truncated or corrupt"):
        decode_document(png, limits())


def test_truncated_pixel_data_with_end_marker_is_refused() -> None:
    # A PNG whose IDAT holds only part of the image: IEND is present, the pixels are not.
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = zlib.compress(b"\x00" + b"\x7f" * 300 * 3)  # 1 row of 300 declared
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 300, 300, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", rows)
        + chunk(b"IEND", b"")
    )
    with pytest.raises(BadImageError, match="truncated or corrupt"):
        decode_document(png, limits())


def test_load_truncated_images_must_stay_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ConfigError, match="LOAD_TRUNCATED_IMAGES"):
        decode_document(make_png(), limits())


def test_pillow_global_limits_are_never_changed() -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    decode_document(make_png(), limits(max_pixels_per_page=1_000_000_000))
    with pytest.raises(TooLargeError):
        decode_document(make_png(), limits(max_pixels_per_page=10))
    assert before == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)


def test_pdf_and_images_decode_concurrently() -> None:
    inputs = [make_pdf(2), make_png(), make_tiff(2), make_jpeg()] * 6
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda data: decode_document(data, limits()).page_count, inputs))
    assert results == [2, 1, 2, 1] * 6


def test_close_releases_pages() -> None:
    document = decode_document(make_tiff(2), limits())
    document.close()
    assert document.pages == []


def test_inspect_does_not_need_the_pixels() -> None:
    info = inspect_document(make_pdf(2, (144, 72)), limits(pdf_render_dpi=72))
    assert (info.media_type, info.page_count, info.page_sizes) == (
        "application/pdf",
        2,
        [(144, 72), (144, 72)],
    )


def _png(width: int, height: int, raw: bytes, *, interlace: int = 0) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def test_interlaced_png_data_length_is_checked() -> None:
    # 5x5 greyscale, Adam7 pass sizes (w x h): 1x1, 1x1, 2x1, 1x2, 3x1, 2x3, 5x2 -> rows of 1 + w bytes
    passes = [(1, 1), (1, 1), (2, 1), (1, 2), (3, 1), (2, 3), (5, 2)]
    raw = b"".join(b"\x00" * (1 + w) * h for w, h in passes)
    assert decode_document(_png(5, 5, raw, interlace=1), limits()).width == 5
    with pytest.raises(BadImageError, match="holds"):
        decode_document(_png(5, 5, raw[:-6], interlace=1), limits())
