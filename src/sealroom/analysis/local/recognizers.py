"""Sealroom's own Presidio recognisers for identifiers, contact data, dates and addresses.

Each recogniser is a set of regular expressions plus a validator (check digits, ranges, context);
none needs an NLP model and none touches the network. Entity type names follow the corpus README
(``SSN``, ``PHONE``, ``ROUTING_NUMBER``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from presidio_analyzer import EntityRecognizer, RecognizerResult

from sealroom.analysis.local import checks
from sealroom.analysis.local.labels import COMPILED, FieldLabel, label_match_ok, open_label

Validator = Callable[[re.Match[str], str], float | None]


@dataclass(frozen=True)
class Rule:
    """A regex (group ``v`` is the value when present) with a base score and optional validator."""

    regex: re.Pattern[str]
    score: float
    validate: Validator | None = None


def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def _line_before(text: str, pos: int, width: int = 40) -> str:
    start = max(text.rfind("\n", 0, pos) + 1, pos - width)
    return text[start:pos]


class RegexRecognizer(EntityRecognizer):
    """A recogniser made of :class:`Rule` objects for one entity type."""

    def __init__(self, entity: str, rules: Sequence[Rule], name: str) -> None:
        self.rules = list(rules)
        self._name = name
        super().__init__(supported_entities=[entity], name=name, supported_language="en")

    def load(self) -> None:
        """Nothing to load: rules are compiled at construction."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        out: list[RecognizerResult] = []
        for rule in self.rules:
            for m in rule.regex.finditer(text):
                score: float | None = rule.score
                if rule.validate is not None:
                    score = rule.validate(m, text)
                if score is None or score <= 0:
                    continue
                grp = "v" if "v" in rule.regex.groupindex and m.group("v") is not None else 0
                s, e = m.span(grp)
                out.append(self._result(s, e, score))
        return out

    def _result(self, start: int, end: int, score: float, **meta: str) -> RecognizerResult:
        metadata = {"recognizer_name": self._name, "recognizer_identifier": self.id, **meta}
        return RecognizerResult(self.supported_entities[0], start, end, min(score, 1.0),
                                recognition_metadata=metadata)


# --- numbers with check digits ----------------------------------------------------------------

_D = r"[0-9OolI]"


def _ssn_validate(m: re.Match[str], text: str) -> float | None:
    digits = checks.ocr_digits(m.group("v"))
    if not checks.ssn_ok(digits):
        return None
    ctx = _line_before(text, m.start("v")).lower()
    return 0.95 if ("ssn" in ctx or "social" in ctx) else 0.8


def ssn_recognizer() -> RegexRecognizer:
    sep = r"[- .]"
    return RegexRecognizer("SSN", [
        Rule(_rx(rf"(?<![\d-])(?P<v>\d{_D}{{2}}{sep}{_D}{{2}}{sep}{_D}{{3}}\d)(?![\d-])"), 0.8,
             _ssn_validate),
        Rule(_rx(r"(?i:SSN|Social Security(?: No\.?| Number| #)?)\s?[:#]?\s*(?P<v>\d{9})(?!\d)"), 0.9,
             _ssn_validate),
    ], "SealroomSsnRecognizer")


def _npi_validate(m: re.Match[str], text: str) -> float | None:
    digits = checks.ocr_digits(m.group("v"))
    if not checks.npi_ok(digits):
        return None
    return 0.95 if "npi" in _line_before(text, m.start("v")).lower() else 0.45


def npi_recognizer() -> RegexRecognizer:
    return RegexRecognizer("NPI", [
        Rule(_rx(rf"(?<![\w.-])(?P<v>[12]{_D}{{9}})(?![\w-])"), 0.5, _npi_validate),
    ], "SealroomNpiRecognizer")


_ROUTING_CTX = ("routing", "aba", "rtn", "transit", "r/t")


def _aba_validate(m: re.Match[str], text: str) -> float | None:
    digits = checks.ocr_digits(m.group("v"))
    if not checks.aba_ok(digits):
        return None
    ctx = _line_before(text, m.start("v")).lower()
    if any(c in ctx for c in _ROUTING_CTX):
        return 0.95
    if "account" in ctx or "acct" in ctx:
        return None
    return 0.55


def _sort_code_validate(m: re.Match[str], text: str) -> float | None:
    return 0.9 if "sort" in _line_before(text, m.start("v"), 30).lower() else None


def routing_recognizer() -> RegexRecognizer:
    return RegexRecognizer("ROUTING_NUMBER", [
        Rule(_rx(rf"(?<![\w.-])[⑆:|]?(?P<v>{_D}{{9}})(?![\w-])"), 0.55, _aba_validate),
        Rule(_rx(r"(?<![\w-])(?P<v>\d{2}-\d{2}-\d{2})(?![\w-])"), 0.9, _sort_code_validate),
    ], "SealroomRoutingRecognizer")


