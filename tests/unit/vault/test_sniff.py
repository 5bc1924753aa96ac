"""Type detection by content, trailers and polyglots, and PDF active-content names."""

from __future__ import annotations

import struct
import zlib

import pytest
from tests.hostile_files import make_jpeg, make_pdf, make_png, make_tiff, pdf_stream

from sealroom.config import LimitSettings
from sealroom.errors import BadImageError
from sealroom.vault.decode import decode_document
from sealroom.vault.sniff import IMAGE_TRAILER_TOLERANCE, PDF_TRAILER_TOLERANCE, sniff


@pytest.mark.parametrize(
    ("data", "kind", "media_type"),
    [
        (make_png(), "png", "image/png"),
        (make_jpeg(), "jpeg", "image/jpeg"),
        (make_tiff(1), "tiff", "image/tiff"),
        (make_pdf(1), "pdf", "application/pdf"),
    ],
)
def test_accepted_types_are_identified_by_content(data: bytes, kind: str, media_type: str) -> None:
    sniffed = sniff(data)
    assert (sniffed.kind, sniffed.media_type) == (kind, media_type)


def test_png_and_jpeg_report_header_dimensions() -> None:
    assert sniff(make_png(77, 33)).dimensions == (77, 33)
    assert sniff(make_jpeg(81, 29)).dimensions == (81, 29)


def big_endian_tiff(width: int = 3, height: int = 2) -> bytes:
    """A hand-built big-endian ("MM") 8-bit greyscale TIFF with its strip data."""
    entries = [
        (256, 3, width),
        (257, 3, height),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 0),
        (277, 3, 1),
        (278, 3, height),
        (279, 4, width * height),
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    strip_offset = 8 + ifd_size
    ifd = struct.pack(">H", len(entries))
    for tag, kind, value in entries:
        value = strip_offset if tag == 273 else value
        packed = struct.pack(">HH", value, 0) if kind == 3 else struct.pack(">I", value)
        ifd += struct.pack(">HHI", tag, kind, 1) + packed
    ifd += struct.pack(">I", 0)
    return (
        b"MM\x00*"
        + struct.pack(">I", 8)
        + ifd
        + bytes(range(0, 255, 255 // (width * height)))[: width * height]
    )


def test_big_endian_tiff_is_accepted() -> None:
    data = big_endian_tiff()
    assert sniff(data).kind == "tiff"
    document = decode_document(data, LimitSettings())
    assert (document.width, document.height, document.page_count) == (3, 2, 1)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xef\xbb\xbf  <html><body>x</body></html>", "HTML"),
        ("<!DOCTYPE html><p>x".encode("utf-16"), "HTML"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
        (b"<?xml version='1.0'?><root/>", "XML"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WebP"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC"),
        (b"BM" + bytes(60), "BMP"),
        (b"\x7fELF" + bytes(60), "executable"),
        (b"PK\x03\x04" + bytes(60), "ZIP"),
        (b"%!PS-Adobe-3.0\n", "PostScript"),
    ],
)
def test_unsupported_types_are_named(data: bytes, expected: str) -> None:
    with pytest.raises(BadImageError, match=expected):
        sniff(data)


def test_png_signature_alone_is_truncated() -> None:
    with pytest.raises(BadImageError, match="truncated"):
        sniff(b"\x89PNG\r\n\x1a\n")


def test_png_must_start_with_ihdr() -> None:
    png = make_png()
    idat_first = png[:12] + b"IDAT" + png[16:]
    with pytest.raises(BadImageError, match=r"checksum|IHDR"):
        sniff(idat_first)


def test_png_trailer_within_tolerance_is_accepted_and_beyond_refused() -> None:
    sniff(make_png() + b"A" * IMAGE_TRAILER_TOLERANCE)
    sniff(make_png() + b"\x00" * 4096)  # zero padding is not data
    with pytest.raises(BadImageError, match="unexpected data after its end marker"):
        sniff(make_png() + b"A" * (IMAGE_TRAILER_TOLERANCE + 1))


@pytest.mark.parametrize(
    "payload", [b"<script>alert(1)</script>", b"<?php echo 1;", b"%PDF-1.4", b"PK\x05\x06"]
)
def test_short_recognisable_payloads_after_the_image_are_refused(payload: bytes) -> None:
    with pytest.raises(BadImageError, match="polyglot"):
        sniff(make_png() + payload)
    with pytest.raises(BadImageError, match="polyglot"):
        sniff(make_jpeg() + payload)


def test_jpeg_with_mpf_extra_image_is_accepted_but_not_other_trailers() -> None:
    first = bytearray(make_jpeg())
    mpf = b"\xff\xe2" + (2 + 8).to_bytes(2, "big") + b"MPF\x00" + b"\x00" * 4
    with_mpf = bytes(first[:2]) + mpf + bytes(first[2:])
    assert sniff(with_mpf + make_jpeg(16, 16)).kind == "jpeg"
    with pytest.raises(BadImageError, match="after its end marker"):
        sniff(bytes(first) + make_jpeg(16, 16))  # no MPF segment: an appended JPEG is data


def test_jpeg_without_frame_header_is_refused() -> None:
    with pytest.raises(BadImageError, match="frame header"):
        sniff(b"\xff\xd8\xff\xd9")


def test_jpeg_marker_garbage_is_corrupt() -> None:
    with pytest.raises(BadImageError, match="corrupt"):
        sniff(b"\xff\xd8\xff\xe0\x00\x02\x41\x42\x43")


def test_pdf_trailer_tolerance() -> None:
    sniff(make_pdf(1) + b"x" * PDF_TRAILER_TOLERANCE)
    with pytest.raises(BadImageError, match="unexpected data"):
        sniff(make_pdf(1) + b"x" * (PDF_TRAILER_TOLERANCE + 1))


def test_short_active_names_inside_binary_streams_are_not_false_positives() -> None:
    # Compressed image data can contain "/JS " by chance; only long names count inside raw streams.
    image_stream = pdf_stream(b"/Type /XObject /Subtype /Image /Width 1 /Height 1", b"\x01/JS \x02/XFA]\x03")
    assert sniff(make_pdf(1, extra_objects=[image_stream])).kind == "pdf"


def test_long_active_names_inside_raw_streams_are_refused() -> None:
    smuggled = pdf_stream(b"", b"<< /S /JavaScript /JS (x) >>")
    with pytest.raises(BadImageError, match="JavaScript"):
        sniff(make_pdf(1, extra_objects=[smuggled]))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (b"/AcroForm << /XFA 9 0 R >>", "XFA"),
        (b"/OpenAction << /S /SubmitForm /F (http://x) >>", "form submission"),
        (b"/OpenAction << /S /Lau#6Ech /F (x) >>", "launch"),
        (b"/OpenAction << /S /RichMedia >>", "rich media"),
    ],
)
def test_other_active_content_is_refused(extra: bytes, expected: str) -> None:
    with pytest.raises(BadImageError, match=expected):
        sniff(make_pdf(1, catalog_extra=extra))


