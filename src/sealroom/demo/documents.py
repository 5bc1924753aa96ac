"""Synthetic demo documents: a lab report (PNG), a bank statement (2-page PDF) and an ID card (JPEG).

Every name, number, date and address on them is invented. The identifiers are well-formed (the SSN
follows the area/group/serial rules, card numbers are Luhn-valid test numbers, the routing number,
IBAN and NPI carry valid check digits) so the recognisers find them as they would on real documents.
Rendering uses only Pillow's built-in scalable font and no randomness: the bytes are the same on
every run of the same Pillow version.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

LETTER_SIZE = (1275, 1650)
"""US Letter at 150 DPI."""
CARD_SIZE = (1012, 638)
"""ID-1 card (85.6 x 54 mm) at 300 DPI."""
PDF_RESOLUTION = 150.0

INK = (0, 0, 0)
PAPER = (255, 255, 255)
BAND = (228, 228, 228)
RULE = (90, 90, 90)

# The invented personal data, in one place so tests can look for it.
LAB_PATIENT = {
    "Patient Name": "Eleanor R. Whitfield",
    "MRN": "MRN-20473918",
    "Date of Birth": "03/17/1984",
    "Sex": "Female",
    "SSN": "512-38-4471",
    "Phone": "(312) 555-0147",
    "Address": "1842 Larkspur Lane, Springfield, IL 62704",
    "Email": "e.whitfield@example.com",
    "Encounter": "ENC-2026-0042",
}
LAB_ORDER = {
    "Ordering Physician": "Dr. Marcus T. Oyelaran",
    "NPI": "1729483655",
    "Insurance": "Lakeshore Health Plan",
    "Member ID": "LHP884211907",
    "Collected": "01/14/2026 08:32",
    "Reported": "01/14/2026 15:05",
    "Specimen": "Whole blood, serum",
    "Accession": "ACC-26-0114-0387",
}
LAB_RESULTS = (
    # test, result, units, reference range, flag
    ("WBC", "7.2", "10^3/uL", "4.0 - 11.0", ""),
    ("Hemoglobin", "11.8", "g/dL", "12.0 - 15.5", "L"),
    ("Hematocrit", "35.9", "%", "36.0 - 46.0", "L"),
    ("Platelets", "262", "10^3/uL", "150 - 400", ""),
    ("Glucose, fasting", "104", "mg/dL", "70 - 99", "H"),
    ("Sodium", "139", "mmol/L", "135 - 145", ""),
    ("Potassium", "4.1", "mmol/L", "3.5 - 5.1", ""),
    ("Creatinine", "0.84", "mg/dL", "0.57 - 1.00", ""),
    ("Hemoglobin A1c", "5.9", "%", "below 5.7", "H"),
    ("TSH", "2.31", "mIU/L", "0.45 - 4.50", ""),
)
BANK_HOLDER = {
    "Account Holder": "Daniel K. Ashworth",
    "Mailing Address": "77 Quarry Hill Road, Apt 4B, Burlington, VT 05401",
    "Phone": "(802) 555-0193",
    "Email": "d.ashworth@example.org",
}
BANK_ACCOUNT = {
    "Account Type": "Everyday Checking",
    "Account Number": "4829 1173 0056",
    "Routing Number": "071923844",
    "IBAN": "DE21 5072 0814 0391 7256 04",
    "Debit Card Number": "4111 1111 1111 1111",
    "Relationship ID": "ACCT-7731",
}
BANK_OPENING_BALANCE_CENTS = 421_837
BANK_TRANSACTIONS = (
    # date, description, amount in cents (negative: withdrawal)
    ("12/02", "PAYROLL DEPOSIT - NORTHFIELD ENGINEERING", 307_000),
    ("12/03", "GREEN MOUNTAIN POWER AUTOPAY", -14_217),
    ("12/05", "CITY MARKET 0412 BURLINGTON", -8_746),
    ("12/06", "ATM WITHDRAWAL - CHURCH ST", -10_000),
    ("12/08", "RENT - LAKEVIEW PROPERTY MGMT", -165_000),
    ("12/09", "CHECK 1043", -24_000),
    ("12/11", "ONLINE TRANSFER TO SAVINGS", -50_000),
    ("12/12", "CARD PURCHASE - PAGES BOOKSTORE", -3_625),
    ("12/15", "VERMONT GAS SYSTEMS", -9_840),
    ("12/16", "PAYROLL DEPOSIT - NORTHFIELD ENGINEERING", 307_000),
    ("12/18", "CARD PURCHASE - ALLEN HARDWARE", -6_412),
    ("12/19", "INTERNATIONAL WIRE FEE", -2_500),
    ("12/20", "CARD PURCHASE - ELM ST PHARMACY", -1_875),
    ("12/22", "AUTO INSURANCE PREMIUM", -13_190),
    ("12/23", "CARD PURCHASE - CITY MARKET", -15_231),
    ("12/27", "MOBILE PHONE BILL", -7_499),
    ("12/29", "CARD PURCHASE - ONE FEDERAL DINER", -5_820),
    ("12/30", "INTEREST PAYMENT", 137),
    ("12/31", "MONTHLY SERVICE FEE", -1_200),
)
BANK_FIRST_PAGE_ROWS = 13
ID_CARD = {
    "DL No": "F2758391",
    "Last Name": "CASTELLANOS",
    "First Name": "SOFIA MARIA",
    "Address": "905 JUNIPER CT",
    "City": "FAIRHAVEN, WA 98225",
    "Date of Birth": "08/22/1991",
    "Sex": "F",
    "Issued": "08/22/2022",
    "Expires": "08/22/2030",
    "Height": "5-06",
    "Eyes": "BRN",
    "Class": "C",
}
FICTION_NOTICE = "Synthetic demo document: all personal data on it is invented."


@dataclass(frozen=True)
class DemoDocument:
    """One sample file and the metadata the demo ingests it with."""

    filename: str
    data: bytes
    dataset: str
    classification: str
    case_id: str
    document_type: str
    description: str


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


class _Sheet:
    """A white page with a few drawing helpers (text, labelled values, rules, bands)."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.image = Image.new("RGB", size, PAPER)
        self.draw = ImageDraw.Draw(self.image)

    def text(self, x: int, y: int, text: str, size: int, *, bold: bool = False, anchor: str = "la") -> int:
        """Draw text with its top-left (or ``anchor``) at ``(x, y)``; return the x just after it."""
        stroke = 1 if bold else 0
        self.draw.text((x, y), text, fill=INK, font=_font(size), anchor=anchor, stroke_width=stroke,
                       stroke_fill=INK)
        return x + int(self.draw.textlength(text, font=_font(size)))

    def spaced(self, x: int, y: int, text: str, size: int) -> int:
        """Draw text with wide word gaps, so OCR keeps the spaces inside numbers (``4829 1173 0056``)."""
        for word in text.split(" "):
            x = self.text(x, y, word, size) + int(size * 0.7)
        return x

    def field(self, x: int, y: int, label: str, value: str, size: int) -> None:
        """Draw ``Label: value`` with a wide gap between them."""
        end = self.text(x, y, f"{label}:", size)
        self.spaced(end + int(size * 1.1), y, value, size)

    def rule(self, y: int, x0: int, x1: int, width: int = 2) -> None:
        self.draw.line([(x0, y), (x1, y)], fill=RULE, width=width)

    def band(self, x0: int, y0: int, x1: int, y1: int, fill: tuple[int, int, int] = BAND) -> None:
        self.draw.rectangle([x0, y0, x1, y1], fill=fill)

    def frame(self, x0: int, y0: int, x1: int, y1: int) -> None:
        self.draw.rectangle([x0, y0, x1, y1], outline=RULE, width=2)

    def section(self, y: int, title: str, margin: int) -> int:
        """A grey band with a bold title across the page; return the y below it."""
        width = self.image.width
        self.band(margin, y, width - margin, y + 40)
        self.text(margin + 12, y + 8, title, 24, bold=True)
        return y + 58


