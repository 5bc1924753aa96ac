"""Hostile and good files for ingest tests, all generated in code (no fixtures on disk).

``HOSTILE_FILES`` lists files that ingest must refuse under the **default** ``LimitSettings`` (50 MiB,
60 Mpx per page, 250 Mpx per file, 50 pages, 200 dpi), each with the error class and a substring of the
message.
``GOOD_FILES`` lists files that must be accepted, with the expected media type, page count and size.
A case's bytes are built on first use of ``.data``, so listing the cases is cheap.

Unit tests (``tests/unit/vault``) and the integration tests both import this module.
"""

from __future__ import annotations

import base64
import io
import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from PIL import Image

from sealroom.config import LimitSettings
from sealroom.errors import BadImageError, TooLargeError

DEFAULT_LIMITS = LimitSettings()

# --- builders -------------------------------------------------------------------------------------


def make_png(width: int = 64, height: int = 48, mode: str = "RGB") -> bytes:
    """A small PNG with a visible pattern."""
    img = Image.new("RGB", (width, height), "white")
    img.paste((200, 30, 30), (4, 4, width // 2, height // 2))
    if mode == "P":
        img = img.quantize(8)
    elif mode != "RGB":
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def make_jpeg(width: int = 64, height: int = 48, *, exif_orientation: int | None = None) -> bytes:
    """A small baseline JPEG, optionally with an EXIF orientation tag."""
    img = Image.new("RGB", (width, height), (240, 240, 240))
    img.paste((20, 20, 160), (4, 4, width // 2, height // 2))
    buf = io.BytesIO()
    if exif_orientation is None:
        img.save(buf, "JPEG", quality=85)
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        img.save(buf, "JPEG", quality=85, exif=exif)
    return buf.getvalue()


def make_tiff(pages: int = 3, width: int = 40, height: int = 30) -> bytes:
    """A multi-page TIFF, each page a different shade."""
    frames = [Image.new("RGB", (width + i, height + i), (i * 40 % 256, 100, 200)) for i in range(pages)]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:], compression="tiff_deflate")
    return buf.getvalue()


def make_zip() -> bytes:
    """A small ZIP archive (the container of Office documents too)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", "<w:document>hello</w:document>")
    return buf.getvalue()


def pdf_stream(entries: bytes, data: bytes) -> bytes:
    """A PDF stream object body with the right ``/Length``."""
    return b"<< " + entries + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def build_pdf(objects: list[bytes], trailer_extra: bytes = b"") -> bytes:
    """A PDF with a correct cross-reference table; object 1 must be the catalog."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R " % (len(objects) + 1) + trailer_extra + b" >>\n"
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def make_pdf(
    pages: int = 2,
    size: tuple[float, float] = (200, 150),
    *,
    catalog_extra: bytes = b"",
    extra_objects: list[bytes] | None = None,
    trailer_extra: bytes = b"",
) -> bytes:
    """A PDF of ``pages`` pages (points), each with a filled rectangle.

    Objects: 1 catalog, 2 page tree, then page/content pairs, then ``extra_objects`` (numbered after).
    """
    width, height = size
    kids = b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b" >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
    ]
    for i in range(pages):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] /Contents %d 0 R >>"
            % (width, height, 4 + 2 * i)
        )
        objects.append(pdf_stream(b"", b"0 0 1 rg 10 10 %g %g re f" % (width / 2, height / 2)))
    objects.extend(extra_objects or [])
    return build_pdf(objects, trailer_extra)


def _next_object(pages: int) -> int:
    return 3 + 2 * pages


def make_pdf_bomb_page() -> bytes:
    """One 200 x 200 inch page: 40 000 x 40 000 pixels at 200 dpi."""
    return make_pdf(1, (14400, 14400))