def test_object_stream_bomb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sealroom.vault.pdfscan._PDF_INFLATE_BUDGET", 1000)
    objstm = pdf_stream(b"/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode", zlib.compress(b" " * 5000))
    with pytest.raises(BadImageError, match="compression bomb"):
        sniff(make_pdf(1, extra_objects=[objstm]))


def test_clean_object_stream_is_accepted() -> None:
    objstm = pdf_stream(
        b"/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode", zlib.compress(b"9 0 << /Producer (x) >>")
    )
    assert sniff(make_pdf(1, extra_objects=[objstm])).kind == "pdf"


def test_pdf_must_start_at_offset_zero() -> None:
    with pytest.raises(BadImageError):
        sniff(b"junk" + make_pdf(1))


def test_uncompressed_object_stream_is_checked_in_full() -> None:
    objstm = pdf_stream(b"/Type /ObjStm /N 1 /First 4", b"9 0 << /XFA 3 0 R >>")
    with pytest.raises(BadImageError, match="XFA"):
        sniff(make_pdf(1, extra_objects=[objstm]))


def test_a_bogus_endstream_does_not_hide_what_follows() -> None:
    with pytest.raises(BadImageError, match="XFA"):
        sniff(make_pdf(1, catalog_extra=b"/X (endstream\n) /AcroForm << /XFA 9 0 R >>"))


def test_stray_bytes_between_jpeg_segments_are_tolerated() -> None:
    jpeg = make_jpeg()
    assert sniff(jpeg[:2] + b"\xff\xfe\x00\x04ab" + b"\x00\x00" + jpeg[2:]).kind == "jpeg"