def _pairs(sheet: _Sheet, y: int, items: list[tuple[str, str]], columns: tuple[int, ...], size: int,
           step: int) -> int:
    """Lay labelled values out row by row across ``columns``; return the y below the last row."""
    for index, (label, value) in enumerate(items):
        column = index % len(columns)
        sheet.field(columns[column], y, label, value, size)
        if column == len(columns) - 1:
            y += step
    if len(items) % len(columns):
        y += step
    return y


def _footer(sheet: _Sheet, margin: int, page: int, pages: int) -> None:
    width, height = sheet.image.size
    sheet.rule(height - 90, margin, width - margin)
    sheet.text(margin, height - 72, FICTION_NOTICE, 20)
    sheet.text(width - margin, height - 72, f"Page {page} of {pages}", 20, anchor="ra")


def _lab_report_image() -> Image.Image:
    margin = 90
    sheet = _Sheet(LETTER_SIZE)
    right = LETTER_SIZE[0] - margin
    sheet.text(margin, 70, "RIVERBEND COMMUNITY HOSPITAL", 40, bold=True)
    sheet.text(margin, 124, "Department of Laboratory Medicine", 26)
    sheet.text(margin, 160, "2200 Harbor Avenue, Lakeside, IL 60601  |  Tel (312) 555-0100", 22)
    sheet.text(right, 76, "LABORATORY REPORT", 30, bold=True, anchor="ra")
    sheet.text(right, 124, "CLIA 14D0987654", 22, anchor="ra")
    sheet.rule(202, margin, right, 3)

    columns = (margin + 12, 690)
    y = sheet.section(226, "PATIENT INFORMATION", margin)
    patient = dict(LAB_PATIENT)
    address = patient.pop("Address")
    email, encounter = patient.pop("Email"), patient.pop("Encounter")
    y = _pairs(sheet, y, list(patient.items()), columns, 24, 44)
    y = _pairs(sheet, y, [("Address", address)], columns[:1], 24, 44)
    y = _pairs(sheet, y, [("Email", email), ("Encounter", encounter)], columns, 24, 44)

    y = sheet.section(y + 12, "ORDER AND INSURANCE", margin)
    y = _pairs(sheet, y, list(LAB_ORDER.items()), columns, 24, 44)

    y = sheet.section(y + 12, "RESULTS - CHEMISTRY AND HEMATOLOGY", margin)
    table = (margin + 12, 500, 650, 850, 1100)
    for x, title in zip(table, ("Test", "Result", "Units", "Reference Range", "Flag"), strict=True):
        sheet.text(x, y, title, 24, bold=True)
    y += 36
    sheet.rule(y, margin, right)
    y += 12
    for row in LAB_RESULTS:
        for x, cell in zip(table, row, strict=True):
            sheet.text(x, y, cell, 24)
        y += 40
    sheet.rule(y, margin, right)

    y += 30
    sheet.text(margin, y, "Comments:", 24, bold=True)
    comment = (
        "Mild normocytic anemia.",
        "Fasting glucose and HbA1c above the reference range.",
        "Suggest repeat HbA1c in 3 months and dietary counselling.",
    )
    for line in comment:
        y += 38
        sheet.text(margin + 12, y, line, 24)
    y += 70
    sheet.field(margin, y, "Electronically verified by", "Priya N. Halvorsen, MD, Laboratory Director", 24)
    _footer(sheet, margin, 1, 1)
    return sheet.image


