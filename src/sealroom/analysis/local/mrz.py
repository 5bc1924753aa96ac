"""Machine-readable zones (ICAO Doc 9303): found in OCR text, parsed, every check digit validated.

Formats: TD3 (passports, 2 lines of 44), TD2 (2 x 36), TD1 (ID cards, 3 x 30), and the visas MRV-A
(2 x 44) and MRV-B (2 x 36), whose second line has no composite check digit.

OCR of an MRZ is noisy in known ways, which ``read_zones`` undoes before parsing: spaces inside a
line, the filler ``<`` read as ``«``/``‹``/``(`` or as runs of ``K``, a filler run one or two
characters too long or short, and letters read for digits (``O`` for ``0``) in fields that can only
hold digits (and the reverse in fields of letters). Nothing is corrected in a field that may hold both
(the document number, the optional data): the check digits are there to catch errors, so a misread
there is reported as a failed check, never guessed away.

The check digit (Doc 9303 part 3, 4.9): each character's value (digits as themselves, ``A``-``Z`` as
10-35, ``<`` as 0) weighted 7, 3, 1, 7, 3, 1, ... and summed, modulo 10.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

FILLER = "<"
LENGTHS = {"TD1": 30, "TD2": 36, "TD3": 44}
MAX_LENGTH_FIX = 3
"""The most characters a line may miss or have too many (all taken from or given to a filler run)."""
_FILLER_LOOKALIKES = str.maketrans({"«": "<", "‹": "<", "〈": "<", "＜": "<", "(": "<", "{": "<", "[": "<"})
_TO_DIGIT = str.maketrans("OQDUIL|ZSBGT", "000011125867")
_TO_LETTER = str.maketrans("01258", "OIZSB")
_LINE_CHARS = re.compile(r"[A-Z0-9<]+")
_DOC_TYPES = "PVIAC"


def char_value(char: str) -> int:
    """The value of one MRZ character for check digits; ``ValueError`` for any other character."""
    if char.isdigit():
        return int(char)
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    if char == FILLER:
        return 0
    raise ValueError(f"not an MRZ character: {char!r}")


def check_digit(data: str) -> int:
    """The ICAO 9303 check digit of ``data`` (weights 7, 3, 1 repeated; sum modulo 10)."""
    weights = (7, 3, 1)
    return sum(char_value(char) * weights[i % 3] for i, char in enumerate(data)) % 10


@dataclass(frozen=True)
class MrzCheck:
    """One check digit: the field it covers, whether it matched."""

    name: str
    ok: bool


@dataclass(frozen=True)
class MrzData:
    """What an MRZ says. Dates are ``YYMMDD`` as printed; ``birth_date_iso``/``expiry_date_iso`` place
    them in a century. ``valid`` is true only when every check digit matched."""

    format: str
    document_type: str
    issuing_state: str
    surname: str
    given_names: str
    document_number: str
    nationality: str
    birth_date: str
    sex: str
    expiry_date: str
    optional_data: str
    checks: tuple[MrzCheck, ...]
    spans: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """Field name → ``(line, start, end)`` of the field in the normalised lines."""

    @property
    def valid(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed_checks(self) -> list[str]:
        return [check.name for check in self.checks if not check.ok]

    def birth_date_iso(self, today: date | None = None) -> str | None:
        """``YYYY-MM-DD``: a birth year that would lie in the future is taken from the last century."""
        year = (today or date.today()).year
        return _iso(self.birth_date, lambda yy: 2000 + yy if 2000 + yy <= year else 1900 + yy)

    def expiry_date_iso(self) -> str | None:
        """``YYYY-MM-DD``; expiry years are taken as 2000-2069 (ICAO documents postdate 1970)."""
        return _iso(self.expiry_date, lambda yy: 2000 + yy if yy < 70 else 1900 + yy)


def _iso(yymmdd: str, century: Callable[[int], int]) -> str | None:
    if not re.fullmatch(r"\d{6}", yymmdd):
        return None
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    try:
        return date(century(yy), mm, dd).isoformat()
    except ValueError:
        return None


def _digits(value: str) -> str:
    return value.translate(_TO_DIGIT)


def _letters(value: str) -> str:
    return value.translate(_TO_LETTER)


def _check(name: str, data: str, digit: str) -> MrzCheck:
    """``digit`` (``<`` counts as 0, as for an empty optional field) against ``data``."""
    digit = _digits(digit)
    if digit == FILLER:
        digit = "0"
    try:
        return MrzCheck(name, digit.isdigit() and int(digit) == check_digit(data))
    except ValueError:
        return MrzCheck(name, False)


def _clean(value: str) -> str:
    return value.replace(FILLER, " ").strip()


def _name(value: str) -> tuple[str, str]:
    surname, _, given = value.strip(FILLER).partition(FILLER * 2)
    return _clean(_letters(surname)), " ".join(_clean(_letters(given)).split())


def _long_number(number: str, digit: str, optional: str) -> tuple[str, str, str, int]:
    """A document number longer than 9 characters (TD1/TD2): its check digit is ``<`` and the rest
    of the number, then its check digit, open the optional data. ``(number, digit, optional, used)``."""
    if digit != FILLER or not optional.strip(FILLER):
        return number, digit, optional, 0
    head = optional.split(FILLER, 1)[0]
    if len(head) < 2:
        return number, digit, optional, 0
    return number + head[:-1], head[-1], optional[len(head):], len(head)


def parse_lines(lines: Sequence[str]) -> MrzData | None:
    """Parse normalised MRZ lines (upper case, exact length); ``None`` if they are no MRZ layout."""
    lines = [line.upper() for line in lines]
    if not lines or any(not _LINE_CHARS.fullmatch(line) for line in lines):
        return None
    n = len(lines[0])
    if any(len(line) != n for line in lines) or lines[0][0] not in _DOC_TYPES:
        return None
    if len(lines) == 3 and n == 30:
        return _td1(lines)
    if len(lines) == 2 and n in (36, 44):
        return _two_line(lines, n)
    return None


def _two_line(lines: Sequence[str], n: int) -> MrzData | None:
    one, two = lines
    visa = one[0] == "V"
    fmt = ("MRVA" if n == 44 else "MRVB") if visa else ("TD3" if n == 44 else "TD2")
    surname, given = _name(one[5:])
    number, number_digit = two[0:9], two[9]
    birth, birth_digit, sex = _digits(two[13:19]), two[19], two[20]
    expiry, expiry_digit = _digits(two[21:27]), two[27]
    optional_end = n if visa else n - 1
    optional = two[28:optional_end]
    checks = []
    used = 0
    if fmt == "TD3":
        optional, optional_digit = two[28:42], two[42]
        checks_optional = [_check("optional_data", optional, optional_digit)]
    else:
        checks_optional = []
        if fmt == "TD2":
            number, number_digit, optional, used = _long_number(number, number_digit, optional)
    checks.append(_check("document_number", number, number_digit))
    checks.append(_check("birth_date", birth, birth_digit))
    checks.append(_check("expiry_date", expiry, expiry_digit))
    checks += checks_optional
    if not visa:
        composite = two[0:10] + two[13:20] + two[21:n - 1]
        composite = composite[:10] + _digits(composite[10:17]) + _digits(composite[17:24]) + composite[24:]
        checks.append(_check("composite", composite, two[n - 1]))
    spans = {
        "name": (0, 5, 5 + len(one[5:].rstrip(FILLER))),
        "document_number": (1, 0, 9 + (used + 1 if used else 0)),
        "birth_date": (1, 13, 19),
        "nationality": (1, 10, 13),
        "optional_data": (1, 28 + used, 28 + used + len(optional.rstrip(FILLER))),
    }
    return MrzData(
        format=fmt, document_type=_clean(_letters(one[0:2])), issuing_state=_letters(one[2:5]),
        surname=surname, given_names=given, document_number=_clean(number),
        nationality=_letters(two[10:13]), birth_date=birth, sex=_sex(sex), expiry_date=expiry,
        optional_data=_clean(optional), checks=tuple(checks), spans=spans,
    )


def _td1(lines: Sequence[str]) -> MrzData:
    one, two, three = lines
    number, number_digit, optional_one, used = _long_number(one[5:14], one[14], one[15:30])
    birth, birth_digit, sex = _digits(two[0:6]), two[6], two[7]
    expiry, expiry_digit = _digits(two[8:14]), two[14]
    optional_two = two[18:29]
    composite = one[5:30] + _digits(two[0:7]) + _digits(two[8:15]) + two[18:29]
    checks = (
        _check("document_number", number, number_digit),
        _check("birth_date", birth, birth_digit),
        _check("expiry_date", expiry, expiry_digit),
        _check("composite", composite, two[29]),
    )
    surname, given = _name(three)
    optional = " ".join(part for part in (_clean(optional_one), _clean(optional_two)) if part)
    spans = {
        "name": (2, 0, len(three.rstrip(FILLER))),
        "document_number": (0, 5, 15 + used),
        "birth_date": (1, 0, 6),
        "nationality": (1, 15, 18),
        "optional_data": (0, 15 + used, 15 + used + len(optional_one.rstrip(FILLER))),
        "optional_data_2": (1, 18, 18 + len(optional_two.rstrip(FILLER))),
    }
    return MrzData(
        format="TD1", document_type=_clean(_letters(one[0:2])), issuing_state=_letters(one[2:5]),
        surname=surname, given_names=given, document_number=_clean(number),
        nationality=_letters(two[15:18]), birth_date=birth, sex=_sex(sex), expiry_date=expiry,
        optional_data=optional, checks=checks, spans=spans,
    )


def _sex(char: str) -> str:
    return char if char in "MF" else "X" if char in "X<" else "?"


# --- finding zones in OCR text ------------------------------------------------------------------------


@dataclass(frozen=True)
class MrzLine:
    """A normalised line and, for each of its characters, the offset in the source text it came from."""

    text: str
    offsets: tuple[int, ...]


@dataclass(frozen=True)
class MrzZone:
    """A parsed zone: its lines (normalised) and where each raw line lies in the source text."""

    data: MrzData
    lines: tuple[MrzLine, ...]
    line_spans: tuple[tuple[int, int], ...]

    def source_span(self, name: str) -> tuple[int, int] | None:
        """Offsets ``[start, end)`` in the source text of field ``name`` (``None`` if empty)."""
        where = self.data.spans.get(name)
        if where is None or where[2] <= where[1]:
            return None
        line = self.lines[where[0]]
        return line.offsets[where[1]], line.offsets[where[2] - 1] + 1


def _k_runs(chars: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Runs of ``K`` that stand for fillers: three or more, or two or more beside a filler or at the
    line's end (no name has ``KKK``; ``KK<`` is rarer than ``<<<`` read badly)."""
    text = "".join(c for c, _ in chars)
    out = list(chars)
    for m in re.finditer(r"K{2,}", text):
        before = text[m.start() - 1] if m.start() else ""
        after = text[m.end()] if m.end() < len(text) else ""
        if len(m.group(0)) >= 3 or FILLER in (before, after) or not after:
            for i in range(m.start(), m.end()):
                out[i] = (FILLER, chars[i][1])
    return out