def _digits(m: re.Match[str]) -> str:
    return re.sub(r"\D", "", m.group(0))


class MicrRecognizer(RegexRecognizer):
    """The MICR line of a cheque: an ABA-valid routing number, then the account number.

    OCR reads the MICR symbols (transit, on-us) as stray letters or punctuation, so a line counts
    as MICR when most of its visible characters are digits.
    """

    def __init__(self) -> None:
        super().__init__("BANK_ACCOUNT", [], "SealroomMicrRecognizer")
        self.supported_entities = ["ROUTING_NUMBER", "BANK_ACCOUNT"]

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        out: list[RecognizerResult] = []
        for line in re.finditer(r"[^\n]+", text):
            visible = re.sub(r"\s", "", line.group(0))
            if len(visible) < 12 or sum(ch.isdigit() for ch in visible) < 0.7 * len(visible):
                continue
            # digit groups; OCR sometimes spaces out every MICR digit ("1 1 8 9 7 8 0 3 7")
            runs = [r for r in re.finditer(r"\d{2,17}|\d(?: \d(?!\d))+", line.group(0))
                    if 4 <= len(_digits(r)) <= 17]
            for i, run in enumerate(runs[:-1]):
                if len(_digits(run)) == 9 and checks.aba_ok(_digits(run)):
                    nxt = runs[i + 1]
                    base = line.start()
                    out.append(self._typed("ROUTING_NUMBER", base + run.start(), base + run.end(), 0.85))
                    if len(_digits(nxt)) >= 5:
                        out.append(self._typed("BANK_ACCOUNT", base + nxt.start(), base + nxt.end(), 0.8))
                    break
        return out

    def _typed(self, entity: str, start: int, end: int, score: float) -> RecognizerResult:
        res = self._result(start, end, score)
        res.entity_type = entity
        return res


def _card_validate(m: re.Match[str], text: str) -> float | None:
    digits = checks.ocr_digits(m.group("v"))
    return 1.0 if checks.card_ok(digits) else None


def card_recognizer() -> RegexRecognizer:
    grp = rf"{_D}{{4}}"
    return RegexRecognizer("CREDIT_CARD", [
        Rule(_rx(rf"(?<![\w-])(?P<v>{grp}(?:[ -]?{grp}){{2}}[ -]?{_D}{{1,7}})(?![\w-])"), 1.0,
             _card_validate),
        Rule(_rx(rf"(?<![\w-])(?P<v>3{_D}{{3}}[ -]?{_D}{{6}}[ -]?{_D}{{5}})(?![\w-])"), 1.0, _card_validate),
    ], "SealroomCardRecognizer")


def _iban_validate(m: re.Match[str], text: str) -> float | None:
    return 1.0 if checks.iban_ok(m.group("v")) or checks.iban_ok(checks.iban_ocr_fix(m.group("v"))) else None


def iban_recognizer() -> RegexRecognizer:
    return RegexRecognizer("IBAN", [
        Rule(_rx(r"(?<![A-Z0-9])(?P<v>[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)(?![A-Z0-9])"),
             1.0, _iban_validate),
    ], "SealroomIbanRecognizer")


# --- contact data ----------------------------------------------------------------------------

def email_recognizer() -> RegexRecognizer:
    """E-mail addresses by shape only (no public-suffix look-up, so no network)."""
    return RegexRecognizer("EMAIL", [
        Rule(_rx(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
             0.95),
    ], "SealroomEmailRecognizer")


def _phone_validate(m: re.Match[str], text: str) -> float | None:
    digits = checks.ocr_digits(m.group("v"))
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) == 10 and digits[0] in "01":
        return None
    ctx = _line_before(text, m.start("v"), 25).lower()
    if "fax" in ctx[-8:]:
        return 0.6
    return 0.85


def _intl_phone_validate(m: re.Match[str], text: str) -> float | None:
    n = len(checks.ocr_digits(m.group("v")))
    return 0.8 if 9 <= n <= 15 else None


def phone_recognizer() -> RegexRecognizer:
    us = (rf"(?<![\d/.-])(?P<v>(?:\+?1[ .-]?)?(?:\({_D}{{3}}\) ?|{_D}{{3}}[ .-]){_D}{{3}}[ .-]{_D}{{4}})"
          r"(?![\d-])")
    intl = r"(?<![\w/])(?P<v>\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,5})(?![\w-])"
    uk = r"(?<![\w/.-])(?P<v>\(?0\d{2,4}\)? ?\d{3,4} ?\d{3,4})(?![\w-])"
    return RegexRecognizer("PHONE", [
        Rule(_rx(us), 0.85, _phone_validate),
        Rule(_rx(intl), 0.8, _intl_phone_validate),
        Rule(_rx(uk), 0.5, lambda m, t: 0.6 if 10 <= len(re.sub(r"\D", "", m.group("v"))) <= 11
             and " " in m.group("v") else None),
    ], "SealroomPhoneRecognizer")


