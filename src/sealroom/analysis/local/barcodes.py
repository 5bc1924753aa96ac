"""Barcodes on a page (zxing-cpp) and the AAMVA driver licence / ID card payload of a PDF417.

Every 2-D code (PDF417, QR, Data Matrix, Aztec) and the linear codes found on licences (Code 128,
Code 39) is reported as a region, so redaction burns it out: a barcode holds whatever its issuer put
in it, which on an identity document is the holder's data. Only an AAMVA payload is read further.

AAMVA DL/ID Card Design Standard (versions 1-10): a header ``@`` LF RS CR, the file type ``ANSI ``
(``AAMVA`` in early cards), the issuer's 6-digit IIN, the standard's version, the jurisdiction's
version (from version 2 on), the number of subfiles, then one designator per subfile (type ``DL``,
``ID`` or a jurisdiction's ``Z?``, 4-digit offset, 4-digit length). A subfile starts with its type
and holds data elements, each a 3-letter element ID and its value, ended by LF, the last by CR.
Offsets are often wrong in the field, so a subfile is also looked for by its type. Dates are
``MMDDCCYY`` in the USA and ``CCYYMMDD`` in Canada; the two never read as each other (a month is never
above 12, a year never below 1900), so both are accepted.

Payloads are capped (``MAX_PAYLOAD``); one that is not AAMVA, or is malformed, gives the region only,
never a guessed field. Nothing here logs a payload or a value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from PIL import Image

from sealroom.analysis.model.replies import clean_text
from sealroom.analysis.models import BBox

MAX_PAYLOAD = 4096
"""Bytes of a barcode's payload that are parsed at all (a PDF417 holds at most about 1.1 KB)."""
MAX_VALUE = 128
"""Characters kept of one AAMVA element value."""
PAD = 0.04
"""Share of a barcode's larger side added around its box, so no bar at its edge survives redaction."""

_HEADER = re.compile(rb"@[\n\r\x1c\x1d\x1e]{1,4}(?:ANSI ?|AAMVA)(\d{6})(\d{2})")
_ELEMENT = re.compile(r"(D[A-Z]{2})(.*)")
_EMPTY = {"", "NONE", "UNAVL", "UNAVAILABLE", "UNKNOWN", "UNKNOWNS"}

# Element ID → (field name, entity type or None). Names keep the standard's meaning.
ELEMENTS: dict[str, tuple[str, str | None]] = {
    "DCS": ("family_name", "PERSON"), "DAB": ("family_name", "PERSON"),
    "DAC": ("first_name", "PERSON"), "DCT": ("given_names", "PERSON"),
    "DAD": ("middle_name", "PERSON"), "DAA": ("full_name", "PERSON"),
    "DBB": ("birth_date", "DATE_OF_BIRTH"),
    "DAQ": ("customer_id", "ID_NUMBER"), "DCF": ("document_discriminator", "ID_NUMBER"),
    "DCK": ("inventory_control_number", "ID_NUMBER"), "DBN": ("alias_family_name", "PERSON"),
    "DBG": ("alias_given_name", "PERSON"),
    "DAG": ("street", "ADDRESS"), "DAH": ("street_2", "ADDRESS"), "DAI": ("city", "ADDRESS"),
    "DAJ": ("state", "ADDRESS"), "DAK": ("postal_code", "ADDRESS"), "DCG": ("country", None),
    "DBA": ("expiry_date", None), "DBD": ("issue_date", None),
    "DBC": ("sex", "PHYSICAL_DESCRIPTION"), "DAY": ("eye_colour", "PHYSICAL_DESCRIPTION"),
    "DAZ": ("hair_colour", "PHYSICAL_DESCRIPTION"), "DAU": ("height", "PHYSICAL_DESCRIPTION"),
    "DAW": ("weight_lb", "PHYSICAL_DESCRIPTION"), "DAX": ("weight_kg", "PHYSICAL_DESCRIPTION"),
    "DCA": ("vehicle_class", None), "DCB": ("restrictions", None), "DCD": ("endorsements", None),
}
_DATES = {"DBB", "DBA", "DBD"}
_SEX = {"1": "M", "2": "F", "9": "X"}


@dataclass(frozen=True)
class FoundBarcode:
    """One barcode: its symbology, its box on the page (padded), and its payload (capped)."""

    format: str
    bbox: BBox
    payload: bytes


@dataclass(frozen=True)
class AamvaRecord:
    """A parsed AAMVA payload: header facts and the elements, by element ID (values cleaned)."""

    iin: str
    version: int
    subfile: str
    elements: dict[str, str]

    def fields(self) -> list[tuple[str, str, str | None]]:
        """``(name, value, entity type)`` of every known element present, dates as ``YYYY-MM-DD``."""
        out = []
        for element_id, value in self.elements.items():
            if element_id not in ELEMENTS:
                continue
            name, entity_type = ELEMENTS[element_id]
            if element_id in _DATES:
                value = aamva_date(value) or ""
            elif element_id == "DBC":
                value = _SEX.get(value, value)
            if value:
                out.append((name, value, entity_type))
        return out

    def full_name(self) -> str | None:
        """The holder's name as ``first middle family`` (or version 1's ``DAA``)."""
        e = self.elements
        given = e.get("DAC") or e.get("DCT", "").replace(",", " ")
        parts = [given, e.get("DAD", ""), e.get("DCS") or e.get("DAB", "")]
        name = " ".join(" ".join(parts).split())
        return name or (" ".join(e.get("DAA", "").replace(",", " ").split()) or None)

    def address(self) -> str | None:
        """Street, city, state and postal code on one line."""
        e = self.elements
        street = ", ".join(v for v in (e.get("DAG"), e.get("DAH"), e.get("DAI")) if v)
        tail = " ".join(v for v in (e.get("DAJ"), _postal(e.get("DAK", ""))) if v)
        joined = ", ".join(v for v in (street, tail) if v)
        return joined or None