def render_lab_report() -> bytes:
    """The lab report as a PNG (1275 x 1650, US Letter at 150 DPI)."""
    buffer = io.BytesIO()
    _lab_report_image().save(buffer, "PNG", dpi=(150, 150))
    return buffer.getvalue()


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


def _statement_pages() -> list[Image.Image]:
    margin = 90
    right = LETTER_SIZE[0] - margin
    deposits = sum(amount for _, _, amount in BANK_TRANSACTIONS if amount > 0)
    withdrawals = -sum(amount for _, _, amount in BANK_TRANSACTIONS if amount < 0)
    closing = BANK_OPENING_BALANCE_CENTS + deposits - withdrawals
    rows = (BANK_TRANSACTIONS[:BANK_FIRST_PAGE_ROWS], BANK_TRANSACTIONS[BANK_FIRST_PAGE_ROWS:])
    balance = BANK_OPENING_BALANCE_CENTS
    pages = []
    for number, chunk in enumerate(rows, start=1):
        sheet = _Sheet(LETTER_SIZE)
        sheet.text(margin, 70, "HARBORVIEW SAVINGS BANK", 40, bold=True)
        sheet.text(margin, 124, "PO Box 4410, Burlington, VT 05402  |  (802) 555-0110", 22)
        sheet.text(right, 76, "ACCOUNT STATEMENT", 30, bold=True, anchor="ra")
        sheet.text(right, 124, "December 1 - December 31, 2025", 22, anchor="ra")
        sheet.rule(166, margin, right, 3)
        columns = (margin + 12, 690)
        if number == 1:
            y = sheet.section(190, "ACCOUNT HOLDER", margin)
            holder = dict(BANK_HOLDER)
            address = holder.pop("Mailing Address")
            y = _pairs(sheet, y, [("Account Holder", holder.pop("Account Holder"))], columns[:1], 24, 44)
            y = _pairs(sheet, y, [("Mailing Address", address)], columns[:1], 24, 44)
            y = _pairs(sheet, y, list(holder.items()), columns, 24, 44)
            y = sheet.section(y + 12, "ACCOUNT DETAILS", margin)
            y = _pairs(sheet, y, list(BANK_ACCOUNT.items()), columns, 24, 44)
            y = sheet.section(y + 12, "SUMMARY", margin)
            summary = (
                ("Opening Balance on 12/01/2025", _money(BANK_OPENING_BALANCE_CENTS)),
                ("Total Deposits", _money(deposits)),
                ("Total Withdrawals", _money(-withdrawals)),
                ("Closing Balance on 12/31/2025", _money(closing)),
            )
            for label, total in summary:
                sheet.text(margin + 12, y, label, 24)
                sheet.text(right - 12, y, total, 24, anchor="ra")
                y += 40
        else:
            y = 190
            sheet.field(margin + 12, y, "Account Holder", BANK_HOLDER["Account Holder"], 24)
            sheet.field(690, y, "Account Number", BANK_ACCOUNT["Account Number"], 24)
            y += 56
        y = sheet.section(y + 12, "TRANSACTIONS" if number == 1 else "TRANSACTIONS (CONTINUED)", margin)
        headers = (("Date", margin + 12, "la"), ("Description", 200, "la"), ("Amount", 960, "ra"),
                   ("Balance", right - 12, "ra"))
        for title, x, anchor in headers:
            sheet.text(x, y, title, 24, bold=True, anchor=anchor)
        y += 36
        sheet.rule(y, margin, right)
        y += 12
        for date, description, amount in chunk:
            balance += amount
            cells = (date, description, _money(amount), _money(balance))
            for cell, (_, x, anchor) in zip(cells, headers, strict=True):
                sheet.text(x, y, cell, 24, anchor=anchor)
            y += 40
        sheet.rule(y, margin, right)
        if number == len(rows):
            y += 40
            notes = (
                "Questions about an electronic transfer? Call us within 60 days.",
                "Deposits are insured up to the applicable limits.",
                "Please keep this statement for your records.",
            )
            for line in notes:
                sheet.text(margin, y, line, 22)
                y += 34
        _footer(sheet, margin, number, len(rows))
        pages.append(sheet.image)
    return pages


