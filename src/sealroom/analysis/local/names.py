"""Person names without an NER model: labels, titles, payment phrases and a first-name lexicon."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any

from presidio_analyzer import RecognizerResult

from sealroom.analysis.local import checks
from sealroom.analysis.local.labels import FieldLabel
from sealroom.analysis.local.recognizers import RegexRecognizer


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Capitalised words that end a name or show that a "name" is not a person (general document words).
STOP_WORDS = _words("""
a an and the of to in on at by for from with as or not no is are was be this that these those
account accounts acct address admission admitted age agreement amount apt ave avenue balance bank
beginning birth blvd box branch card care center centre charge check cheque city clinic code
comments company confidential contact copay county credit customer date deposit deposits description
detail diagnosis discharge dob doctor dollars dr due effective email emergency ending er exp expires
fax fee female fields first floor follow from group health history home hospital id information
insurance issued lab laboratory last lease license licence male main medical medication member memo
mr mrs ms mrn name national note notes number order page patient pay payment period phone physician
plan policy premises primary provider range received record reference rent report reported result
results road room routing rx sex signature signed social specialist statement status street
subscriber suite summary surgery tel telephone tenant landlord test total transaction transfer
type unit urgent withdrawals yes zip services service department dept office form reason visit
notice notices witness whereof governing law entire state section term utilities security rd ln
st way court ct drive lane place terrace plaza online atm pos debit ach direct dep zelle faster
payroll mktplace pmts pmt grocery pharmacy streaming fuel station water util electric monthly
outlet purchase withdrawal continued questions visit any fdic collected verified ordering
attending disposition course medications follow-up daughter son wife husband mother father
brother sister spouse partner guardian reviewed released approved prepared electronically
eyes hgt wgt hair dl ln fn iss
npi ssn ein tin nhs upin dea clia acc class restrictions endorsements donor veteran driver
drivers identification passport nationality sample void copy original duplicate
inc llc ltd corp co plc university college school bank union trust financial savings
one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand
million only cents
""")

ORG_WORDS = _words("""
bank hospital clinic health plan services group inc llc ltd corp company center centre medical
insurance credit union university college school pharmacy laboratory labs lab associates partners
foundation trust department office county city state government agency systems solutions
""")

CREDENTIALS = _words("""
md do rn np pa pa-c phd dds dmd dpm od mt mls ascp mt(ascp) cpa esq jd mba msn bsn lpn cna crna
facs facp dnp pharmd ms ma mph jr sr ii iii iv
""")

TITLES = r"(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof|Sir|Dame|Rev|Hon)"
# Latin letters with diacritics ("Søren Kjær", "ÁLVAREZ", "Wiśniewska") count as letters of a name.
UPPER = r"A-ZÀ-ÖØ-ÞĀ-Ž"
LETTERS = r"A-Za-zÀ-ÖØ-öø-ÿĀ-ž"
_NAME_WORD = rf"[{UPPER}][{LETTERS}'’`-]*[{LETTERS}]"


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    """The lexicon of common given names (lower case)."""
    text = resources.files("sealroom.analysis.local").joinpath("data/first_names.txt").read_text("utf-8")
    return frozenset(w.strip().lower() for w in text.splitlines() if w.strip() and not w.startswith("#"))


def _clean_word(w: str) -> str:
    return w.strip(".,;:()'\"’`").lower()


def is_name_word(w: str) -> bool:
    """A capitalised word that may be part of a person's name (not a document word or credential)."""
    return bool(w[:1].isupper()) and _is_name_word(w) and _clean_word(w) not in ORG_WORDS \
        and not re.fullmatch(TITLES + r"\.?", w)


def _is_name_word(w: str) -> bool:
    if re.fullmatch(rf"[{UPPER}]\.?,?", w):
        return True
    c = _clean_word(w)
    return len(c) >= 1 and c not in STOP_WORDS and c not in CREDENTIALS and not any(ch.isdigit() for ch in w)


def trim_name(value: str, *, single_word_ok: bool = False) -> tuple[int, int] | None:
    """The span of the person name at the start of ``value``, or ``None`` when it is not a name.

    Stops at credentials ("MD"), document words and labels; rejects organisation names.
    """
    words = list(re.finditer(r"\S+", value))
    kept: list[re.Match[str]] = []
    for w in words:
        raw = w.group(0)
        core = _clean_word(raw)
        if not core or core in CREDENTIALS or not _is_name_word(raw) or not raw[0].isupper():
            if core in ORG_WORDS and raw[0].isupper():
                return None
            break
        kept.append(w)
        if raw.endswith(",") and sum(len(_clean_word(k.group(0))) >= 2 for k in kept) >= 2:
            break
        if raw.endswith((";", ":", ")")):
            break
        if len(kept) == 4:
            break
    if not kept:
        return None
    cores = [_clean_word(k.group(0)) for k in kept]
    if any(c in ORG_WORDS for c in cores):
        return None
    long_words = [c for c in cores if len(c) >= 2]
    if not long_words:
        return None
    if len(long_words) < 2 and not single_word_ok and long_words[0] not in first_names():
        return None
    end = kept[-1].end()
    while end > kept[0].start() and value[end - 1] in ",;:":
        end -= 1
    return kept[0].start(), end