def _upper_one(c: str) -> str:
    upper = c.upper()
    return upper if len(upper) == 1 else "?"  # not an MRZ character either way: counted as stray


def _normalise(raw: str, start: int) -> list[tuple[str, int]] | None:
    """The raw line's characters (upper case, no spaces, fillers mapped) with their source offsets;
    ``None`` when it does not look like an MRZ line."""
    chars: list[tuple[str, int]] = []
    # One character in, one out: "ß".upper() is "SS", which would shift every offset after it.
    kept = [(_upper_one(c), start + i) for i, c in enumerate(raw) if not c.isspace()]
    for i, (c, offset) in enumerate(kept):
        # A lone "«" between letters is the surname/given-names separator "<<" read as one glyph;
        # after the document type letter, or beside other fillers, it is one filler.
        between = 0 < i < len(kept) - 1 and kept[i - 1][0].isalpha() and kept[i + 1][0].isalpha()
        double = c == "«" and between and i != 1
        chars += [(c.translate(_FILLER_LOOKALIKES), offset)] * (2 if double else 1)
    stray = [i for i, (c, _) in enumerate(chars) if not ("A" <= c <= "Z" or "0" <= c <= "9" or c == FILLER)]
    if len(stray) > 2 or len(chars) < LENGTHS["TD1"] - MAX_LENGTH_FIX:
        return None
    for i in stray:
        chars[i] = (FILLER, chars[i][1])
    return _k_runs(chars)


