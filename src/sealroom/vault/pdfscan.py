"""Refuse PDFs with active content, found by name in the object syntax and in every stream it can hide in.

What is refused:

* JavaScript (``/JavaScript``, ``/JS``), XFA forms, rich media, embedded files and file attachments;
* every action that reaches outside the document or starts something: ``/Launch``, ``/URI``, ``/GoToR``,
  ``/GoToE``, ``/Sound``, ``/Movie``, ``/Rendition``, ``/SubmitForm``, ``/ImportData`` — wherever they sit,
  so also inside ``/AA`` (additional-actions) dictionaries, link annotations and outlines. Any ``/URI`` is
  refused, including a plain link in a page annotation: scanned documents have no business carrying
  links, a link is a beacon once the file is opened in a viewer, and one rule is simpler to trust than a
  list of places where a URI would be harmless. ``/Hide`` and ``/Named`` actions stay accepted.

How the file is read: a small tokenizer walks the whole file the way a PDF parser does (strings, comments,
``#xx`` name escapes, dictionaries), so a name inside a string neither hides nor refuses anything. An
action type written as a string (``/S (Launch)``) counts like the name. Every stream is handled by its
dictionary:

* an object stream (``/Type /ObjStm``, or any stream with ``/First``) holds objects: it is decoded through
  its whole filter chain and scanned like the file itself;
* an image XObject (``/Subtype /Image``, or ``/Width`` and ``/Height``) holds pixels that no reader parses
  as PDF syntax: it is not decoded, and any filter, including the image-only ones (``DCTDecode``,
  ``JPXDecode``, ``CCITTFaxDecode``, ``JBIG2Decode``), is accepted;
* a cross-reference stream holds offsets and is not decoded;
* every other stream (page content, forms, fonts, metadata...) is decoded through its filter chain and
  checked for the long active names (see ``_MIN_NAME_IN_STREAM``).

The filters that can carry PDF syntax are decoded here with the standard library: FlateDecode, LZWDecode
(both with PNG and TIFF predictors), ASCIIHexDecode, ASCII85Decode and RunLengthDecode; everything decoded
counts against one budget (``_PDF_INFLATE_BUDGET``) so a compression bomb is refused. A stream that must be
decoded but cannot be — unknown filter, image-only filter on an object stream, a decode error, an
indirect ``/Filter``, an object stream cut short — is refused ("the PDF hides content the scanner cannot
inspect"): what the scanner cannot read, it does not let through. So is an object header (``N G obj``)
inside a stream's raw bytes, which a cross-reference table could point a reader at.

This is one of two layers: ``vault.decode`` also asks PDFium for document-level JavaScript and
attachments after opening the file. PDFium in Sealroom runs no JavaScript and no forms either way; the
refusal keeps such files out of the vault altogether.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from dataclasses import dataclass
from typing import Final, TypeAlias, Union

from sealroom.errors import BadImageError

__all__ = ["check_pdf_active_content"]

# Budget for decoding PDF streams (all of them together) while looking for active content.
_PDF_INFLATE_BUDGET: Final = 64 * 1024 * 1024

# Names that make a PDF active: each is refused wherever it appears as a name object.
_ACTIVE_PDF_NAMES: Final[dict[bytes, str]] = {
    b"JavaScript": "JavaScript",
    b"JS": "JavaScript",
    b"Launch": "a launch action (runs a program)",
    b"EmbeddedFile": "an embedded file",
    b"EmbeddedFiles": "embedded files",
    b"FileAttachment": "a file attachment",
    b"GoToE": "a GoToE action (opens an embedded file)",
    b"GoToR": "a GoToR action (opens another file)",
    b"URI": "a URI action or link (reaches out to a web address)",
    b"Sound": "a sound action or annotation (plays media)",
    b"Movie": "a movie action or annotation (plays media)",
    b"Rendition": "a rendition action (plays media)",
    b"RichMedia": "rich media (Flash or video)",
    b"XFA": "an XFA form (scriptable)",
    b"SubmitForm": "a SubmitForm action (form submission, sends data out)",
    b"ImportData": "an ImportData action (reads an outside file)",
}
# Dictionary keys whose value, if written as a string instead of a name, is still read as a type by
# lenient readers (``/S (Launch)``).
_TYPE_KEYS: Final = frozenset({b"S", b"Type", b"Subtype"})
# Inside stream data (raw or decoded, not object streams) only names at least this long count, so that
# three random bytes spelling ``/JS`` in compressed data never refuse a scan.
_MIN_NAME_IN_STREAM: Final = 5

_WHITESPACE: Final = b"\x00\t\n\x0c\r "
_REGULAR: Final = rb"[^\x00\t\n\x0c\r ()<>\[\]{}/%]"
_TOKEN: Final = re.compile(
    rb"(?P<ws>[\x00\t\n\x0c\r ]+)"
    rb"|(?P<comment>%[^\r\n]*)"
    rb"|(?P<name>/" + _REGULAR + rb"*)"
    rb"|(?P<dopen><<)|(?P<dclose>>>)"
    rb"|(?P<hex><[^>]*>?)"
    rb"|(?P<aopen>\[)|(?P<aclose>\])"
    rb"|(?P<lit>\()"
    rb"|(?P<word>" + _REGULAR + rb"+)"
    rb"|(?P<stray>[\s\S])"
)
# A PDF name in arbitrary bytes: "/" then regular characters; "#xx" escapes a byte.
_PDF_NAME: Final = re.compile(rb"/((?:[^\x00\t\n\x0c\r ()<>\[\]{}/%#]|#[0-9A-Fa-f]{2})+)")
_PDF_HEX_ESCAPE: Final = re.compile(rb"#([0-9A-Fa-f]{2})")
_LITERAL_SPECIAL: Final = re.compile(rb"[()\\]")
_INTEGER: Final = re.compile(rb"[+-]?\d+")
_OBJECT_HEADER: Final = re.compile(
    rb"(?<![0-9])\d{1,10}[\x00\t\n\x0c\r ]+\d{1,5}[\x00\t\n\x0c\r ]+obj(?!" + _REGULAR + rb")"
)
_DIRECT_INTEGER_OBJECT: Final = re.compile(
    rb"(?<![0-9])(\d{1,10})[\x00\t\n\x0c\r ]+(\d{1,5})[\x00\t\n\x0c\r ]+obj[\x00\t\n\x0c\r ]*(\d{1,12})"
    rb"[\x00\t\n\x0c\r ]*endobj"
)
_ENDSTREAM: Final = b"endstream"

_HIDDEN: Final = "the PDF hides content the scanner cannot inspect"

# Filters the scanner decodes (full names and the abbreviations readers accept), and image-only filters.
_FLATE, _LZW, _HEX, _A85, _RL = (
    b"FlateDecode",
    b"LZWDecode",
    b"ASCIIHexDecode",
    b"ASCII85Decode",
    b"RunLengthDecode",
)
_FILTER_ALIASES: Final[dict[bytes, bytes]] = {
    b"Fl": _FLATE,
    b"LZW": _LZW,
    b"AHx": _HEX,
    b"A85": _A85,
    b"RL": _RL,
    b"DCT": b"DCTDecode",
    b"CCF": b"CCITTFaxDecode",
}
_IMAGE_ONLY_FILTERS: Final = frozenset({b"DCTDecode", b"JPXDecode", b"CCITTFaxDecode", b"JBIG2Decode"})


class _Name(bytes):
    """A PDF name object (decoded, without the slash)."""


@dataclass(frozen=True)
class _Ref:
    number: int
    generation: int


_Value: TypeAlias = Union[_Name, bytes, int, float, _Ref, list["_Value"], dict[bytes, "_Value"], None]  # noqa: UP007


class _UndecodableError(Exception):
    """A stream's filter chain cannot be decoded by the scanner."""