def render_bank_statement() -> bytes:
    """The bank statement as a 2-page PDF (US Letter pages rendered at 150 DPI)."""
    first, *rest = _statement_pages()
    fixed = time.gmtime(1_767_312_000)  # 2026-01-02: a fixed date keeps the bytes deterministic
    buffer = io.BytesIO()
    first.save(buffer, "PDF", save_all=True, append_images=rest, resolution=PDF_RESOLUTION,
               title="Account Statement", creationDate=fixed, modDate=fixed)
    return buffer.getvalue()


def _id_card_image() -> Image.Image:
    width, height = CARD_SIZE
    sheet = _Sheet(CARD_SIZE)
    sheet.band(0, 0, width, 96, fill=(214, 226, 240))
    sheet.text(30, 14, "DRIVER LICENSE", 40, bold=True)
    sheet.text(30, 62, "Department of Licensing  -  USA", 22)
    sheet.text(width - 30, 24, "SPECIMEN", 30, bold=True, anchor="ra")
    # Photo placeholder: a plain silhouette, not a face.
    sheet.band(30, 126, 290, 456, fill=(200, 205, 212))
    sheet.draw.ellipse([105, 170, 215, 290], fill=(150, 156, 166))
    sheet.draw.chord([60, 300, 260, 520], 180, 360, fill=(150, 156, 166))
    sheet.frame(30, 126, 290, 456)
    x, y, step = 320, 122, 46
    card = dict(ID_CARD)
    sheet.field(x, y, "DL No", card.pop("DL No"), 28)
    y += step + 6
    for label in ("Last Name", "First Name", "Address"):
        sheet.field(x, y, label, card.pop(label), 26)
        y += step
    indent = int(sheet.draw.textlength("Address:", font=_font(26))) + 13
    sheet.text(x + indent, y - 4, card.pop("City"), 26)
    y += step
    pairs = [(label, card.pop(label)) for label in ("Date of Birth", "Sex", "Issued", "Expires")]
    y = _pairs(sheet, y, pairs, (x, 720), 26, step)
    y = _pairs(sheet, y, list(card.items()), (x, 540, 720), 26, step)
    sheet.rule(height - 92, 30, width - 30)
    sheet.text(30, height - 74, "Signature: Sofia M. Castellanos", 24)
    sheet.text(30, height - 40, FICTION_NOTICE, 18)
    return sheet.image


def render_id_card() -> bytes:
    """The ID card as a JPEG (1012 x 638, an ID-1 card at 300 DPI)."""
    buffer = io.BytesIO()
    _id_card_image().save(buffer, "JPEG", quality=92, dpi=(300, 300))
    return buffer.getvalue()


def demo_documents() -> list[DemoDocument]:
    """The demo's sample documents with the data set, classification, case and type to ingest them with."""
    return [
        DemoDocument(
            filename="lab-report-whitfield.png",
            data=render_lab_report(),
            dataset="clinical-records",
            classification="confidential",
            case_id="ENC-2026-0042",
            document_type="clinical",
            description="Laboratory report (CBC, chemistry) for an invented patient",
        ),
        DemoDocument(
            filename="bank-statement-ashworth.pdf",
            data=render_bank_statement(),
            dataset="finance-records",
            classification="confidential",
            case_id="ACCT-7731",
            document_type="financial",
            description="Two-page checking account statement with account, routing, IBAN and card numbers",
        ),
        DemoDocument(
            filename="id-card-castellanos.jpg",
            data=render_id_card(),
            dataset="identity-docs",
            classification="restricted",
            case_id="KYC-5520",
            document_type="identity",
            description="Driver license specimen for an invented person",
        ),
    ]