def _fit(chars: list[tuple[str, int]], length: int) -> MrzLine | None:
    """``chars`` made exactly ``length`` long by growing or shrinking its longest filler run (the
    trailing one on a tie): OCR drops or doubles fillers, whose count it cannot see."""
    diff = length - len(chars)
    if abs(diff) > MAX_LENGTH_FIX:
        return None
    if diff:
        text = "".join(c for c, _ in chars)
        runs = sorted(re.finditer(r"<+", text), key=lambda m: (len(m.group(0)), m.start()))
        if not runs or len(runs[-1].group(0)) + diff < 1:
            return None
        run = runs[-1]
        if diff > 0:
            chars = chars[:run.end()] + [(FILLER, chars[run.end() - 1][1])] * diff + chars[run.end():]
        else:
            chars = chars[:run.end() + diff] + chars[run.end():]
    return MrzLine("".join(c for c, _ in chars), tuple(offset for _, offset in chars))


def _score(data: MrzData) -> tuple[int, int]:
    return sum(check.ok for check in data.checks), -len(data.checks)


def read_zones(text: str) -> list[MrzZone]:
    """Every MRZ in ``text`` (one visual row per line, as the OCR layout gives it), parsed."""
    rows: list[tuple[int, int, list[tuple[str, int]] | None]] = []
    position = 0
    for raw in text.split("\n"):
        rows.append((position, position + len(raw), _normalise(raw, position)))
        position += len(raw) + 1
    zones: list[MrzZone] = []
    i = 0
    while i < len(rows):
        best: tuple[tuple[int, int], MrzZone] | None = None
        for count, length in ((2, 44), (2, 36), (3, 30)):
            group = rows[i:i + count]
            if len(group) < count or any(chars is None for _, _, chars in group):
                continue
            fitted = [_fit(chars, length) for _, _, chars in group if chars is not None]
            if any(line is None for line in fitted):
                continue
            lines = tuple(line for line in fitted if line is not None)
            data = parse_lines([line.text for line in lines])
            if data is None or FILLER not in lines[0].text:
                continue
            zone = MrzZone(data, lines, tuple((s, e) for s, e, _ in group))
            if best is None or _score(data) > best[0]:
                best = (_score(data), zone)
        if best is None:
            i += 1
            continue
        zones.append(best[1])
        i += len(best[1].lines)
    return zones