def check_pdf_active_content(data: bytes) -> None:
    """Refuse active content anywhere in ``data``: the object syntax, object streams, and stream data.

    Raises ``BadImageError`` naming what was found, or saying that content is hidden where the scanner
    cannot look.
    """
    _Scanner(data).run()


class _Scanner:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.budget = _PDF_INFLATE_BUDGET
        self._integers: dict[tuple[int, int], int] | None = None

    def run(self) -> None:
        self._scan_syntax(self.data, "", streams=True)

    # --- object syntax --------------------------------------------------------------------------

    def _scan_syntax(self, data: bytes, where: str, *, streams: bool) -> None:
        """Tokenize ``data`` as PDF object syntax; every name counts; streams are handed to ``_stream``."""
        stack: list[tuple[str, list[_Value]]] = []
        top: list[_Value] = []  # recent top-level values
        pos, end = 0, len(data)
        while pos < end:
            match = _TOKEN.match(data, pos)
            assert match is not None  # the last alternative matches any byte
            kind = match.lastgroup
            pos = match.end()
            value: _Value
            if kind in ("ws", "comment", "stray"):
                continue
            if kind == "name":
                value = _Name(_decode_name(match.group()[1:]))
                _refuse_active(value, 0, where)
            elif kind == "lit":
                raw, pos = _read_literal(data, pos)
                value = raw
            elif kind == "hex":
                value = _decode_hex_string(match.group())
            elif kind in ("dopen", "aopen"):
                stack.append((kind, []))
                continue
            elif kind in ("dclose", "aclose"):
                wanted = "dopen" if kind == "dclose" else "aopen"
                if not stack or stack[-1][0] != wanted:
                    continue  # unbalanced: readers differ; names were already checked as tokens
                _, items = stack.pop()
                value = _make_dict(items, where) if kind == "dclose" else items
            else:
                word = match.group()
                if word == b"stream":
                    if not streams:
                        raise BadImageError(f"{_HIDDEN} (a stream inside an object stream); refused")
                    if stack or not top or not isinstance(top[-1], dict):
                        raise BadImageError(f"{_HIDDEN} (a stream without a readable dictionary); refused")
                    pos = self._stream(top[-1], pos)
                    top.clear()
                    continue
                if word in (b"obj", b"endobj"):
                    stack.clear()
                    top.clear()
                    continue
                value = _number_or_keyword(word)
                if word == b"R":
                    items = stack[-1][1] if stack else top
                    if len(items) >= 2 and type(items[-1]) is int and type(items[-2]) is int:
                        generation, number = items.pop(), items.pop()
                        assert isinstance(number, int) and isinstance(generation, int)
                        value = _Ref(number, generation)
            if stack:
                stack[-1][1].append(value)
            else:
                top.append(value)
                del top[:-3]

    # --- streams --------------------------------------------------------------------------------

    def _stream(self, entries: dict[bytes, _Value], pos: int) -> int:
        """Check the stream whose ``stream`` keyword ends at ``pos``; return where syntax resumes."""
        data = self.data
        while pos < len(data) and data[pos] in b" \t":
            pos += 1
        if data.startswith(b"\r\n", pos):
            pos += 2
        elif pos < len(data) and data[pos] in b"\r\n":
            pos += 1
        start = pos
        stop = self._stream_end(entries, start)
        raw = data[start:stop]
        for name in _pdf_names(raw):
            _refuse_active(name, _MIN_NAME_IN_STREAM, " (inside a stream)")
        if _OBJECT_HEADER.search(raw):
            raise BadImageError(f"{_HIDDEN} (an object header inside a stream's data); refused")

        kind = _stream_kind(entries)
        if kind in ("image", "xref"):
            return stop + len(_ENDSTREAM)
        try:
            decoded, complete = self._decode(raw, entries, kind == "objstm")
        except _UndecodableError as exc:
            raise BadImageError(f"{_HIDDEN} ({exc}); refused") from exc
        if kind == "objstm":
            self._scan_syntax(decoded, " (inside an object stream)", streams=False)
            if not complete:  # what a reader finds past a premature end was not seen here
                raise BadImageError(f"{_HIDDEN} (an object stream is cut short); refused")
        else:
            for name in _pdf_names(decoded):
                _refuse_active(name, _MIN_NAME_IN_STREAM, " (inside a stream)")
        return stop + len(_ENDSTREAM)

    def _stream_end(self, entries: dict[bytes, _Value], start: int) -> int:
        """Where the stream data ends: at ``/Length`` when ``endstream`` follows it, else at ``endstream``."""
        data = self.data
        length = entries.get(b"Length")
        if isinstance(length, _Ref):
            length = self._integer_object(length)
        if type(length) is int and 0 <= length <= len(data) - start:
            after = start + length
            probe = after
            while probe < len(data) and data[probe] in _WHITESPACE:
                probe += 1
            if data.startswith(_ENDSTREAM, probe):
                return after
        stop = data.find(_ENDSTREAM, start)
        return len(data) if stop < 0 else stop

    def _integer_object(self, ref: _Ref) -> int | None:
        if self._integers is None:
            self._integers = {
                (int(m.group(1)), int(m.group(2))): int(m.group(3))
                for m in _DIRECT_INTEGER_OBJECT.finditer(self.data)
            }
        return self._integers.get((ref.number, ref.generation))

    def _decode(self, raw: bytes, entries: dict[bytes, _Value], objstm: bool) -> tuple[bytes, bool]:
        """Decode ``raw`` through the stream's filter chain; returns the bytes and whether every filter
        reached its end-of-data."""
        filters = _as_list(entries.get(b"Filter"), "filter")
        parms = _as_list(entries.get(b"DecodeParms", entries.get(b"DP")), "decode parameters")
        out, complete = raw, True
        for index, name in enumerate(filters):
            if not isinstance(name, _Name):
                raise _UndecodableError("a filter that is not a name")
            name = _Name(_FILTER_ALIASES.get(name, name))
            parm = parms[index] if index < len(parms) else None
            if parm is not None and not isinstance(parm, dict):
                raise _UndecodableError("decode parameters that are not a dictionary")
            if name in _IMAGE_ONLY_FILTERS:
                what = "an object stream" if objstm else "a stream that is not an image"
                raise _UndecodableError(f"{what} uses the image filter {name.decode('latin-1')}")
            out, done = self._apply(name, out, parm or {})
            complete = complete and done
        return out, complete

    def _apply(self, name: bytes, data: bytes, parm: dict[bytes, _Value]) -> tuple[bytes, bool]:
        limit = self.budget
        if name == _FLATE:
            out, done = _flate(data, limit)
        elif name == _LZW:
            early = parm.get(b"EarlyChange", 1)
            out, done = _lzw(data, limit, early != 0)
        elif name == _HEX:
            out, done = _ascii_hex(data)
        elif name == _A85:
            out, done = _ascii85(data, limit)
        elif name == _RL:
            out, done = _run_length(data, limit)
        else:
            raise _UndecodableError(
                f"the filter {name.decode('latin-1')!r}, which the scanner does not decode"
            )
        if name in (_FLATE, _LZW):
            out = _unpredict(out, parm)
        if len(out) > self.budget:
            raise _bomb()
        self.budget -= len(out)
        return out, done


