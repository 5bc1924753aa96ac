"""Refuse PDFs with active content, found by name in the raw file.

Names refused: JavaScript (``/JavaScript``, ``/JS``), launch actions, embedded files and attachments,
XFA forms, rich media, form submission and import-data actions. Names are decoded (``/J#61vaScript`` is
``/JavaScript``) and object streams are inflated, within a budget, so neither hides them.

This is one of two layers: ``vault.decode`` also asks PDFium for document-level JavaScript and
attachments after opening the file. PDFium in Sealroom runs no JavaScript and no forms either way; the
refusal keeps such files out of the vault altogether.
"""

from __future__ import annotations

import re
import zlib
from typing import Final

from sealroom.errors import BadImageError

__all__ = ["check_pdf_active_content"]

# Budget for inflating PDF object streams while looking for active content.
_PDF_INFLATE_BUDGET: Final = 64 * 1024 * 1024

# Names that make a PDF active: each is refused wherever it appears as a name object.
_ACTIVE_PDF_NAMES: Final[dict[bytes, str]] = {
    b"JavaScript": "JavaScript",
    b"JS": "JavaScript",
    b"Launch": "a launch action (runs a program)",
    b"EmbeddedFile": "an embedded file",
    b"EmbeddedFiles": "embedded files",
    b"FileAttachment": "a file attachment",
    b"GoToE": "an action that opens an embedded file",
    b"RichMedia": "rich media (Flash or video)",
    b"XFA": "an XFA form (scriptable)",
    b"SubmitForm": "a form submission action",
    b"ImportData": "an import-data action",
}
# A PDF name: "/" then regular characters; "#xx" escapes a byte. Delimiters and whitespace end it.
_PDF_NAME: Final = re.compile(rb"/((?:[^\x00\t\n\x0c\r ()<>\[\]{}/%#]|#[0-9A-Fa-f]{2})+)")
_PDF_HEX_ESCAPE: Final = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_STREAM_START: Final = re.compile(rb"(?<!end)stream\r?\n")


def check_pdf_active_content(data: bytes) -> None:
    """Refuse active-content names in the object syntax, in raw streams and in object streams.

    Outside streams every name counts. Inside a stream's raw bytes (often compressed binary data) only the
    long names count, so that three random bytes spelling ``/JS`` in an image never refuse a scan; an
    object smuggled into stream data would still need ``/S /JavaScript`` or the like to do anything.
    Object streams (``/Type /ObjStm``) hold dictionaries, so they are inflated and checked in full.
    """
    budget = _PDF_INFLATE_BUDGET
    pos = 0
    pending_object_stream = False
    while pos < len(data):
        stream = _PDF_STREAM_START.search(data, pos)
        syntax_end = stream.start() if stream else len(data)
        for name in _pdf_names(data, pos, syntax_end):
            if name == b"ObjStm":
                pending_object_stream = True
            _refuse_active(name, 0, "")
        if stream is None:
            break
        end = data.find(b"endstream", stream.end())
        end = len(data) if end < 0 else end
        for name in _pdf_names(data, stream.end(), end):
            _refuse_active(name, _MIN_NAME_IN_STREAM, " (inside a stream)")
        if pending_object_stream:
            budget -= _scan_object_stream(memoryview(data)[stream.end() : end], budget)
            pending_object_stream = False
        pos = end + len(b"endstream")


_MIN_NAME_IN_STREAM: Final = 5


def _pdf_names(data: bytes | memoryview, start: int, end: int) -> list[bytes]:
    names = []
    for match in _PDF_NAME.finditer(data, start, end):
        raw = match.group(1)
        names.append(_PDF_HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw) if b"#" in raw else raw)
    return names


def _refuse_active(name: bytes, min_length: int, where: str) -> None:
    if len(name) >= min_length and name in _ACTIVE_PDF_NAMES:
        raise BadImageError(
            f"the PDF contains {_ACTIVE_PDF_NAMES[name]}{where}; active content is refused. Print it to a "
            "new PDF without scripts, attachments or forms and ingest that"
        )


def _scan_object_stream(raw: memoryview, budget: int) -> int:
    """Inflate one object stream and check every name in it; returns the number of bytes inflated."""
    inflater = zlib.decompressobj()
    try:
        inner = inflater.decompress(raw, budget + 1)
        inflated = len(inner)
    except zlib.error:
        inner, inflated = bytes(raw), 0  # stored uncompressed (or another filter): check the raw bytes
    if inflated > budget:
        raise BadImageError(
            "the PDF's object streams expand to more than "
            f"{_PDF_INFLATE_BUDGET // (1024 * 1024)} MiB (a compression bomb?); refused"
        )
    for name in _pdf_names(inner, 0, len(inner)):
        _refuse_active(name, 0, " (inside an object stream)")
    return inflated
