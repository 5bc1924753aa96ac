"""Encoding pages for a model endpoint: size limits, formats, no metadata, nothing on disk."""

from __future__ import annotations

import builtins
import hashlib
import io
import os
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from sealroom.analysis.model.imaging import encode_for_upload
from sealroom.analysis.models import PageImage
from sealroom.errors import AnalysisError

ROOMY = {"max_side": 4000, "max_pixels": 16_000_000, "max_bytes": 20_000_000}


def noise(width: int, height: int, seed: int = 1) -> Image.Image:
    """Random pixels: they compress badly, so byte limits bite."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def document(width: int = 600, height: int = 400) -> Image.Image:
    image = Image.new("RGB", (width, height), "white")
    for y in range(20, height - 20, 30):
        image.paste((0, 0, 0), (20, y, width - 20, y + 8))
    return image


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image


def png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        chunks.append(data[pos + 4:pos + 8])
        pos += 12 + length
    return chunks


def jpeg_markers(data: bytes) -> list[int]:
    """The marker bytes of a JPEG's header segments, up to the start of the scan."""
    assert data[:2] == b"\xff\xd8"
    markers, pos = [], 2
    while pos < len(data):
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        pos += 2 + length
    return markers


def test_a_small_page_is_sent_as_a_lossless_png_at_its_own_size() -> None:
    source = document()
    encoded = encode_for_upload(PageImage(3, source), **ROOMY)
    assert encoded.media_type == "image/png" and encoded.page == 3
    assert (encoded.width, encoded.height) == source.size and not encoded.downscaled
    assert encoded.sha256 == hashlib.sha256(encoded.data).hexdigest()
    out = decode(encoded.data)
    assert out.mode == "RGB" and np.array_equal(np.asarray(out), np.asarray(source))


def test_a_large_page_is_downscaled_to_the_longest_side_keeping_its_shape() -> None:
    encoded = encode_for_upload(PageImage(0, document(3000, 1500)), max_side=1000, max_pixels=16_000_000,
                                max_bytes=20_000_000)
    assert encoded.downscaled and (encoded.width, encoded.height) == (1000, 500)
    assert decode(encoded.data).size == (1000, 500)


def test_the_pixel_budget_is_kept_even_when_the_side_fits() -> None:
    encoded = encode_for_upload(PageImage(0, document(1200, 1000)), max_side=1568, max_pixels=300_000,
                                max_bytes=20_000_000)
    assert encoded.downscaled and encoded.width * encoded.height <= 300_000
    assert abs(encoded.width / encoded.height - 1.2) < 0.01


def test_a_page_too_large_as_png_is_sent_as_a_jpeg_within_the_byte_limit() -> None:
    source = noise(500, 400)
    encoded = encode_for_upload(PageImage(0, source), max_side=2000, max_pixels=4_000_000, max_bytes=200_000)
    assert encoded.media_type == "image/jpeg" and len(encoded.data) <= 200_000
    assert (encoded.width, encoded.height) == (500, 400) and not encoded.downscaled
    assert decode(encoded.data).format == "JPEG"


def test_when_even_a_low_quality_jpeg_is_too_large_the_page_is_shrunk_until_it_fits() -> None:
    encoded = encode_for_upload(PageImage(0, noise(800, 600)), max_side=2000, max_pixels=4_000_000,
                                max_bytes=60_000)
    assert len(encoded.data) <= 60_000 and encoded.downscaled
    assert encoded.width < 800 and abs(encoded.width / encoded.height - 800 / 600) < 0.02
    assert decode(encoded.data).size == (encoded.width, encoded.height)


def test_a_page_that_cannot_fit_raises_an_analysis_error() -> None:
    with pytest.raises(AnalysisError, match="does not fit"):
        encode_for_upload(PageImage(0, noise(800, 600)), max_side=2000, max_pixels=4_000_000, max_bytes=500)


def test_no_metadata_of_the_source_is_carried_into_a_png() -> None:
    source = document()
    exif = Image.Exif()
    exif[0x010E] = "patient Eleanor Whitfield"  # ImageDescription
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "MRN-20473918")
    buffer = io.BytesIO()
    source.save(buffer, "PNG", pnginfo=info, exif=exif, dpi=(300, 300))
    with Image.open(buffer) as loaded:
        loaded.load()
        assert loaded.info.get("Comment") == "MRN-20473918"  # the source really carries it
        encoded = encode_for_upload(PageImage(0, loaded), **ROOMY)
    chunks = png_chunks(encoded.data)
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND" and set(chunks[1:-1]) == {b"IDAT"}
    assert b"MRN-20473918" not in encoded.data and b"Whitfield" not in encoded.data


def test_no_metadata_of_the_source_is_carried_into_a_jpeg() -> None:
    source = noise(500, 400)
    exif = Image.Exif()
    exif[0x010E] = "patient Eleanor Whitfield"
    buffer = io.BytesIO()
    source.save(buffer, "JPEG", quality=95, exif=exif, comment=b"MRN-20473918", dpi=(300, 300))
    with Image.open(buffer) as loaded:
        loaded.load()
        assert "exif" in loaded.info and "comment" in loaded.info
        encoded = encode_for_upload(PageImage(0, loaded), max_side=2000, max_pixels=4_000_000,
                                    max_bytes=250_000)
    assert encoded.media_type == "image/jpeg"
    markers = jpeg_markers(encoded.data)
    assert 0xE1 not in markers and 0xFE not in markers and 0xE2 not in markers  # EXIF/XMP, comment, ICC
    assert b"Whitfield" not in encoded.data and b"MRN-20473918" not in encoded.data


def test_transparent_and_grey_pages_are_sent_as_rgb_with_transparency_as_white() -> None:
    rgba = Image.new("RGBA", (50, 40), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 10, 10))
    out = decode(encode_for_upload(PageImage(0, rgba), **ROOMY).data)
    assert out.mode == "RGB"
    assert out.getpixel((30, 30)) == (255, 255, 255) and out.getpixel((5, 5)) == (0, 0, 255)
    grey = decode(encode_for_upload(PageImage(0, Image.new("L", (20, 20), 90)), **ROOMY).data)
    assert grey.mode == "RGB" and grey.getpixel((1, 1)) == (90, 90, 90)


def test_the_input_image_is_not_changed() -> None:
    source = noise(900, 700)
    before = source.tobytes()
    encode_for_upload(PageImage(0, source), max_side=300, max_pixels=4_000_000, max_bytes=30_000)
    assert source.size == (900, 700) and source.tobytes() == before


def test_nothing_is_written_to_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"tried to open a file: {args[:1]}")

    page = PageImage(0, noise(800, 600))
    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(os, "open", refuse)
    encode_for_upload(page, max_side=2000, max_pixels=4_000_000, max_bytes=60_000)


@settings(max_examples=25, deadline=None)
@given(
    width=st.integers(1, 700),
    height=st.integers(1, 700),
    max_side=st.integers(256, 900),
    max_pixels=st.integers(65_536, 500_000),
)
def test_any_page_comes_out_within_the_side_and_pixel_limits(width: int, height: int, max_side: int,
                                                              max_pixels: int) -> None:
    encoded = encode_for_upload(PageImage(0, document(width, height) if min(width, height) > 40 else
                                          Image.new("RGB", (width, height), "white")),
                                max_side=max_side, max_pixels=max_pixels, max_bytes=20_000_000)
    assert max(encoded.width, encoded.height) <= max_side
    assert encoded.width * encoded.height <= max_pixels
    assert encoded.downscaled == ((encoded.width, encoded.height) != (width, height))
    assert decode(encoded.data).size == (encoded.width, encoded.height)
