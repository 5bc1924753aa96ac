"""Page orientation before redaction: PII can only be burned out of text the offline OCR can read.

A page scanned sideways or upside down reads as fragments ("Pag ot syn s do ed"), so no personal
data is found and nothing would be burned out. Before redacting, a page whose text reads poorly is
tried in the other three orientations and the most legible one is kept (and sent: a model reads it
better upright too). A page whose text stays illegible in every orientation is refused: its personal
data cannot be found, so it cannot be redacted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from PIL import Image

from sealroom.analysis.models import AnalysisEngine, AnalysisResult, PageImage
from sealroom.analysis.progress import reporting
from sealroom.errors import AnalysisError

TRY_OTHER_ORIENTATIONS_BELOW = 0.75
"""Upright printed pages score 0.64–0.91 on the dev corpus; the same pages turned score 0.14–0.68."""
ILLEGIBLE_BELOW = 0.45
MIN_TOKENS_TO_JUDGE = 15
"""A page with fewer words (a photo, a nearly empty form) is not judged by its words."""

_WORD = re.compile(r"[^\W\d_]+")


def legibility(text: str) -> tuple[float, int]:
    """``(share of letter runs at least 3 letters long, number of letter runs)`` of OCR text.

    Text read the right way up is mostly words; read sideways or upside down it breaks into runs of
    one or two letters.
    """
    runs = _WORD.findall(text)
    if not runs:
        return 0.0, 0
    return sum(len(run) >= 3 for run in runs) / len(runs), len(runs)


def upright_share(analysis: AnalysisResult) -> float:
    """Share of the findings whose boxes are wider than tall (text lying the way it is read).

    The OCR turns tall text lines before reading them, so a page lying on its side can read well;
    its findings then sit in tall boxes.
    """
    boxes = [entity.bbox for entity in analysis.entities if entity.bbox is not None]
    if not boxes:
        return 1.0
    return sum((x1 - x0) >= (y1 - y0) for x0, y0, x1, y1 in boxes) / len(boxes)


def _score(analysis: AnalysisResult) -> float:
    text = analysis.pages[0].text if analysis.pages else ""
    return legibility(text)[0] + 0.1 * upright_share(analysis)


@dataclass(frozen=True)
class Oriented:
    """Pages turned to their most legible orientation, the offline analysis of those pages, and the
    rotation applied to each page (degrees counter-clockwise)."""

    pages: list[PageImage]
    analysis: AnalysisResult
    rotations: dict[int, int]


def orient_for_redaction(
    pages: Sequence[PageImage], upright: AnalysisResult, engine: AnalysisEngine
) -> Oriented:
    """Turn poorly legible pages to their most legible orientation and analyse them there.

    ``upright`` is the offline analysis of ``pages`` as they are. Raises ``AnalysisError``
    (``redaction_unreliable``) for a page that reads as fragments whichever way up it is.
    """
    texts = {page.index: page.text for page in upright.pages}
    out_pages = list(pages)
    entities = list(upright.entities)
    page_texts = list(upright.pages)
    fields = list(upright.fields)
    rotations: dict[int, int] = {}
    for position, page in enumerate(pages):
        own = _page_analysis(upright, page.index)
        score, count = legibility(texts.get(page.index, ""))
        # An engine that turns pages itself to read them (the offline engine) says by how much; the
        # page is then sent that way up, read once more there so the boxes fit the turned page.
        known = next((text.rotation for text in upright.pages if text.index == page.index), 0)
        if not known and (count < MIN_TOKENS_TO_JUDGE or (
            score >= TRY_OTHER_ORIENTATIONS_BELOW and upright_share(own) >= 0.5
        )):
            continue
        best: tuple[float, int, AnalysisResult | None, Image.Image | None] = (_score(own), 0, None, None)
        if known:
            best = (-1.0, 0, None, None)  # whatever the turned read scores, it is the one to send
        for trial in (known,) if known else (90, 180, 270):
            image = page.image.rotate(trial, expand=True)
            with reporting(None):  # a trial read is not part of the document's page progress
                trial_analysis = engine.analyze([PageImage(page.index, image)])
            trial_score = _score(trial_analysis)
            if trial_score > best[0]:
                best = (trial_score, trial, trial_analysis, image)
        _, angle, analysis, turned = best
        best_text = (analysis or own).pages[0].text if (analysis or own).pages else ""
        if legibility(best_text)[0] < ILLEGIBLE_BELOW:
            raise AnalysisError(
                f"page {page.index + 1} cannot be read reliably in any orientation, so its personal data "
                "cannot be found and burned out; nothing was sent. Use the local engine for this image.",
                reason="redaction_unreliable",
            )
        if analysis is None or turned is None:
            continue
        rotations[page.index] = angle
        out_pages[position] = PageImage(page.index, turned)
        entities = [e for e in entities if e.page != page.index] + list(analysis.entities)
        fields = [f for f in fields if f.page != page.index] + list(analysis.fields)
        page_texts = [analysis.pages[0] if text.index == page.index else text for text in page_texts]
    if not rotations:
        return Oriented(list(pages), upright, {})
    combined = replace(upright, pages=page_texts, entities=entities, fields=fields)
    return Oriented(out_pages, combined, rotations)


def _page_analysis(result: AnalysisResult, index: int) -> AnalysisResult:
    """The part of a multi-page result that belongs to page ``index``."""
    return replace(
        result,
        pages=[page for page in result.pages if page.index == index],
        entities=[entity for entity in result.entities if entity.page == index],
        fields=[item for item in result.fields if item.page == index],
    )
