"""Personal data in a model's reply: a model may echo what it read, so its words are checked too.

The offline engine's text recognisers run over the reply (the answer and every extracted value), and
the entities the offline engine found on the pages (when it ran, e.g. for redaction) are added, so
masking hides each such value wherever the reply repeats it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from sealroom.analysis.models import AnalysisResult, Entity

OUTPUT_SOURCE = "SealroomModelOutput"

TextDetector = Callable[[str], list[Entity]]

MIN_NAME_PART = 3
MIN_DIGITS = 6
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "mx", "jr", "sr", "md", "phd"})


def variants(entity: Entity) -> list[str]:
    """Other ways a reply may write a value found on the page, so masking finds them too.

    A person's name parts on their own ("Whitfield" of "Eleanor R. Whitfield"); the digits of a
    number without its separators ("512384471" of "512-38-4471").
    """
    out: list[str] = []
    if "PERSON" in entity.type.upper() or "NAME" in entity.type.upper():
        for part in re.findall(r"[^\W\d_][\w'’-]*", entity.text):
            if len(part) >= MIN_NAME_PART and part.lower() not in _TITLES:
                out.append(part)
    digits = "".join(char for char in entity.text if char.isdigit())
    if len(digits) >= MIN_DIGITS and digits != entity.text:
        out.append(digits)
    return out


def mark_output_pii(result: AnalysisResult, detect: TextDetector, known: Sequence[Entity] = ()) -> None:
    """Add to ``result.entities`` the personal data found in its answer and values, and ``known``."""
    page = result.pages[0].index if result.pages else 0
    texts = [result.answer or ""] + [item.value for item in result.fields]
    found: list[Entity] = [
        Entity(entity.type, value, page, entity.bbox, entity.confidence, None, None, entity.source)
        for entity in known
        for value in (entity.text, *variants(entity))
    ]
    for text in texts:
        if not text.strip():
            continue
        for entity in detect(text):
            found.append(Entity(entity.type, entity.text, page, None, entity.confidence, None, None,
                                OUTPUT_SOURCE))
    seen: set[tuple[str, str]] = set()
    for entity in [*result.entities, *found]:
        key = (entity.type, entity.text)
        if entity.text and key not in seen:
            seen.add(key)
            if entity not in result.entities:
                result.entities.append(entity)
