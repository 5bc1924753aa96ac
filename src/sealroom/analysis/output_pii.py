"""Personal data in a model's reply: a model may echo what it read, so its words are checked too.

The offline engine's text recognisers run over the reply (the answer and every extracted value), and
the entities the offline engine found on the pages (when it ran, e.g. for redaction) are added, so
masking hides each such value wherever the reply repeats it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sealroom.analysis.models import AnalysisResult, Entity

OUTPUT_SOURCE = "SealroomModelOutput"

TextDetector = Callable[[str], list[Entity]]


def mark_output_pii(result: AnalysisResult, detect: TextDetector, known: Sequence[Entity] = ()) -> None:
    """Add to ``result.entities`` the personal data found in its answer and values, and ``known``."""
    page = result.pages[0].index if result.pages else 0
    texts = [result.answer or ""] + [item.value for item in result.fields]
    found: list[Entity] = [
        Entity(entity.type, entity.text, page, entity.bbox, entity.confidence, None, None, entity.source)
        for entity in known
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