# --- helpers ---------------------------------------------------------------------------------------


def _bomb() -> BadImageError:
    return BadImageError(
        f"the PDF's streams expand to more than {_PDF_INFLATE_BUDGET // (1024 * 1024)} MiB when decoded "
        "(a compression bomb?); refused"
    )


def _stream_kind(entries: dict[bytes, _Value]) -> str:
    kind = entries.get(b"Type")
    subtype = entries.get(b"Subtype")
    if kind is not None and not isinstance(kind, _Name):
        raise BadImageError(f"{_HIDDEN} (a stream whose /Type is not a plain name); refused")
    if kind == b"ObjStm" or b"First" in entries:
        return "objstm"
    if kind == b"XRef":
        return "xref"
    if (isinstance(subtype, _Name) and subtype == b"Image") or (b"Width" in entries and b"Height" in entries):
        return "image"
    return "other"


def _as_list(value: _Value, what: str) -> list[_Value]:
    if value is None:
        return []
    if isinstance(value, _Ref):
        raise _UndecodableError(f"an indirect {what} entry")
    return value if isinstance(value, list) else [value]


def _make_dict(items: list[_Value], where: str) -> dict[bytes, _Value]:
    entries: dict[bytes, _Value] = {}
    for index in range(0, len(items) - 1, 2):
        key, value = items[index], items[index + 1]
        if not isinstance(key, _Name):
            continue
        entries[bytes(key)] = value
        if key in _TYPE_KEYS and type(value) is bytes:  # a string, not a name
            _refuse_active(value.strip(_WHITESPACE), 0, where)
    return entries


