"""Decide what a file really is from its bytes, and refuse everything Sealroom does not ingest.

The file name never decides anything. Five types are accepted (PNG, JPEG, TIFF, PDF, DICOM); everything
else is refused with a ``BadImageError`` that names what the file looks like when that is recognisable.

Beyond the magic bytes, the accepted types are walked far enough to refuse:

* truncation (a PNG without ``IEND``, a JPEG without its end-of-image marker, a PDF without ``%%EOF``);
* polyglots: data after the image's end marker that carries a second file (ZIP, HTML, script, PDF...), or
  more than a few bytes of anything after it, and any file whose tail is a valid ZIP directory;
* PDFs with active content (JavaScript, actions that reach outside the document such as launch, URI and
  GoToR, embedded files, XFA, rich media...), found by name, including names hidden with ``#xx`` escapes
  or behind any chain of stream filters; content the scanner cannot decode is refused (``vault.pdfscan``).

Nothing here decodes pixels; ``vault.decode`` does that afterwards with the pixel limits.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import Final, Literal

from sealroom.errors import BadImageError
from sealroom.vault.dicom import check_preamble, is_dicom
from sealroom.vault.pdfscan import check_pdf_active_content

Kind = Literal["png", "jpeg", "tiff", "pdf", "dicom"]

MEDIA_TYPES: Final[dict[Kind, str]] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "tiff": "image/tiff",
    "pdf": "application/pdf",
    "dicom": "application/dicom",
}

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES: Final = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF

# Bytes of unidentified data tolerated after an image's end marker (some writers pad), and after a PDF's
# last %%EOF (some scanners append a little junk). Anything recognisable as a file is refused regardless.
IMAGE_TRAILER_TOLERANCE: Final = 64
PDF_TRAILER_TOLERANCE: Final = 1024

_SUPPORTED_HINT: Final = "Sealroom ingests PNG, JPEG, TIFF, PDF and DICOM"


@dataclass(frozen=True)
class Sniffed:
    """What a file was found to be.

    ``dimensions`` is ``(width, height)`` read from the header when the walk found it (PNG, JPEG), so the
    pixel limit can be checked before any decoder sees the file.
    """

    kind: Kind
    media_type: str
    dimensions: tuple[int, int] | None = None


def sniff(data: bytes) -> Sniffed:
    """Identify ``data`` by content and check its structure; raises ``BadImageError`` naming the problem."""
    if not data:
        raise BadImageError("the file is empty (0 bytes)")
    if is_dicom(data):  # first: a DICOM preamble may itself start with another type's magic bytes
        check_preamble(data)
        result = Sniffed("dicom", MEDIA_TYPES["dicom"])  # vault.dicom checks the rest from its header
    elif data.startswith(PNG_SIGNATURE):
        result = Sniffed("png", MEDIA_TYPES["png"], _walk_png(data))
    elif data.startswith(b"\xff\xd8\xff"):
        result = Sniffed("jpeg", MEDIA_TYPES["jpeg"], _walk_jpeg(data))
    elif data[:4] in _TIFF_SIGNATURES:
        if len(data) < 16:
            raise BadImageError("the TIFF file is truncated or corrupt (shorter than its header)")
        result = Sniffed("tiff", MEDIA_TYPES["tiff"])
    elif data.startswith(b"%PDF-"):
        _check_pdf(data)
        result = Sniffed("pdf", MEDIA_TYPES["pdf"])
    else:
        raise BadImageError(_describe_unsupported(data))
    if _ends_with_zip(data):
        raise BadImageError(
            f"the {result.kind.upper()} file also contains a ZIP archive (a polyglot file); refused"
        )
    return result


# --- unsupported types -----------------------------------------------------------------------------

_MAGIC: Final[tuple[tuple[bytes, str], ...]] = (
    (b"GIF87a", "a GIF image; GIF is not supported, convert it to PNG"),
    (b"GIF89a", "a GIF image; GIF is not supported, convert it to PNG"),
    (b"PK\x03\x04", "a ZIP archive (or an Office/OpenDocument file)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"PK\x07\x08", "a ZIP archive"),
    (b"BM", "a BMP image; BMP is not supported, convert it to PNG"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image; JPEG 2000 is not supported, convert it to PNG"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 codestream; JPEG 2000 is not supported, convert it to PNG"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "an ELF executable"),
    (b"#!", "a script"),
    (b"%!PS", "a PostScript file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Microsoft Office document"),
    (b"{\\rtf", "an RTF document"),
)


def _describe_unsupported(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "the file is a WebP image; WebP is not supported, convert it to PNG"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc", b"avif"):
            return "the file is a HEIC/AVIF image; it is not supported, convert it to JPEG or PNG"
        return "the file is an MP4/QuickTime-family media file, not an image Sealroom ingests"
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return (
                f"the file is {what}" if "not supported" in what else f"the file is {what}; {_SUPPORTED_HINT}"
            )
    markup = _describe_markup(data)
    if markup:
        return f"the file is {markup}, not an image; {_SUPPORTED_HINT}"
    if _looks_like_text(data[:4096]):
        return f"the file is plain text, not an image; {_SUPPORTED_HINT}"
    return f"the file is not a recognised image or PDF (unknown content); {_SUPPORTED_HINT}"


_HTML_STARTS: Final = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<meta", b"<iframe")


def _describe_markup(data: bytes) -> str | None:
    head = data[:4096]
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        if head.startswith(bom):
            head = head[len(bom) :]
            break
    if head[:1] == b"\x00" or head[1:2] == b"\x00":  # UTF-16 without a BOM, or after one
        head = head.replace(b"\x00", b"")
    lowered = head.lstrip().lower()
    if not lowered.startswith(b"<"):
        return None
    if b"<svg" in lowered:
        return "an SVG image (XML)"
    if lowered.startswith(_HTML_STARTS) or b"<html" in lowered or b"<script" in lowered:
        return "an HTML page"
    if lowered.startswith(b"<?xml"):
        return "an XML document"
    return "markup (HTML or XML)"


def _looks_like_text(sample: bytes) -> bool:
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\r\n\t")
    return printable >= 0.95 * len(text)


# --- polyglot payloads -----------------------------------------------------------------------------

_PAYLOADS: Final[tuple[tuple[bytes, str], ...]] = (
    (b"pk\x03\x04", "a ZIP archive"),
    (b"pk\x05\x06", "a ZIP archive"),
    (b"pk\x01\x02", "a ZIP archive"),
    (b"<html", "HTML"),
    (b"<!doctype", "HTML"),
    (b"<script", "a script"),
    (b"javascript:", "a script"),
    (b"<?php", "PHP code"),
    (b"<svg", "SVG"),
    (b"<?xml", "XML"),
    (b"<iframe", "HTML"),
    (b"%pdf-", "a PDF"),
    (b"\x7felf", "an executable"),
    (b"rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
)


def _check_trailer(kind: str, trailer: bytes, tolerance: int) -> None:
    """Refuse data after a file's end marker that carries a payload or is more than padding."""
    if not trailer:
        return
    lowered = trailer.lower()
    for signature, what in _PAYLOADS:
        if signature in lowered:
            raise BadImageError(
                f"the {kind} file has {what} appended after its end marker ({len(trailer)} extra bytes; "
                "a polyglot file); refused"
            )
    if trailer.startswith((b"MZ", b"#!")):
        raise BadImageError(f"the {kind} file has an executable or script appended after its end; refused")
    if len(trailer.strip(b"\x00\xff \t\r\n")) > tolerance:
        raise BadImageError(
            f"the {kind} file has {len(trailer)} bytes of unexpected data after its end marker "
            f"(more than the {tolerance} tolerated; possibly a polyglot file); refused"
        )


