"""Extraction on the offline engine: filling a JSON Schema from the labelled fields and tables it read.

A property is filled from a field whose printed label matches the property's ``x-sealroom-labels``,
title or name; a specific entity type may fill it when the page holds exactly one such value; arrays
of objects are filled only from a real table whose header names their properties. Personal data is
only ever taken from what the recognisers found. Nothing is guessed: what is not found stays ``null``.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any

from sealroom.analysis.local.layout import PageLayout, Segment
from sealroom.analysis.models import AnalysisResult, Entity, ExtractedField
from sealroom.analysis.tasks import ENTITY_KEYWORD, LABELS_KEYWORD

# Entity types too broad to fill a property on their own: a page usually holds several of each.
_AMBIGUOUS_TYPES = frozenset({
    "PERSON", "DATE", "ADDRESS", "PHONE", "PHONE_NUMBER", "EMAIL", "EMAIL_ADDRESS", "ID_NUMBER", "LOCATION",
})
_MONEY = re.compile(
    r"(?<![\d./])(?:[-−]\s?)?(?:[$€£]\s?-?\d[\d,]*(?:\.\d{1,2})?|\d{1,3}(?:,\d{3})*\.\d{2}|\d+\.\d{2})(?![\d./]*\d)"
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_TIME = r"(?:[ T](?P<h>\d{1,2}):(?P<mi>\d{2})(?::\d{2})?(?: ?(?P<ap>[AaPp])\.?[Mm]\.?)?)?"
_DATE_FORMS = (
    re.compile(r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})" + _TIME),
    re.compile(r"(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<y>\d{4})" + _TIME),
    re.compile(r"(?P<mon>[A-Za-z]{3,9})\.? (?P<d>\d{1,2}),? (?P<y>\d{4})" + _TIME),
    re.compile(r"(?P<d>\d{1,2})[ -](?P<mon>[A-Za-z]{3,9})\.?[ -](?P<y>\d{4})" + _TIME),
)


# --- extract -----------------------------------------------------------------------------------------


def normalise_label(text: str) -> str:
    """A label reduced for comparison: case folded, everything but letters and digits dropped."""
    return "".join(re.findall(r"[^\W_]+", text.casefold()))


def _labels(name: str, schema: Mapping[str, Any]) -> list[str]:
    """The printed labels a property answers to, most specific first: its labels, title, then name."""
    labels = schema.get(LABELS_KEYWORD)
    out = [str(label) for label in labels] if isinstance(labels, list) else []
    if isinstance(schema.get("title"), str):
        out.append(schema["title"])
    out.append(name.replace("_", " "))
    return [label for label in dict.fromkeys(out) if normalise_label(label)]


def _types(schema: Mapping[str, Any]) -> set[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {str(item) for item in kind}
    return {"string"}  # no type: any value is allowed, text is what the engine reads


def _is_array_of_objects(schema: Mapping[str, Any]) -> bool:
    items = schema.get("items")
    return "array" in _types(schema) and isinstance(items, Mapping) and (
        "object" in _types(items) or isinstance(items.get("properties"), Mapping)
    )


def _entity(schema: Mapping[str, Any]) -> str | None:
    value = schema.get(ENTITY_KEYWORD)
    return value if isinstance(value, str) else None


def _is_date(schema: Mapping[str, Any]) -> bool:
    """A property that wants a date: ``format: date``, ISO in its description or a date entity type."""
    entity = (_entity(schema) or "").upper()
    return schema.get("format") in ("date", "date-time") \
        or "YYYY-MM-DD" in str(schema.get("description", "")) \
        or any(word in entity.split("_") for word in ("DATE", "DOB", "BIRTH"))


def iso_date(text: str) -> str | None:
    """``text`` as ISO 8601 (``YYYY-MM-DD``, ``THH:MM`` added when a time is printed) when the date is
    unambiguous: a 4-digit year, and day and month told apart (by a month name or a day over 12)."""
    for form in _DATE_FORMS:
        m = form.fullmatch(text.strip())
        if m is None:
            continue
        parts = m.groupdict()
        year = int(parts["y"])
        if parts.get("mon"):
            if parts["mon"][:3].lower() not in _MONTHS:
                return None
            month, day = _MONTHS.index(parts["mon"][:3].lower()) + 1, int(parts["d"])
        elif parts.get("a"):
            a, b = int(parts["a"]), int(parts["b"])
            if a > 12 >= b:
                day, month = a, b
            elif b > 12 >= a or a == b:
                month, day = a, b
            else:
                return None  # 03/04/2020: April 3rd or March 4th
        else:
            month, day = int(parts["m"]), int(parts["d"])
        try:
            out = date(year, month, day).isoformat()
        except ValueError:
            return None
        if parts.get("h"):
            hour = int(parts["h"])
            if parts.get("ap"):
                hour = hour % 12 + (12 if parts["ap"].lower() == "p" else 0)
            out += f"T{hour:02d}:{parts['mi']}"
        return out
    return None


def parse_amount(text: str) -> float | None:
    """A printed amount (``$4,218.37``, ``-$3,391.55``, ``(12.00)``) as a number; ``None`` otherwise."""
    clean = re.sub(r"\s|[$€£]", "", text.strip()).replace("−", "-")
    negative = clean.startswith("(") and clean.endswith(")")
    clean = clean.strip("()")
    if not re.fullmatch(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?", clean):
        return None
    value = float(clean.replace(",", ""))
    return -value if negative else value


def _convert(text: str, schema: Mapping[str, Any]) -> Any:
    """The value for a property from printed ``text``, or ``None`` when it cannot take it honestly."""
    text = " ".join(text.split())
    if not text:
        return None
    types = _types(schema)
    value: Any = None
    if "string" in types:
        value = (iso_date(text) or text) if _is_date(schema) else text
    elif types & {"number", "integer"}:
        value = parse_amount(text)
        if value is not None and "number" not in types:
            value = int(value) if value.is_integer() else None
    enum = schema.get("enum")
    if value is not None and isinstance(enum, list):
        value = next((item for item in enum if str(item).casefold() == str(value).casefold()), None)
    return value


def _edit_distance_at_most_one(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    return a[i + 1:] == b[i + 1:] if len(a) == len(b) else a[i:] == b[i + 1:]


class Extractor:
    """Fills a schema from one analysis: labelled fields first, then unambiguous entities, then text."""

    def __init__(self, result: AnalysisResult, layouts: Sequence[PageLayout]) -> None:
        self._result = result
        self._fields = list(result.fields)
        self._layouts = list(layouts)
        self._used: set[int] = set()
        self._used_text: set[tuple[int, int]] = set()
        self._taken: set[str] = set()
        self._leaf_types: Counter[str] = Counter()
        # One field per filled personal-data property, named by its path (``parties[0].name``).
        self.typed: list[ExtractedField] = []

    def object(self, schema: Mapping[str, Any], path: str) -> dict[str, Any]:
        """An instance of object ``schema`` with every property filled or ``None`` (arrays ``[]``)."""
        if not path:
            self._leaf_types = Counter(entity for _, sub in _walk(schema) if (entity := _entity(sub)))
        out: dict[str, Any] = {}
        for name, sub in (schema.get("properties") or {}).items():
            here = f"{path}.{name}" if path else str(name)
            if not isinstance(sub, Mapping):
                out[name] = None
            elif _is_array_of_objects(sub):
                out[name] = self._table(sub["items"], here)
            elif "array" in _types(sub):
                out[name] = []
            elif "object" in _types(sub) or isinstance(sub.get("properties"), Mapping):
                inner = self.object(sub, here)
                filled = any(value not in (None, []) for value in inner.values())
                out[name] = inner if filled or "null" not in _types(sub) else None
            else:
                out[name] = self._leaf(str(name), sub, here)
        return out

    def _leaf(self, name: str, schema: Mapping[str, Any], path: str) -> Any:
        labels = [normalise_label(label) for label in _labels(name, schema)]
        entity = _entity(schema)
        for label in labels:
            for index, item in enumerate(self._fields):
                if index in self._used or normalise_label(item.name) != label:
                    continue
                value = _convert(item.value, schema)
                if value is not None:
                    self._used.add(index)
                    self._taken.add(normalise_label(item.value))
                    kind = entity or item.entity_type or self._type_in(item.value)
                    self._record(path, value, kind, item.page, item.bbox)
                    return value
        if entity and entity.upper() not in _AMBIGUOUS_TYPES and self._leaf_types[entity] == 1:
            found = _only_entity(self._result.entities, entity)
            value = _convert(found.text, schema) if found else None
            if found is not None and value is not None:
                self._taken.add(normalise_label(found.text))
                self._record(path, value, entity, found.page, found.bbox)
                return value
        if entity is None:  # personal data comes only from what the recognisers found, never from raw text
            found_text = self._labelled_text(_labels(name, schema), schema)
            if found_text is not None:
                value, page, text = found_text
                self._record(path, value, self._type_in(text), page, None)
                return value
        return None

    def _record(self, path: str, value: Any, entity: str | None, page: int, bbox: Any) -> None:
        if entity:
            self.typed.append(ExtractedField(path, str(value), page, bbox, entity))

    def _type_in(self, text: str) -> str | None:
        """The type of an entity found inside ``text``: a reformatted value (an ISO date) is no longer
        found by masking's search for the printed one, so it must carry the type itself."""
        folded = " ".join(text.split()).casefold()
        for entity in self._result.entities:
            value = " ".join(entity.text.split()).casefold()
            if len(value) >= 3 and value in folded:
                return entity.type
        return None

    def _labelled_text(self, labels: list[str], schema: Mapping[str, Any]) -> tuple[Any, int, str] | None:
        """``(value, page index, printed text)`` after one of ``labels`` at a cell start: ``Memo: rent``.

        Text needs a colon after the label and ends at a column break; an amount is the first one
        after the label on its line (``Opening Balance on 12/01/2025   $4,218.37``).
        """
        amount = "string" not in _types(schema)
        tail = r"(?P<rest>[^\n]*)" if amount else r"[ ]?(?:#[ ]?)?:[ ]*(?P<rest>\S[^\n]*?)(?=  |[ ]*$)"
        for label in labels:
            words = re.findall(r"[^\W_]+", label)
            head = r"(?:^|(?<=  )|(?<=\| ))" + r"[ .#/-]*".join(map(re.escape, words)) + r"(?![^\W_])"
            rx = re.compile(head + tail, re.IGNORECASE | re.MULTILINE)
            for page_number, page in enumerate(self._result.pages):
                for m in rx.finditer(page.text):
                    if (page_number, m.start()) in self._used_text:
                        continue
                    money = _MONEY.search(m.group("rest")) if amount else None
                    text = (money.group(0) if money else "") if amount else m.group("rest")
                    if not text or (not amount and normalise_label(text) in self._taken):
                        continue  # already given to another property
                    value = _convert(text, schema)
                    if value is not None:
                        self._used_text.add((page_number, m.start()))
                        self._taken.add(normalise_label(text))
                        return value, page.index, text
        return None

    def _table(self, items: Mapping[str, Any], path: str) -> list[dict[str, Any]]:
        """Rows of a table whose header cells are labels of ``items``' properties (e.g. lab results)."""
        leaves = {
            str(name): sub for name, sub in (items.get("properties") or {}).items()
            if isinstance(sub, Mapping) and not _is_array_of_objects(sub) and "object" not in _types(sub)
        }
        labels = {name: [normalise_label(label) for label in _labels(name, sub)]
                  for name, sub in leaves.items()}
        rows: list[dict[str, Any]] = []
        for layout, page in zip(self._layouts, self._result.pages, strict=False):
            for cells in _table_rows(layout, labels):
                row: dict[str, Any] = {name: None for name in (items.get("properties") or {})}
                for name, text in cells.items():
                    row[name] = _convert(text, leaves[name])
                if any(value is not None for value in row.values()):
                    here = f"{path}[{len(rows)}]"
                    for name, text in cells.items():
                        kind = _entity(leaves[name]) or self._type_in(text)
                        if row[name] is not None:
                            self._record(f"{here}.{name}", row[name], kind, page.index, None)
                    rows.append(row)
        return rows