def _number_or_keyword(word: bytes) -> _Value:
    if _INTEGER.fullmatch(word):
        return int(word)
    try:
        return float(word)
    except ValueError:
        return None if word == b"null" else word  # keywords (true, false, R...) as bytes


def _decode_name(raw: bytes) -> bytes:
    return _PDF_HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw) if b"#" in raw else raw


def _pdf_names(data: bytes) -> list[bytes]:
    return [_decode_name(match.group(1)) for match in _PDF_NAME.finditer(data)]


def _refuse_active(name: bytes, min_length: int, where: str) -> None:
    if len(name) >= min_length and name in _ACTIVE_PDF_NAMES:
        raise BadImageError(
            f"the PDF contains {_ACTIVE_PDF_NAMES[name]}{where}; active content is refused. Print it to a "
            "new PDF without scripts, links, attachments or forms and ingest that"
        )


_ESCAPES: Final = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\x0c"}


def _read_literal(data: bytes, pos: int) -> tuple[bytes, int]:
    """Read a literal string whose "(" ends at ``pos``; return its (unescaped) bytes and the end."""
    depth, start = 1, pos
    while True:
        match = _LITERAL_SPECIAL.search(data, pos)
        if match is None:
            return _unescape(data[start:]), len(data)
        char = data[match.start()]
        if char == 0x5C:  # backslash: skip the escaped byte
            pos = match.start() + 2
            continue
        depth += 1 if char == 0x28 else -1
        pos = match.end()
        if depth == 0:
            return _unescape(data[start : match.start()]), pos