def _ends_with_zip(data: bytes) -> bool:
    # The end-of-central-directory record of a ZIP sits in the last 64 KiB + 22 bytes; zipfile checks
    # its structure, so random image bytes do not trip this.
    if b"PK\x05\x06" not in data[-(65536 + 22) :]:
        return False
    try:
        return zipfile.is_zipfile(io.BytesIO(data))
    except Exception:  # a malformed record is not a ZIP either
        return False


# --- PNG -------------------------------------------------------------------------------------------


def _walk_png(data: bytes) -> tuple[int, int]:
    """Walk the chunk list to IEND, checking lengths and CRCs; return the IHDR size."""
    truncated = "the PNG file is truncated or corrupt"
    pos = len(PNG_SIGNATURE)
    size: tuple[int, int] | None = None
    first = True
    while True:
        if pos + 8 > len(data):
            raise BadImageError(f"{truncated} (it ends before the IEND chunk)")
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 8 + length + 4
        if length > 0x7FFFFFFF or end > len(data):
            raise BadImageError(f"{truncated} (a {ctype!r} chunk runs past the end of the file)")
        if zlib.crc32(data[pos + 4 : end - 4]) != struct.unpack(">I", data[end - 4 : end])[0]:
            raise BadImageError(f"{truncated} (bad checksum in the {ctype.decode('latin-1')!r} chunk)")
        if first:
            if ctype != b"IHDR" or length != 13:
                raise BadImageError(f"{truncated} (it does not start with an IHDR header)")
            width, height = struct.unpack(">II", data[pos + 8 : pos + 16])
            if width == 0 or height == 0:
                raise BadImageError(f"{truncated} (the header says {width}x{height} pixels)")
            size = (width, height)
            first = False
        pos = end
        if ctype == b"IEND":
            break
    assert size is not None
    _check_trailer("PNG", data[pos:], IMAGE_TRAILER_TOLERANCE)
    return size