# --- dates -----------------------------------------------------------------------------------

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_RX = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
             r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
_TIME = r"(?: \d{1,2}:\d{2}(?::\d{2})?(?: ?[AaPp]\.?[Mm]\.?)?)?"
_NOT_PERSONAL_CTX = _rx(r"(?i:period|statement date|printed|as of|generated|revised|version)")
_DOB_CTX = _rx(r"(?i:date of birth|birth ?date|d\.?o\.?b\b|\bborn\b|birthday)")


def _year(y: str) -> int:
    n = int(y)
    if len(y) == 2:
        return 2000 + n if n < 40 else 1900 + n
    return n


def _month(name: str) -> int:
    return _MONTHS.index(name[:3].lower()) + 1


def _date_validate(m: re.Match[str], text: str) -> float | None:
    g = m.groupdict()
    try:
        if g.get("iy"):
            ok = checks.date_parts_ok(int(g["iy"]), int(g["im"]), int(g["id"]))
        elif g.get("ny"):
            a, b, y = int(g["na"]), int(g["nb"]), _year(g["ny"])
            ok = checks.date_parts_ok(y, a, b) or checks.date_parts_ok(y, b, a)
        elif g.get("my"):
            ok = checks.date_parts_ok(int(g["my"]), _month(g["mm"]), int(g["md"]))
        else:
            ok = checks.date_parts_ok(_year(g["dy"]), _month(g["dm"]), int(g["dd"]))
    except (ValueError, KeyError, TypeError):
        return None
    if not ok:
        return None
    if _NOT_PERSONAL_CTX.search(_line_before(text, m.start(), 40)) or _is_ledger_row(text, m):
        return None
    return 0.6


def _is_ledger_row(text: str, m: re.Match[str]) -> bool:
    """A transaction row ("06/03/2024 CARD PURCHASE ... 51.65 6,781.83"): its date is not personal."""
    line_start = text.rfind("\n", 0, m.start()) + 1
    line_end = text.find("\n", m.end())
    line_end = len(text) if line_end < 0 else line_end
    return not text[line_start:m.start()].strip() and \
        re.search(r"\d[\d,]*\.\d{2}\s*$", text[m.end():line_end]) is not None


def _dob(m: re.Match[str], text: str) -> float | None:
    base = _date_validate(m, text)
    if base is None:
        return None
    return 0.9 if _DOB_CTX.search(_line_before(text, m.start(), 30)) else None


_DATE_BODY = (
    r"(?:(?P<iy>(?:19|20)\d{2})[-/.](?P<im>\d{1,2})[-/.](?P<id>\d{1,2})"
    r"|(?P<na>\d{1,2})[-/.](?P<nb>\d{1,2})[-/.](?P<ny>(?:19|20)\d{2}|\d{2})"
    # spelled months: OCR may drop the spaces ("22February1963", "March 17,1984")
    rf"|(?<![A-Za-z])(?P<mm>(?i:{_MONTH_RX}))\.? ?(?P<md>\d{{1,2}})(?:st|nd|rd|th)?,? ?"
    rf"(?P<my>(?:19|20)\d{{2}})"
    rf"|(?P<dd>\d{{1,2}})(?:st|nd|rd|th)?[ -]?(?P<dm>(?i:{_MONTH_RX}))\.?,?[ -]?"
    rf"(?P<dy>(?:19|20)\d{{2}}|(?<=[ -])\d{{2}}))"
)


def date_recognizer() -> RegexRecognizer:
    rx = _rx(rf"(?<![\d/.-])(?:{_DATE_BODY}){_TIME}(?![\d/-])")
    return RegexRecognizer("DATE", [Rule(rx, 0.6, _date_validate)], "SealroomDateRecognizer")


def dob_recognizer() -> RegexRecognizer:
    rx = _rx(rf"(?<![\d/.-])(?:{_DATE_BODY})(?![\d/-])")
    compact = _rx(r"(?i:DOB|Date of Birth|Birth ?Date)\s?[:#]?\s*(?P<v>(?:19|20)\d{6})(?!\d)")
    return RegexRecognizer("DATE_OF_BIRTH", [
        Rule(rx, 0.9, _dob),
        Rule(compact, 0.9, lambda m, t: 0.9 if checks.date_parts_ok(
            int(m.group("v")[:4]), int(m.group("v")[4:6]), int(m.group("v")[6:])) else None),
    ], "SealroomDobRecognizer")