def _unescape(raw: bytes) -> bytes:
    if b"\\" not in raw or len(raw) > 256:  # only short strings are compared with action names
        return raw
    out = bytearray()
    index = 0
    while index < len(raw):
        char = raw[index]
        index += 1
        if char != 0x5C or index >= len(raw):
            out.append(char)
            continue
        nxt = raw[index]
        if 0x30 <= nxt <= 0x37:
            digits = re.match(rb"[0-7]{1,3}", raw[index : index + 3])
            assert digits is not None
            out.append(int(digits.group(), 8) & 0xFF)
            index += len(digits.group())
        elif nxt in b"\r\n":
            index += 2 if raw[index : index + 2] == b"\r\n" else 1
        else:
            out += _ESCAPES.get(nxt, bytes([nxt]))
            index += 1
    return bytes(out)


def _decode_hex_string(token: bytes) -> bytes:
    digits = re.sub(rb"[^0-9A-Fa-f]", b"", token[1:-1] if token.endswith(b">") else token[1:])
    if len(digits) % 2:
        digits += b"0"
    return bytes.fromhex(digits.decode("ascii"))


# --- filters ---------------------------------------------------------------------------------------


def _flate(data: bytes, limit: int) -> tuple[bytes, bool]:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise _UndecodableError(f"a FlateDecode stream does not inflate: {exc}") from exc
    return out, inflater.eof


def _ascii_hex(data: bytes) -> tuple[bytes, bool]:
    end = data.find(b">")
    body = data if end < 0 else data[:end]
    digits = body.translate(None, _WHITESPACE)
    if re.search(rb"[^0-9A-Fa-f]", digits):
        raise _UndecodableError("an ASCIIHexDecode stream holds a byte that is not a hex digit")
    if len(digits) % 2:
        digits += b"0"
    return binascii.unhexlify(digits), end >= 0