_PNG_CHANNELS: Final = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7: Final = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def check_png_pixel_data(data: bytes) -> None:
    """Refuse a PNG whose compressed pixel data is shorter than its header promises.

    A PNG can be well formed chunk by chunk (checksums right, ``IEND`` present) and still hold only part
    of the image; decoders then silently fill the rest. Inflating the ``IDAT`` stream, without keeping
    the output, and comparing its length with what the header implies catches that. Call after
    ``sniff``, which has already checked the structure and the pixel limit.
    """
    width, height, depth, colour, interlace = struct.unpack(">IIBBxxB", data[16:29])
    channels = _PNG_CHANNELS.get(colour)
    if channels is None:
        raise BadImageError(f"the PNG file is corrupt (unknown colour type {colour})")
    bits = channels * depth

    def scanlines(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + (w * bits + 7) // 8)

    if interlace:
        expected = sum(
            scanlines(
                (width - x0 + dx - 1) // dx if width > x0 else 0,
                (height - y0 + dy - 1) // dy if height > y0 else 0,
            )
            for x0, y0, dx, dy in _ADAM7
        )
    else:
        expected = scanlines(width, height)
    inflater = zlib.decompressobj()
    produced = 0
    pos = len(PNG_SIGNATURE)
    try:
        while pos + 8 <= len(data) and produced <= expected:
            length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
            if ctype == b"IDAT":
                chunk: bytes | memoryview = memoryview(data)[pos + 8 : pos + 8 + length]
                while chunk and produced <= expected:
                    produced += len(inflater.decompress(chunk, 1 << 20))
                    chunk = inflater.unconsumed_tail
            elif ctype == b"IEND":
                break
            pos += 12 + length
        if produced < expected:
            produced += len(inflater.flush())
    except zlib.error as exc:
        raise BadImageError(
            f"the PNG file is truncated or corrupt (its image data does not inflate: {exc})"
        ) from exc
    if produced < expected:
        raise BadImageError(
            f"the PNG file is truncated or corrupt (its image data holds {produced:,} of the {expected:,} "
            "bytes the header promises)"
        )


# --- JPEG ------------------------------------------------------------------------------------------

# Start-of-frame markers carry the image size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_SOF_MARKERS: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS: Final = frozenset([0x01, *range(0xD0, 0xD8)])
_MAX_EMBEDDED_JPEGS: Final = 8


def _walk_jpeg(data: bytes) -> tuple[int, int]:
    """Walk the marker segments to EOI; return the frame size. Extra MPF images after EOI are walked too."""
    size, end, has_mpf = _walk_one_jpeg(data, 0)
    if size is None:
        raise BadImageError("the JPEG file is truncated or corrupt (no frame header before the image data)")
    trailer_start = end
    # A Multi-Picture Format file (phones: gain maps, previews) stores further whole JPEGs after the
    # first EOI; accept exactly that, each walked the same way, and nothing else.
    count = 0
    while has_mpf and data.startswith(b"\xff\xd8\xff", trailer_start) and count < _MAX_EMBEDDED_JPEGS:
        _, trailer_start, _ = _walk_one_jpeg(data, trailer_start)
        count += 1
    _check_trailer("JPEG", data[trailer_start:], IMAGE_TRAILER_TOLERANCE)
    return size


def _walk_one_jpeg(data: bytes, start: int) -> tuple[tuple[int, int] | None, int, bool]:
    truncated = "the JPEG file is truncated or corrupt"
    pos = start + 2
    size: tuple[int, int] | None = None
    has_mpf = False
    n = len(data)
    while True:
        if pos >= n:
            raise BadImageError(f"{truncated} (it ends before the end-of-image marker)")
        if data[pos] != 0xFF:
            # Stray bytes between segments: decoders skip them, and so do we (some cameras write them).
            pos = data.find(b"\xff", pos)
            if pos < 0:
                raise BadImageError(f"{truncated} (it ends before the end-of-image marker)")
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            raise BadImageError(f"{truncated} (it ends before the end-of-image marker)")
        marker = data[pos]
        pos += 1
        if marker == 0xD9:
            return size, pos, has_mpf
        if marker in _STANDALONE_MARKERS:
            continue
        if marker in (0x00, 0xD8):
            raise BadImageError(f"{truncated} (unexpected marker 0xFF{marker:02X} at byte {pos - 2})")
        if pos + 2 > n:
            raise BadImageError(f"{truncated} (it ends inside a segment header)")
        length = struct.unpack(">H", data[pos : pos + 2])[0]
        if length < 2 or pos + length > n:
            raise BadImageError(f"{truncated} (a segment runs past the end of the file)")
        segment = data[pos + 2 : pos + length]
        if marker in _SOF_MARKERS and size is None:
            if len(segment) < 5:
                raise BadImageError(f"{truncated} (short frame header)")
            height, width = struct.unpack(">HH", segment[1:5])
            if width == 0 or height == 0:
                raise BadImageError(f"{truncated} (the frame header says {width}x{height} pixels)")
            size = (width, height)
        elif marker == 0xE2 and segment.startswith(b"MPF\x00"):
            has_mpf = True
        pos += length
        if marker == 0xDA:  # start of scan: skip entropy-coded data to the next real marker
            pos = _skip_entropy_coded(data, pos)


def _skip_entropy_coded(data: bytes, pos: int) -> int:
    n = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= n:
            raise BadImageError(
                "the JPEG file is truncated or corrupt (it ends inside the image data, before the "
                "end-of-image marker)"
            )
        nxt = data[pos + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:  # stuffed byte, restart marker, fill
            pos += 1 if nxt == 0xFF else 2
            continue
        return pos


# --- PDF -------------------------------------------------------------------------------------------


def _check_pdf(data: bytes) -> None:
    eof = data.rfind(b"%%EOF")
    if eof < 0:
        raise BadImageError("the PDF file is truncated or corrupt (no %%EOF end marker)")
    _check_trailer("PDF", data[eof + 5 :], PDF_TRAILER_TOLERANCE)
    check_pdf_active_content(data)