# --- addresses -------------------------------------------------------------------------------

_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY"
    "|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI"
)
_SUFFIX = (
    r"(?i:Street|St|Avenue|Ave|Av|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Way|Place|Pl|Terrace"
    r"|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Trail|Trl|Square|Sq|Close|Crescent|Cres|Gardens|Gdns|Grove"
    r"|Mews|Row|Hill|Loop|Pike|Run|Path|Walk|Alley|Plaza|Point|Pt|Ridge|Landing|Crossing|Xing|Commons)"
)
_UNIT = r"(?:,? (?i:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|Rm|Room|Bldg|#)\.? ?#?[A-Za-z0-9-]{1,6})?"
_WORD = r"[A-Z0-9][A-Za-z0-9'.-]*"
_CITY = r"(?:[A-Z]|0(?=[a-z]))[A-Za-z.'-]+(?: (?:[A-Z]|0(?=[a-z]))[A-Za-z.'-]+){0,3}"  # OCR: "0swego"
_ZIP = r"\d{5}(?:-\d{4})?"
_UK_POST = r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}"
_STATE_NAMES = (
    r"Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii"
    r"|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan"
    r"|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico"
    r"|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island"
    r"|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia"
    r"|Wisconsin|Wyoming"
)
_CITY_LINE = rf"{_CITY},? (?:(?:{_STATES})|(?i:{_STATE_NAMES}))\.? {_ZIP}"


def address_recognizer() -> RegexRecognizer:
    # a street name may end in a suffix word itself ("Cedar Ridge Crescent", "Park Lane Court")
    street = (rf"(?<![\w-])\d{{1,6}}[A-Z]?(?: {_WORD}){{1,4}}? {_SUFFIX}\.?(?: {_SUFFIX}\.?)?(?![A-Za-z])"
              rf"{_UNIT}"
              rf"(?:,? {_CITY_LINE}|,? {_CITY},? {_UK_POST})?")
    return RegexRecognizer("ADDRESS", [
        Rule(_rx(street), 0.85),
        Rule(_rx(r"(?<![\w-])(?i:P\.? ?O\.? Box) \d{1,6}"), 0.8),
        Rule(_rx(rf"(?<![\w-]){_CITY_LINE}(?![\w-])"), 0.85),
        Rule(_rx(rf"(?<![\w-]){_CITY},? {_UK_POST}(?![\w-])"), 0.7),
    ], "SealroomAddressRecognizer")


# --- machine-readable zone -------------------------------------------------------------------

def _mrz_validate(m: re.Match[str], text: str) -> float | None:
    v = m.group(0)
    return 0.95 if len(v) >= 20 and sum(c.isalnum() for c in v) >= 3 else None


def mrz_recognizer() -> RegexRecognizer:
    return RegexRecognizer("MRZ", [
        Rule(_rx(r"(?<![A-Za-z0-9<«])[A-Z0-9<«]*[<«]{2}[A-Z0-9<« ]*[A-Z0-9<«]"), 0.95, _mrz_validate),
    ], "SealroomMrzRecognizer")


# --- labelled values (value to the right of its label) -----------------------------------------

class LabelledValueRecognizer(RegexRecognizer):
    """Values introduced by a field label on the same row ("MRN: 28260283", "DL G19555516").

    Without a ``:`` the value must follow after one space; with one it may sit across a column
    break. The field name goes into the result's ``recognition_metadata["field"]``.
    """

    def __init__(self, validate_value: Callable[[FieldLabel, str], tuple[int, int] | None]) -> None:
        self._validate_value = validate_value
        super().__init__("LABELLED", [], "SealroomLabelledValueRecognizer")
        self.supported_entities = sorted({lab.entity_type for lab, _, _ in COMPILED if lab.entity_type})

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        out: list[RecognizerResult] = []
        for label, lrx, vrx in COMPILED:
            if label.entity_type is None:
                continue
            for m in lrx.finditer(text):
                if not label_match_ok(m):
                    continue
                gap = re.match(r"[ ]{0,6}" if open_label(m) else r" (?! )", text[m.end():])
                if gap is None:
                    continue
                vstart = m.end() + gap.end()
                vm = vrx.match(text, vstart)
                if vm is None:
                    continue
                span = self._validate_value(label, vm.group(0))
                if span is None:
                    continue
                s, e = vstart + span[0], vstart + span[1]
                score = 0.9 if m.group("colon") else 0.75
                if not checks.labelled_value_ok(label.entity_type, text[s:e]):
                    score = 0.6
                out.append(RecognizerResult(label.entity_type, s, e, score, recognition_metadata={
                    "recognizer_name": self._name, "recognizer_identifier": self.id, "field": label.name}))
        return out