def make_encrypted_pdf() -> bytes:
    """A PDF with a standard security handler whose user password is not empty."""
    n = _next_object(1)
    encrypt = b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P -44 >>" % (b"ab" * 32, b"cd" * 32)
    return make_pdf(
        1,
        extra_objects=[encrypt],
        trailer_extra=b"/Encrypt %d 0 R /ID [<%s> <%s>]" % (n, b"11" * 16, b"11" * 16),
    )


def make_png_bomb(side: int = 30_000) -> bytes:
    """A valid 1-bit ``side`` x ``side`` PNG of zeros, built with zlib directly (about 100 KB)."""
    row_bytes = 1 + (side + 7) // 8  # filter byte + packed bits; every byte of every row is zero
    block = bytes(row_bytes * 1000)
    compressor = zlib.compressobj(9)
    chunks = [compressor.compress(block) for _ in range(side // 1000)]
    chunks.append(compressor.compress(bytes(row_bytes * (side % 1000))))
    chunks.append(compressor.flush())
    idat = b"".join(chunks)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def make_jpeg_bomb(side: int = 60_000) -> bytes:
    """A small JPEG whose frame header claims ``side`` x ``side`` pixels."""
    data = bytearray(make_jpeg())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, side, side)
    return bytes(data)


def make_tiff_header_only(width: int, height: int) -> bytes:
    """A little-endian TIFF whose single IFD claims ``width`` x ``height`` (strip data absent)."""
    entries = [
        (256, 4, 1, width),  # ImageWidth, LONG
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: black is zero
        (273, 4, 1, 8),  # StripOffsets
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, width * height),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHII", tag, kind, count, value)
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00" * 64


def _flip_ihdr_crc() -> bytes:
    data = bytearray(make_png())
    data[30] ^= 0xFF  # signature 8 + length 4 + type 4 + IHDR 13 = 29: the CRC follows
    return bytes(data)


def _truncated(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


# --- cases ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostileFile:
    """A file ingest must refuse: ``error`` raised, ``message`` (case-insensitive) in its text."""

    name: str
    filename: str
    build: Callable[[], bytes] = field(repr=False)
    error: type[BadImageError]
    message: str

    @cached_property
    def data(self) -> bytes:
        """The file's bytes, built on first use."""
        return self.build()


@dataclass(frozen=True)
class GoodFile:
    """A file ingest must accept, with what decoding should report."""

    name: str
    filename: str
    build: Callable[[], bytes] = field(repr=False)
    media_type: str
    page_count: int
    size: tuple[int, int]  # first page (width, height) in pixels, at the default 200 dpi for PDFs

    @cached_property
    def data(self) -> bytes:
        """The file's bytes, built on first use."""
        return self.build()


_JS = b"/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >>"


def _pdf_js_in_object_stream() -> bytes:
    inner = b"5 0 << /S /JavaScript /JS (app.alert\\(1\\)) >>"
    objstm = pdf_stream(b"/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode", zlib.compress(inner))
    return make_pdf(1, catalog_extra=b"/OpenAction 5 0 R", extra_objects=[objstm])


def _encode_lzw(data: bytes) -> bytes:
    """LZW as PDF writes it (EarlyChange 1), without clearing the table (fine for small inputs)."""
    table = {bytes([i]): i for i in range(256)}
    codes, current = [256], b""
    for byte in data:
        candidate = current + bytes([byte])
        if candidate in table:
            current = candidate
            continue
        codes.append(table[current])
        table[candidate] = len(table) + 2
        current = bytes([byte])
    codes += [table[current], 257] if current else [257]
    bits, count, out, size = 0, 0, bytearray(), 258
    for index, code in enumerate(codes):
        # the decoder adds one entry per code from the second data code on (code 0 is the clear)
        size = 258 + max(0, index - 2)
        width = min(12, (size + 1).bit_length())
        bits, count = (bits << width) | code, count + width
        while count >= 8:
            count -= 8
            out.append((bits >> count) & 0xFF)
    if count:
        out.append((bits << (8 - count)) & 0xFF)
    return bytes(out)


def encode_pdf_filters(data: bytes, filters: list[str]) -> tuple[bytes, bytes]:
    """Encode ``data`` with PDF filters (outermost first); returns the bytes and the ``/Filter`` entry."""
    encoders: dict[str, Callable[[bytes], bytes]] = {
        "FlateDecode": zlib.compress,
        "ASCIIHexDecode": lambda d: d.hex().encode() + b">",
        "ASCII85Decode": lambda d: base64.a85encode(d) + b"~>",
        "RunLengthDecode": lambda d: (
            b"".join(bytes([len(d[i : i + 128]) - 1]) + d[i : i + 128] for i in range(0, len(d), 128))
            + b"\x80"
        ),
        "LZWDecode": _encode_lzw,
    }
    for name in reversed(filters):
        data = encoders[name](data)
    return data, b"/Filter [" + b" ".join(b"/" + name.encode() for name in filters) + b"]"


def pdf_with_object_stream(inner: bytes, filters: list[str], catalog_extra: bytes = b"") -> bytes:
    """A one-page PDF with an object stream holding ``inner`` (``b"5 0 << ... >>"``) through ``filters``."""
    first = inner.index(b"<<")
    encoded, filter_entry = encode_pdf_filters(inner, filters)
    objstm = pdf_stream(b"/Type /ObjStm /N 1 /First %d " % first + filter_entry, encoded)
    return make_pdf(1, catalog_extra=catalog_extra, extra_objects=[objstm])


def _pdf_js_in_filtered_object_stream(filters: list[str]) -> Callable[[], bytes]:
    inner = b"5 0 << /S /JavaScript /JS (app.alert\\(1\\)) >>"
    return lambda: pdf_with_object_stream(inner, filters, b"/OpenAction 5 0 R")


def _pdf_object_stream_with_filter(entry: bytes, payload: bytes) -> bytes:
    objstm = pdf_stream(b"/Type /ObjStm /N 1 /First 4 " + entry, payload)
    return make_pdf(1, catalog_extra=b"/OpenAction 5 0 R", extra_objects=[objstm])


def _pdf_uri_link_annotation() -> bytes:
    n = _next_object(1)
    annotation = (
        b"<< /Type /Annot /Subtype /Link /Rect [0 0 50 50] /A << /S /URI /URI (https://x.invalid) >> >>"
    )
    data = make_pdf(1, extra_objects=[annotation])
    return data.replace(b"/Contents 4 0 R", b"/Contents 4 0 R /Annots [%d 0 R]" % n, 1)


def _pdf_embedded_file() -> bytes:
    n = _next_object(1)
    embedded = pdf_stream(b"/Type /EmbeddedFile", b"MZ payload")
    spec = b"<< /Type /Filespec /F (invoice.exe) /EF << /F %d 0 R >> >>" % n
    return make_pdf(
        1,
        catalog_extra=b"/Names << /EmbeddedFiles << /Names [(invoice.exe) %d 0 R] >> >>" % (n + 1),
        extra_objects=[embedded, spec],
    )


def _oversized() -> bytes:
    return make_png() + bytes(DEFAULT_LIMITS.max_file_bytes)


def _dicom() -> bytes:
    return b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00\xc8\x00\x00\x00" + b"\x00" * 200


def _dicom_pe_preamble() -> bytes:
    # CVE-2019-11687: a Windows executable header in the preamble of an otherwise valid DICOM file
    return (b"MZ\x90\x00" + b"\x00" * 124) + _dicom()[128:]


HOSTILE_FILES: list[HostileFile] = [
    HostileFile("empty", "scan.png", lambda: b"", BadImageError, "empty"),
    HostileFile(
        "truncated-png", "scan.png", lambda: _truncated(make_png(300, 200), 0.5), BadImageError, "truncated"
    ),
    HostileFile(
        "truncated-jpeg", "scan.jpg", lambda: _truncated(make_jpeg(300, 200), 0.6), BadImageError, "truncated"
    ),
    HostileFile(
        "truncated-pdf", "scan.pdf", lambda: _truncated(make_pdf(2), 0.7), BadImageError, "truncated"
    ),
    HostileFile("png-bad-checksum", "scan.png", _flip_ihdr_crc, BadImageError, "bad checksum"),
    HostileFile(
        "html-named-png",
        "scan.png",
        lambda: b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
        BadImageError,
        "HTML",
    ),
    HostileFile(
        "svg-named-png",
        "scan.png",
        lambda: b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        BadImageError,
        "SVG",
    ),
    HostileFile("zip-named-png", "scan.png", make_zip, BadImageError, "ZIP"),
    HostileFile(
        "gif", "scan.png", lambda: b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\x00" * 30, BadImageError, "GIF"
    ),
    HostileFile(
        "dicom-without-transfer-syntax",
        "scan.dcm",
        _dicom,
        BadImageError,
        "DICOM file is truncated or corrupt",
    ),
    HostileFile("dicom-with-executable-preamble", "scan.dcm", _dicom_pe_preamble, BadImageError, "polyglot"),
    HostileFile(
        "random-bytes",
        "scan.png",
        lambda: random.Random(20260302).randbytes(4096),
        BadImageError,
        "not a recognised",
    ),
    HostileFile("text", "scan.png", lambda: b"name,account\nAda,12345678\n", BadImageError, "plain text"),
    HostileFile("executable", "scan.png", lambda: b"MZ\x90\x00" + b"\x00" * 60, BadImageError, "executable"),
    HostileFile("png-bomb", "scan.png", make_png_bomb, TooLargeError, "max_pixels_per_page"),
    HostileFile("jpeg-bomb", "scan.jpg", make_jpeg_bomb, TooLargeError, "max_pixels_per_page"),
    HostileFile(
        "tiff-bomb",
        "scan.tif",
        lambda: make_tiff_header_only(20_000, 20_000),
        TooLargeError,
        "max_pixels_per_page",
    ),
    HostileFile(
        "tiff-over-pixel-limit",
        "scan.tif",
        lambda: make_tiff_header_only(10_000, 7_000),
        TooLargeError,
        "max_pixels_per_page",
    ),
    HostileFile("pdf-page-bomb", "scan.pdf", make_pdf_bomb_page, TooLargeError, "max_pixels_per_page"),
    # 5 pages of 2760 pt: each 7,667 x 7,667 px at 200 dpi (under the page limit), 294 Mpx together
    HostileFile(
        "pdf-total-pixels",
        "scan.pdf",
        lambda: make_pdf(5, (2760, 2760)),
        TooLargeError,
        "limits.max_total_pixels",
    ),
    HostileFile("oversized-file", "scan.png", _oversized, TooLargeError, "over the limit"),
    HostileFile(
        "too-many-pdf-pages",
        "scan.pdf",
        lambda: make_pdf(DEFAULT_LIMITS.max_pages + 1, (60, 40)),
        TooLargeError,
        "max_pages",
    ),
    HostileFile(
        "too-many-tiff-pages",
        "scan.tif",
        lambda: make_tiff(DEFAULT_LIMITS.max_pages + 1, 8, 8),
        TooLargeError,
        "max_pages",
    ),
    HostileFile("png-with-zip-appended", "scan.png", lambda: make_png() + make_zip(), BadImageError, "ZIP"),
    HostileFile(
        "png-with-html-appended",
        "scan.png",
        lambda: make_png() + b"<html><script>x()</script>",
        BadImageError,
        "polyglot",
    ),
    HostileFile(
        "png-with-junk-appended",
        "scan.png",
        lambda: make_png() + random.Random(7).randbytes(500),
        BadImageError,
        "after its end marker",
    ),
    HostileFile("jpeg-with-zip-appended", "scan.jpg", lambda: make_jpeg() + make_zip(), BadImageError, "ZIP"),
    HostileFile(
        "jpeg-with-script-appended",
        "scan.jpg",
        lambda: make_jpeg() + b"<?php system($_GET[1]); ?>",
        BadImageError,
        "polyglot",
    ),
    HostileFile(
        "tiff-with-zip-appended", "scan.tif", lambda: make_tiff(1) + make_zip(), BadImageError, "ZIP"
    ),
    HostileFile("pdf-with-zip-appended", "scan.pdf", lambda: make_pdf(1) + make_zip(), BadImageError, "ZIP"),
    HostileFile(
        "pdf-javascript", "scan.pdf", lambda: make_pdf(1, catalog_extra=_JS), BadImageError, "JavaScript"
    ),
    HostileFile(
        "pdf-javascript-hex-escaped",
        "scan.pdf",
        lambda: make_pdf(1, catalog_extra=b"/OpenAction << /S /J#61vaScript /J#53 (x) >>"),
        BadImageError,
        "JavaScript",
    ),
    HostileFile(
        "pdf-javascript-in-object-stream", "scan.pdf", _pdf_js_in_object_stream, BadImageError, "JavaScript"
    ),
    HostileFile(
        "pdf-launch-action",
        "scan.pdf",
        lambda: make_pdf(1, catalog_extra=b"/OpenAction << /S /Launch /F (cmd.exe) >>"),
        BadImageError,
        "launch",
    ),
    HostileFile("pdf-embedded-file", "scan.pdf", _pdf_embedded_file, BadImageError, "embedded file"),
    *[
        HostileFile(
            f"pdf-javascript-in-object-stream-{label}",
            "scan.pdf",
            _pdf_js_in_filtered_object_stream(filters),
            BadImageError,
            "JavaScript",
        )
        for label, filters in [
            ("flate-twice", ["FlateDecode", "FlateDecode"]),
            ("asciihex", ["ASCIIHexDecode"]),
            ("hex-then-flate", ["ASCIIHexDecode", "FlateDecode"]),
            ("ascii85-then-flate", ["ASCII85Decode", "FlateDecode"]),
            ("lzw", ["LZWDecode"]),
            ("runlength-then-hex", ["RunLengthDecode", "ASCIIHexDecode"]),
        ]
    ],
    HostileFile(
        "pdf-object-stream-unknown-filter",
        "scan.pdf",
        lambda: _pdf_object_stream_with_filter(b"/Filter /BrotliDecode", b"\x01\x02\x03"),
        BadImageError,
        "cannot inspect",
    ),
    HostileFile(
        "pdf-object-stream-image-filter",
        "scan.pdf",
        lambda: _pdf_object_stream_with_filter(b"/Filter /DCTDecode", b"\xff\xd8\xff\xd9"),
        BadImageError,
        "cannot inspect",
    ),
    HostileFile(
        "pdf-object-stream-corrupt-flate",
        "scan.pdf",
        lambda: _pdf_object_stream_with_filter(b"/Filter /FlateDecode", b"not zlib data at all"),
        BadImageError,
        "cannot inspect",
    ),
    HostileFile(
        "pdf-object-stream-cut-short",
        "scan.pdf",
        lambda: _pdf_object_stream_with_filter(
            b"/Filter /FlateDecode", zlib.compress(b"5 0 << /S /JavaScript /JS (x) >>")[:12]
        ),
        BadImageError,
        "cannot inspect",
    ),
    HostileFile(
        "pdf-uri-open-action",
        "scan.pdf",
        lambda: make_pdf(1, catalog_extra=b"/OpenAction << /S /URI /URI (https://attacker.invalid/b) >>"),
        BadImageError,
        "URI",
    ),
    HostileFile("pdf-uri-link-annotation", "scan.pdf", _pdf_uri_link_annotation, BadImageError, "URI"),
    HostileFile(
        "pdf-gotor-in-additional-actions",
        "scan.pdf",
        lambda: make_pdf(1, catalog_extra=b"/AA << /WC << /S /GoToR /F (other.pdf) /D [0 /Fit] >> >>"),
        BadImageError,
        "GoToR",
    ),
    HostileFile(
        "pdf-launch-in-additional-actions",
        "scan.pdf",
        lambda: make_pdf(1, catalog_extra=b"/AA << /DC << /S /Launch /Win << /F (cmd.exe) >> >> >>"),
        BadImageError,
        "launch",
    ),
    HostileFile(
        "pdf-launch-as-string",
        "scan.pdf",
        lambda: make_pdf(1, catalog_extra=b"/OpenAction << /S (L\\141unch) /F (cmd.exe) >>"),
        BadImageError,
        "launch",
    ),
    HostileFile(
        "pdf-sound-action",
        "scan.pdf",
        lambda: make_pdf(1, catalog_extra=b"/OpenAction << /S /Sound /Sound 9 0 R >>"),
        BadImageError,
        "Sound",
    ),
    HostileFile(
        "pdf-movie-action",
        "scan.pdf",
        lambda: make_pdf(1, catalog_extra=b"/OpenAction << /S /Movie /T (clip) >>"),
        BadImageError,
        "Movie",
    ),
    HostileFile(
        "pdf-rendition-action",
        "scan.pdf",
        lambda: make_pdf(1, catalog_extra=b"/OpenAction << /S /Rendition /OP 0 >>"),
        BadImageError,
        "Rendition",
    ),
    HostileFile(
        "pdf-gotoe-action",
        "scan.pdf",
        lambda: make_pdf(1, catalog_extra=b"/OpenAction << /S /GoToE /T << /R /C /N (a.pdf) >> >>"),
        BadImageError,
        "GoToE",
    ),
    HostileFile(
        "pdf-submitform-action",
        "scan.pdf",
        lambda: make_pdf(1, catalog_extra=b"/OpenAction << /S /SubmitForm /F (https://x.invalid) >>"),
        BadImageError,
        "SubmitForm",
    ),
    HostileFile(
        "pdf-importdata-action",
        "scan.pdf",
        lambda: make_pdf(1, catalog_extra=b"/OpenAction << /S /ImportData /F (data.fdf) >>"),
        BadImageError,
        "ImportData",
    ),
    HostileFile("pdf-encrypted", "scan.pdf", make_encrypted_pdf, BadImageError, "encrypted"),
    HostileFile("pdf-header-only", "scan.pdf", lambda: b"%PDF-1.7\n%%EOF\n", BadImageError, "PDF"),
]

GOOD_FILES: list[GoodFile] = [
    GoodFile("png-rgb", "a.png", lambda: make_png(64, 48), "image/png", 1, (64, 48)),
    GoodFile("png-rgba", "b.png", lambda: make_png(30, 20, "RGBA"), "image/png", 1, (30, 20)),
    GoodFile("png-grey-16bit", "c.png", lambda: make_png(30, 20, "I;16"), "image/png", 1, (30, 20)),
    GoodFile("png-palette", "d.png", lambda: make_png(30, 20, "P"), "image/png", 1, (30, 20)),
    GoodFile("png-1bit", "e.png", lambda: make_png(30, 20, "1"), "image/png", 1, (30, 20)),
    GoodFile("jpeg", "a.jpg", lambda: make_jpeg(64, 48), "image/jpeg", 1, (64, 48)),
    GoodFile(
        "jpeg-rotated-exif", "b.jpg", lambda: make_jpeg(64, 48, exif_orientation=6), "image/jpeg", 1, (48, 64)
    ),
    GoodFile("tiff-3-pages", "a.tif", lambda: make_tiff(3), "image/tiff", 3, (40, 30)),
    # 200 x 150 pt at 200 dpi: 555.6 x 416.7, rendered as 556 x 417
    GoodFile("pdf-2-pages", "a.pdf", lambda: make_pdf(2), "application/pdf", 2, (556, 417)),
    GoodFile("png-padded-with-zeros", "f.png", lambda: make_png() + b"\x00" * 16, "image/png", 1, (64, 48)),
]