def _ascii85(data: bytes, limit: int) -> tuple[bytes, bool]:
    end = data.find(b"~>")
    body = (data if end < 0 else data[:end]).translate(None, _WHITESPACE)
    if body.startswith(b"<~"):
        body = body[2:]
    if len(body) + 4 * body.count(b"z") > limit:  # "z" stands for four zero bytes
        raise _bomb()
    try:
        return base64.a85decode(body), end >= 0
    except ValueError as exc:
        raise _UndecodableError(f"an ASCII85Decode stream does not decode: {exc}") from exc


def _run_length(data: bytes, limit: int) -> tuple[bytes, bool]:
    out = bytearray()
    index = 0
    while index < len(data):
        length = data[index]
        index += 1
        if length == 128:
            return bytes(out), True
        if length < 128:
            out += data[index : index + length + 1]
            index += length + 1
        else:
            if index >= len(data):
                break
            out += data[index : index + 1] * (257 - length)
            index += 1
        if len(out) > limit:
            break
    return bytes(out), False


def _lzw(data: bytes, limit: int, early: bool) -> tuple[bytes, bool]:
    out = bytearray()
    table: list[bytes] = [bytes([i]) for i in range(256)] + [b"", b""]
    width, previous = 9, b""
    bits = bitcount = 0
    for byte in data:
        bits = (bits << 8) | byte
        bitcount += 8
        while bitcount >= width:
            bitcount -= width
            code = (bits >> bitcount) & ((1 << width) - 1)
            bits &= (1 << bitcount) - 1
            if code == 256:  # clear table
                del table[258:]
                width, previous = 9, b""
                continue
            if code == 257:
                return bytes(out), True
            if code < len(table):
                entry = table[code]
                if previous and len(table) < 4096:
                    table.append(previous + entry[:1])
            elif code == len(table) and previous and len(table) < 4096:
                entry = previous + previous[:1]
                table.append(entry)
            else:
                raise _UndecodableError("an LZWDecode stream holds an invalid code")
            out += entry
            if len(out) > limit:
                return bytes(out), False
            previous = entry
            width = min(12, (len(table) + (1 if early else 0)).bit_length())
    return bytes(out), False


def _unpredict(data: bytes, parm: dict[bytes, _Value]) -> bytes:
    predictor = parm.get(b"Predictor", 1)
    if predictor in (None, 1):
        return data
    colors, bpc, columns = parm.get(b"Colors", 1), parm.get(b"BitsPerComponent", 8), parm.get(b"Columns", 1)
    if not all(type(v) is int and v > 0 for v in (predictor, colors, bpc, columns)):
        raise _UndecodableError("invalid predictor parameters")
    assert isinstance(colors, int) and isinstance(bpc, int) and isinstance(columns, int)
    bpp = max(1, colors * bpc // 8)
    row = (colors * bpc * columns + 7) // 8
    if predictor == 2:
        if bpc != 8:
            raise _UndecodableError("a TIFF predictor with other than 8 bits per component")
        out = bytearray(data)
        for start in range(0, len(out), row):
            for i in range(start + bpp, min(start + row, len(out))):
                out[i] = (out[i] + out[i - bpp]) & 0xFF
        return bytes(out)
    if not isinstance(predictor, int) or not 10 <= predictor <= 15:
        raise _UndecodableError(f"the unknown predictor {predictor!r}")
    out = bytearray()
    prior = bytearray(row)
    for start in range(0, len(data), row + 1):
        kind, line = data[start], bytearray(data[start + 1 : start + 1 + row])
        line += bytes(row - len(line))
        if kind == 1:
            for i in range(bpp, row):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prior, strict=True))
        elif kind == 3:
            for i in range(row):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prior[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(row):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prior[i], prior[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        elif kind != 0:
            raise _UndecodableError(f"a PNG predictor row of unknown type {kind}")
        out += line
        prior = line
    return bytes(out)