def validate_labelled_value(label: FieldLabel, value: str) -> tuple[int, int] | None:
    """The span of a labelled value worth reporting (type-specific checks), or ``None``."""
    if label.entity_type == "PERSON":
        return trim_name(value, single_word_ok=label.single_word_ok)
    v = value.rstrip(" .,;")
    if label.entity_type == "ADDRESS":
        lower = re.search(r" (?=[a-z])", v)  # running text after the address ("..., WI 87794 together")
        v = v[: lower.start()].rstrip(" .,;") if lower else v
    if not v:
        return None
    digits = checks.ocr_digits(v)
    if label.entity_type in ("MRN", "HEALTH_PLAN_ID", "ID_NUMBER", "BANK_ACCOUNT"):
        if sum(ch.isdigit() for ch in v) < 3 or len(v) < 4:
            return None
        if label.entity_type == "BANK_ACCOUNT" and len(digits) < 4:
            return None
    if label.entity_type == "ROUTING_NUMBER" and len(digits) not in (6, 9):
        return None
    if label.entity_type == "NPI" and not checks.npi_ok(digits):
        return None
    if label.entity_type == "SSN" and not (checks.ssn_ok(digits) or "x" in v.lower() or "*" in v):
        return None
    return 0, len(v)


class PersonRecognizer(RegexRecognizer):
    """Names after titles ("Dr. Stewart"), payment phrases ("TRANSFER TO"), and lexicon names."""

    _PHRASES = re.compile(
        r"(?i:transfer (?:to|from)|payment (?:to|from)|paid to|received from|faster payment"
        r"|zelle(?: payment)?(?: to| from)?|venmo(?: to| from)?|wire (?:to|from)|deposit from|refund to"
        r"|check to|attn:?|c/o|dear|signed by|between|(?:grand)?(?:son|daughter)|wife|husband|mother|father"
        r"|brother|sister|spouse|partner|guardian|parent|friend|neighbou?r|caregiver|niece|nephew|aunt"
        r"|uncle|order to|direct debit (?:to|from)|bill payment to|paid from|transfer"
        # narrative and letters: "The patient, Ana Lin,", "seen by", "follow-up with", "Sincerely,"
        r"|(?:the )?patient|(?:seen|evaluated|examined|treated|accompanied|witnessed) by"
        r"|(?:follow[- ]?up|consult(?:ation)?|spoke|met|discussed|appointment|visit) ?with"
        r"|sincerely|regards|respectfully|faithfully|yours truly"
        # bank rows: "STANDING ORDER JANE DOE", "DIRECT DEBIT", "BACS CREDIT FROM"
        r"|standing order(?: to| from)?|direct debit|(?:bacs|chaps|fps|sepa)(?: credit| payment| transfer)?"
        r"(?: to| from)?|cheque (?:to|from)),?\s+$"
    )

    def __init__(self) -> None:
        super().__init__("PERSON", [], "SealroomPersonRecognizer")
        self._title = re.compile(
            rf"\b{TITLES}\.? (?P<v>{_NAME_WORD}(?: (?:{_NAME_WORD}|[{UPPER}]\.?(?![{LETTERS}]))){{0,2}})")
        self._word = re.compile(rf"(?<![\w'’-]){_NAME_WORD}")
        self._last_first = re.compile(rf"(?<![\w-])(?P<last>{_NAME_WORD}), (?P<first>{_NAME_WORD})"
                                      rf"(?: [{UPPER}]\.?(?![\w]))?")

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        out: list[RecognizerResult] = []
        names = first_names()
        for m in self._title.finditer(text):
            span = trim_name(m.group("v"), single_word_ok=True)
            if span:
                out.append(self._result(m.start("v") + span[0], m.start("v") + span[1], 0.85))
        for m in self._last_first.finditer(text):
            if m.group("first").lower() in names and _is_name_word(m.group("last")) \
                    and len(m.group("last")) > 2:
                out.append(self._result(m.start(), m.end(), 0.8))
        last_end = -1
        for m in self._word.finditer(text):
            start = m.start()
            if start < last_end:
                continue
            lexical = _clean_word(m.group(0)) in names
            if not lexical and not self._phrase_ends_at(text, start):
                continue
            stop = re.search(r"  |\n", text[start:])
            value = text[start:start + stop.start()] if stop else text[start:]
            span = trim_name(value)
            if span and span[1] - span[0] > len(m.group(0)):
                out.append(self._result(start + span[0], start + span[1], 0.7 if lexical else 0.6))
                last_end = start + span[1]
        return out

    def _phrase_ends_at(self, text: str, pos: int) -> bool:
        return self._PHRASES.search(text[max(0, pos - 30):pos]) is not None