def _walk(schema: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, Mapping):
            yield str(name), sub
            yield from _walk(sub)
            if isinstance(sub.get("items"), Mapping):
                yield from _walk(sub["items"])


def _only_entity(entities: Sequence[Entity], entity_type: str) -> Entity | None:
    """The entity of ``entity_type`` when the document holds exactly one distinct value of that type."""
    of_type = [entity for entity in entities if entity.type.upper() == entity_type.upper()]
    values = {" ".join(entity.text.split()).casefold() for entity in of_type}
    return of_type[0] if len(values) == 1 else None


def _header_name(text: str, labels: Mapping[str, list[str]]) -> str | None:
    """The property a header cell names; one letter of OCR damage is forgiven on longer labels."""
    cell = normalise_label(text)
    for name, options in labels.items():
        if cell in options:
            return name
    for name, options in labels.items():
        if len(cell) >= 5 and any(len(option) >= 5 and _edit_distance_at_most_one(cell, option)
                                  for option in options):
            return name
    return None


def _table_rows(layout: PageLayout, labels: Mapping[str, list[str]]) -> Iterator[dict[str, str]]:
    """``{property: cell text}`` for each row under every header row of ``layout``.

    A header row has at least two cells naming distinct properties; its cells split the page into
    columns at the middle of the gaps between them. Each segment of a row below goes to the column
    its centre falls in. The table ends at a row spanning fewer than two columns or after a wide gap.
    """
    rows: dict[int, list[Segment]] = {}
    for seg in layout.segments:
        rows.setdefault(seg.row, []).append(seg)
    numbers = sorted(rows)
    for position, number in enumerate(numbers):
        header = sorted(rows[number], key=lambda seg: seg.bbox[0])
        names = [_header_name(layout.segment_text(seg), labels) for seg in header]
        if len({name for name in names if name}) < 2:
            continue
        cuts = [(left.bbox[2] + right.bbox[0]) / 2 for left, right in itertools.pairwise(header)]
        height = max(1, header[0].bbox[3] - header[0].bbox[1])
        bottom = max(seg.bbox[3] for seg in header)
        for below in numbers[position + 1:]:
            segs = sorted(rows[below], key=lambda seg: seg.bbox[0])
            if min(seg.bbox[1] for seg in segs) - bottom > 2.5 * height:
                break
            cells: dict[int, list[str]] = {}
            for seg in segs:
                centre = (seg.bbox[0] + seg.bbox[2]) / 2
                column = sum(centre >= cut for cut in cuts)
                cells.setdefault(column, []).append(layout.segment_text(seg).strip())
            if len(cells) < 2 or any(_header_name(" ".join(texts), labels) for texts in cells.values()):
                break
            bottom = max(seg.bbox[3] for seg in segs)
            yield {name: " ".join(texts) for column, texts in cells.items() if (name := names[column])}
