"""The four tasks on the offline engine: its full analysis reshaped into a summary, a class, data or quotes.

The offline engine reads every page the same way whatever the task; this module only turns what it
found into the task's output. Nothing is invented: a schema property that no printed label fills stays
``null``, and a question is answered by quoting the document's own lines. Summaries and errors name
kinds and counts of personal data, never values.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any

from sealroom.analysis.local.layout import COLUMN_BREAK, PageLayout, Segment
from sealroom.analysis.models import AnalysisResult, AnalysisTask, Entity, ExtractedField
from sealroom.analysis.tasks import ENTITY_KEYWORD, LABELS_KEYWORD, validation_problems
from sealroom.errors import AnalysisError

MAX_QUOTED_LINES = 3
MAX_TITLE_CHARS = 80
MAX_LISTED_FIELDS = 30
ASK_PREFIX = "Lines of the document that match the question:"
ASK_NO_MATCH = (
    "No line of the document matches the question; the offline engine can only quote the document "
    "— choose a model engine for a free-form answer."
)

_TYPE_PHRASES = {
    "clinical": "A clinical document",
    "financial": "A financial document",
    "identity": "An identity document",
    "legal": "A legal document",
}
# Entity types too broad to fill a property on their own: a page usually holds several of each.
_AMBIGUOUS_TYPES = frozenset({
    "PERSON", "DATE", "ADDRESS", "PHONE", "PHONE_NUMBER", "EMAIL", "EMAIL_ADDRESS", "ID_NUMBER", "LOCATION",
})
_STOP_WORDS = frozenset(re.findall(r"[a-z]+", """
a about an and any are as at be been by can could did do does for from had has have how i if in into is it
its me my of on or our please show shows tell that the their them there these this those to was we were
what when where which who whom whose why will with would you your document documents page pages image
written printed say says give find list value
"""))
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


def run_task(
    result: AnalysisResult, task: AnalysisTask, layouts: Sequence[PageLayout] = ()
) -> AnalysisResult:
    """Add ``task``'s output to the full analysis ``result`` (changed in place and returned).

    ``layouts`` are the pages as read (same order as ``result.pages``); extraction uses them to read
    table columns. Raises ``AnalysisError`` when extracted data does not satisfy the task's schema.
    """
    result.task = task.kind
    result.schema_name = task.schema_name
    if task.kind == "describe":
        result.answer = describe(result)
    elif task.kind == "classify":
        result.answer = classification(result)
    elif task.kind == "ask":
        result.answer = quote_lines(result, task.question or "")
    else:
        if task.schema is None:
            raise AnalysisError("an extract task needs a schema")
        extractor = _Extractor(result, layouts)
        result.data = extractor.object(task.schema, "")
        problems = validation_problems(task.schema, result.data)
        if problems:
            shown = "; ".join(problems[:5]) + ("; …" if len(problems) > 5 else "")
            raise AnalysisError(
                f"the offline engine's output does not satisfy the schema ({shown}); it leaves unread "
                'properties null, so allow null ("type": ["string", "null"]) or choose a model engine'
            )
        # Path-named fields let masking hide each personal-data value by its schema's type.
        result.fields.extend(extractor.typed)
    return result


# --- describe and classify ---------------------------------------------------------------------------


def describe(result: AnalysisResult) -> str:
    """A short factual summary: type, pages, title line, field names and entity counts (never values)."""
    pages = len(result.pages)
    kind = _TYPE_PHRASES.get(result.document_type, "A document of no recognised type")
    title = _title(result)
    headed = f', headed "{title}".' if title else "."
    sentences = [f"{kind} of {pages} page{'s' if pages != 1 else ''}{headed}"]
    if not result.text.strip():
        sentences.append("No text was read from it.")
    names = list(dict.fromkeys(item.name for item in result.fields))
    if names:
        listed = ", ".join(names[:MAX_LISTED_FIELDS]) + (", …" if len(names) > MAX_LISTED_FIELDS else "")
        sentences.append(f"Labelled fields found: {len(result.fields)} ({listed}).")
    else:
        sentences.append("No labelled fields were found.")
    counts = Counter(entity.type for entity in result.entities)
    if counts:
        kinds = ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        sentences.append(f"Personal data found: {sum(counts.values())} items ({kinds}).")
    else:
        sentences.append("No personal data was found.")
    return " ".join(sentences)


def _title(result: AnalysisResult) -> str | None:
    """The first cell of the first line, unless it holds anything found as personal data."""
    if not result.pages:
        return None
    page = result.pages[0]
    first = page.text.split("\n", 1)[0]
    cell = first.split(COLUMN_BREAK, 1)[0]
    start = len(cell) - len(cell.lstrip())
    title = cell.strip()
    end = start + len(title)
    if not re.search(r"[^\W\d_]{2}", title) or len(title) > MAX_TITLE_CHARS:
        return None
    for entity in result.entities:
        overlaps = entity.page == page.index and entity.start is not None and entity.end is not None \
            and entity.start < end and start < entity.end
        if overlaps or _contains(title, entity.text):
            return None
    if any(item.entity_type and _contains(title, item.value) for item in result.fields):
        return None
    return title


def _contains(text: str, value: str) -> bool:
    return len(value.strip()) >= 3 and value.strip().casefold() in text.casefold()


def classification(result: AnalysisResult) -> str:
    """One line naming the document type and its confidence."""
    if result.document_type == "other":
        return f"Document type: other, none of clinical, financial, identity or legal " \
               f"(confidence {result.document_type_confidence:.2f})."
    return f"Document type: {result.document_type} (confidence {result.document_type_confidence:.2f})."


# --- ask ---------------------------------------------------------------------------------------------


def _words(text: str) -> set[str]:
    """Content words, lower case, possessives and plural ``s`` dropped."""
    out = set()
    for word in re.findall(r"[^\W_]+", re.sub(r"['’]s\b", "", text.casefold())):
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.add(word)
    return out


def quote_lines(result: AnalysisResult, question: str) -> str:
    """The document's lines that share the most (and rarest) content words with ``question``."""
    wanted = _words(question) - _STOP_WORDS
    lines = [
        (number, line.strip())
        for number, page in enumerate(result.pages, start=1)
        for line in page.text.split("\n")
        if line.strip()
    ]
    line_words = [_words(line) for _, line in lines]
    seen = Counter(word for words in line_words for word in words & wanted)
    scored = []
    for position, words in enumerate(line_words):
        common = words & wanted
        if common:
            weight = sum(math.log(1 + len(lines) / seen[word]) for word in common)
            scored.append((-len(common), -weight, position))
    if not scored:
        return ASK_NO_MATCH
    several_pages = len(result.pages) > 1
    quoted = []
    for _, _, position in sorted(scored)[:MAX_QUOTED_LINES]:
        number, line = lines[position]
        quoted.append(f"- (page {number}) {line}" if several_pages else f"- {line}")
    return "\n".join([ASK_PREFIX, *quoted])


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


class _Extractor:
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
