"""Synthetic identity documents for tests: MRZ lines, AAMVA payloads, PDF417 images, a KYC copy.

Every person, number and state here is invented (``UTO`` is ICAO's fictitious Utopia). The check
digits of built MRZ lines come from ``sealroom.analysis.local.mrz.check_digit``, which the unit tests
hold against ICAO 9303's own specimens.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zxingcpp
from PIL import Image, ImageDraw, ImageFont

from sealroom.analysis.local.mrz import check_digit

FACE_PHOTO = Path(__file__).parent / "data" / "face_public_domain.jpg"

HOLDER = {
    "surname": "HALVORSEN",
    "given": "MARIT ELISE",
    "number": "X4R7Q2L91",
    "birth": "850317",
    "expiry": "310922",
    "personal": "K7T3309Q2",
}
LICENCE = {
    "DAQ": "W4419882",
    "DCS": "HALVORSEN",
    "DAC": "MARIT",
    "DAD": "ELISE",
    "DBB": "03171985",
    "DBA": "03172030",
    "DBD": "03172022",
    "DBC": "2",
    "DAY": "GRN",
    "DAU": "067 in",
    "DAG": "742 LARKSPUR LN",
    "DAI": "FALLBROOK",
    "DAJ": "CA",
    "DAK": "920280000",
    "DCF": "F7718230451",
    "DCG": "USA",
}


def pad(value: str, length: int) -> str:
    return (value + "<" * length)[:length]


def td3(surname: str, given: str, number: str, birth: str, sex: str, expiry: str, personal: str,
        state: str = "UTO") -> tuple[str, str]:
    one = pad(f"P<{state}{surname}<<{given.replace(' ', '<')}", 44)
    num, opt = pad(number, 9), pad(personal, 14)
    two = (f"{num}{check_digit(num)}{state}{birth}{check_digit(birth)}{sex}{expiry}{check_digit(expiry)}"
           f"{opt}{check_digit(opt)}")
    composite = two[0:10] + two[13:20] + two[21:43]
    return one, two + str(check_digit(composite))


def holder_mrz() -> tuple[str, str]:
    h = HOLDER
    return td3(h["surname"], h["given"], h["number"], h["birth"], "F", h["expiry"], h["personal"])


def aamva_payload(elements: dict[str, str], *, iin: str = "636014", version: int = 10,
                  subfile: str = "DL") -> bytes:
    """An AAMVA DL/ID payload: header, one subfile designator with a correct offset, the subfile."""
    body = subfile + "".join(f"{key}{value}\n" for key, value in elements.items())
    body = body[:-1] + "\r"
    jurisdiction = "01" if version >= 2 else ""
    header = f"@\n\x1e\rANSI {iin}{version:02d}{jurisdiction}01"
    offset = len(header) + 10
    return f"{header}{subfile}{offset:04d}{len(body):04d}{body}".encode("latin-1")


def pdf417(payload: bytes, scale: int = 3) -> Image.Image:
    code = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.PDF417)
    return Image.fromarray(np.asarray(code.to_image(scale=scale))).convert("RGB")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def kyc_copy() -> tuple[Image.Image, dict[str, tuple[int, int, int, int]]]:
    """A scanned KYC copy: a passport data page (portrait, printed fields, TD3 MRZ) above the back of
    a driving licence (AAMVA PDF417). Returns the image and where the photo and barcode were put."""
    page = Image.new("RGB", (1200, 1250), (250, 250, 246))
    draw = ImageDraw.Draw(page)
    draw.text((40, 30), "PASSPORT  UTOPIA", font=_font(40), fill=(20, 20, 60))
    face = Image.open(FACE_PHOTO).convert("RGB")
    photo_at = (50, 110)
    page.paste(face, photo_at)
    places = {"photo": (*photo_at, photo_at[0] + face.width, photo_at[1] + face.height)}
    rows = [("Surname", HOLDER["surname"]), ("Given names", HOLDER["given"]), ("Nationality", "UTOPIAN"),
            ("Date of birth", "17 MAR 1985"), ("Sex", "F"), ("Date of expiry", "22 SEP 2031"),
            ("Passport No", HOLDER["number"])]
    for i, (label, value) in enumerate(rows):
        draw.text((330, 110 + 40 * i), f"{label}: {value}", font=_font(26), fill=(0, 0, 0))
    for i, line in enumerate(holder_mrz()):
        draw.text((40, 430 + 50 * i), line, font=_font(30), fill=(0, 0, 0))
    draw.line((30, 560, 1170, 560), fill=(0, 0, 0), width=2)
    draw.text((40, 590), "DRIVER LICENSE - BACK", font=_font(32), fill=(0, 0, 0))
    code = pdf417(aamva_payload(LICENCE), scale=3)
    at = (60, 660)
    page.paste(code, at)
    places["barcode"] = (*at, at[0] + code.width, at[1] + code.height)
    return page, places
