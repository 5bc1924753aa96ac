"""The four tasks on the offline engine: its full analysis reshaped into a summary, a class, data or quotes.

The offline engine reads every page the same way whatever the task; this module only turns what it
found into the task's output. Nothing is invented: a schema property that no printed label fills stays
``null``, and a question is answered by quoting the document's own lines. Summaries and errors name
kinds and counts of personal data, never values.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from sealroom.analysis.local.extract import Extractor
from sealroom.analysis.local.layout import COLUMN_BREAK, PageLayout
from sealroom.analysis.models import AnalysisResult, AnalysisTask
from sealroom.analysis.tasks import validation_problems
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
_STOP_WORDS = frozenset(re.findall(r"[a-z]+", """
a about an and any are as at be been by can could did do does for from had has have how i if in into is it
its me my of on or our please show shows tell that the their them there these this those to was we were
what when where which who whom whose why will with would you your document documents page pages image
written printed say says give find list value
"""))
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
        extractor = Extractor(result, layouts)
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