def _postal(value: str) -> str:
    """US ZIP+4 is often padded with zeros (``123450000``): shown as ``12345``."""
    return value[:5] if re.fullmatch(r"\d{5}0{4}", value) else value


def aamva_date(value: str) -> str | None:
    """``MMDDCCYY`` (USA) or ``CCYYMMDD`` (Canada) as ``YYYY-MM-DD``; ``None`` if neither."""
    if not re.fullmatch(r"\d{8}", value):
        return None
    for year, month, day in ((value[4:], value[:2], value[2:4]), (value[:4], value[4:6], value[6:])):
        try:
            if 1900 <= int(year) <= 2199:
                return date(int(year), int(month), int(day)).isoformat()
        except ValueError:
            continue
    return None


def _subfile_text(data: bytes, kind: bytes, offset: int, length: int, header_end: int) -> bytes | None:
    chunk = data[offset:offset + length]
    if chunk.startswith(kind):
        return chunk[len(kind):]
    found = re.search(re.escape(kind) + rb"(?=D[A-Z]{2})", data[header_end:])
    if found is None:
        return None
    start = header_end + found.end()
    end = data.find(b"\r", start)
    return data[start:end if end >= 0 else len(data)]


def parse_aamva(payload: bytes) -> AamvaRecord | None:
    """The AAMVA record in ``payload``, or ``None`` when it is not one or is malformed (no field is
    ever guessed). Only the first ``MAX_PAYLOAD`` bytes are read."""
    data = payload[:MAX_PAYLOAD]
    head = _HEADER.search(data[:16 + 6 + 2])
    if head is None:
        return None
    iin, version = head.group(1).decode(), int(head.group(2))
    pos = head.end() + (2 if version >= 2 else 0)  # the jurisdiction's version, from version 2 on
    count = data[pos:pos + 2]
    if not count.isdigit():
        return None
    pos += 2
    for _ in range(min(int(count), 10)):
        designator = data[pos:pos + 10]
        pos += 10
        match = re.fullmatch(rb"([A-Z]{2})(\d{4})(\d{4})", designator)
        if match is None:
            return None
        kind = match.group(1)
        if kind not in (b"DL", b"ID"):
            continue
        body = _subfile_text(data, kind, int(match.group(2)), int(match.group(3)), pos)
        elements = _elements(body) if body is not None else {}
        if elements:
            return AamvaRecord(iin, version, kind.decode(), elements)
    return None


def _elements(body: bytes) -> dict[str, str]:
    elements: dict[str, str] = {}
    text = body.decode("latin-1")
    for piece in re.split(r"[\n\r]", text):
        match = _ELEMENT.fullmatch(piece.strip())
        if match is None:
            continue
        # A barcode is data from outside: no control characters or invisible marks reach any output.
        value = " ".join(clean_text(match.group(2)).split())[:MAX_VALUE]
        if value.upper() not in _EMPTY and match.group(1) not in elements:
            elements[match.group(1)] = value
    return elements


def _box(points: Sequence[tuple[int, int]], width: int, height: int) -> BBox:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    pad = int(PAD * max(max(xs) - min(xs), max(ys) - min(ys))) + 2
    return (max(0, min(xs) - pad), max(0, min(ys) - pad), min(width, max(xs) + pad + 1),
            min(height, max(ys) + pad + 1))


def read_barcodes(image: Image.Image) -> list[FoundBarcode]:
    """Every supported barcode zxing-cpp finds on ``image``, top to bottom."""
    import zxingcpp  # loaded only when a page is read

    formats = (zxingcpp.BarcodeFormat.PDF417 | zxingcpp.BarcodeFormat.QRCode
               | zxingcpp.BarcodeFormat.MicroQRCode | zxingcpp.BarcodeFormat.DataMatrix
               | zxingcpp.BarcodeFormat.Aztec | zxingcpp.BarcodeFormat.Code128
               | zxingcpp.BarcodeFormat.Code39)
    gray = image.convert("L")
    found = []
    for code in zxingcpp.read_barcodes(gray, formats=formats):
        p = code.position
        corners = [(pt.x, pt.y) for pt in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)]
        name = code.format.name  # "PDF417", "QRCode", "DataMatrix"...
        found.append(FoundBarcode(name, _box(corners, *image.size), bytes(code.bytes[:MAX_PAYLOAD])))
    return sorted(found, key=lambda b: (b.bbox[1], b.bbox[0]))
