"""``LocalEngine``: the built-in offline engine (RapidOCR + Presidio with Sealroom's recognisers).

Pixels never leave the process (egress ``none``). Models load lazily, once, under a lock; after
that ``analyze`` may be called from several threads at once. Every task gets the same full analysis;
``sealroom.analysis.local.tasks`` adds the task's own output on top.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from sealroom.analysis import progress as analysis_progress
from sealroom.analysis.local import checks, identity
from sealroom.analysis.local.classify import classify
from sealroom.analysis.local.fields import find_field_hits, to_field
from sealroom.analysis.local.layout import PageLayout, read_layout
from sealroom.analysis.local.mapping import join_rows, place_span
from sealroom.analysis.local.names import STOP_WORDS, first_names, is_name_word, trim_name
from sealroom.analysis.local.ocr import OcrReader
from sealroom.analysis.local.tasks import run_task
from sealroom.analysis.models import (
    AnalysisResult,
    AnalysisTask,
    CallObserver,
    EngineInfo,
    Entity,
    ExtractedField,
    PageImage,
    PageText,
    TextRegion,
)
from sealroom.analysis.progress import ProgressCallback
from sealroom.errors import AnalysisError


@dataclass
class _Candidate:
    type: str
    start: int
    end: int
    score: float
    source: str


def build_analyzer() -> Any:
    """A Presidio ``AnalyzerEngine`` with only Sealroom's offline recognisers and a blank NLP engine."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

    from sealroom.analysis.local import recognizers as r
    from sealroom.analysis.local.names import PersonRecognizer, validate_labelled_value
    from sealroom.analysis.local.nlp import BlankNlpEngine

    registry = RecognizerRegistry(
        recognizers=[
            r.ssn_recognizer(), r.npi_recognizer(), r.routing_recognizer(), r.MicrRecognizer(),
            r.card_recognizer(), r.iban_recognizer(), r.email_recognizer(), r.phone_recognizer(),
            r.date_recognizer(), r.dob_recognizer(), r.address_recognizer(), r.mrz_recognizer(),
            r.LabelledValueRecognizer(validate_labelled_value), PersonRecognizer(),
        ],
        global_regex_flags=re.MULTILINE,
        supported_languages=["en"],
    )
    nlp = BlankNlpEngine()
    nlp.load()
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])


def regions_of(layout: PageLayout) -> list[TextRegion]:
    """The page's detected text segments as regions of its text (for the layout view)."""
    return [TextRegion(seg.start, seg.end, layout.to_page(seg.bbox)) for seg in layout.segments
            if seg.end > seg.start]


def resolve(cands: list[_Candidate]) -> list[_Candidate]:
    """Keep the best of overlapping candidates (higher score, then longer span)."""
    kept: list[_Candidate] = []
    for c in sorted(cands, key=lambda c: (-c.score, -(c.end - c.start), c.start)):
        if c.end <= c.start:
            continue
        if any(k.start < c.end and c.start < k.end for k in kept):
            continue
        kept.append(c)
    return sorted(kept, key=lambda c: c.start)


class LocalEngine:
    """OCR, PII/PHI detection, document type and fields, all in process, no network."""

    name = "local"
    egress = "none"

    def __init__(self, *, det_limit_side_len: int = 1600, rec_min_width: int = 96,
                 threads: int | None = None, min_score: float = 0.4) -> None:
        """``det_limit_side_len``: longest side the text detector sees (smaller is faster, may miss
        small print); ``threads``: ONNX Runtime threads per call (default: cores, at most 4);
        ``min_score``: findings below this confidence are dropped."""
        self._ocr = OcrReader(det_limit_side_len=det_limit_side_len, rec_min_width=rec_min_width,
                              threads=threads)
        self._min_score = min_score
        self._analyzer: Any = None
        self._lock = threading.Lock()

    def _get_analyzer(self) -> Any:
        if self._analyzer is None:
            with self._lock:
                if self._analyzer is None:
                    self._analyzer = build_analyzer()
        return self._analyzer

    def info(self) -> EngineInfo:
        """The engine's configuration: local, nothing leaves the process."""
        return EngineInfo(name=self.name, kind="local", egress=self.egress)

    def analyze(
        self,
        pages: Sequence[PageImage],
        task: AnalysisTask = AnalysisTask(),
        *,
        observer: CallObserver | None = None,
        progress: ProgressCallback | None = None,
    ) -> AnalysisResult:
        """Read, detect and classify every page, then run ``task`` on what was found.

        ``observer`` is not called: this engine sends nothing anywhere. ``progress`` (default: the
        listener of ``sealroom.analysis.progress.reporting``) is told ``(pages_done, pages_total)``
        after each page is read. Raises ``AnalysisError``.
        """
        t0 = time.perf_counter()
        report = progress or analysis_progress.current()
        try:
            layouts = []
            for done, p in enumerate(pages, start=1):
                layouts.append(read_layout(self._ocr, p.image))  # boxes map back via ``to_page``
                if report is not None:
                    report(done, len(pages))
            return self.analyze_layouts([p.index for p in pages], layouts, t0, task=task,
                                        images=[p.image for p in pages])
        except AnalysisError:
            raise
        except Exception as exc:
            raise AnalysisError(f"The local analysis engine failed ({type(exc).__name__}).") from exc

    def analyze_text(self, text: str) -> list[Entity]:
        """Entities of plain text (no pixels: every ``bbox`` is ``None``). Handy for tests and tools."""
        cands = self._page_candidates(PageLayout(width=0, height=0, text=text))[0]
        return [Entity(c.type, text[c.start:c.end], 0, None, round(c.score, 3), c.start, c.end, c.source)
                for c in cands]

    def analyze_layouts(
        self, indexes: list[int], layouts: list[PageLayout], t0: float, *, task: AnalysisTask | None = None,
        images: Sequence[Image.Image] | None = None,
    ) -> AnalysisResult:
        """Detection, fields and classification over already-read pages, then ``task`` when given.
        With the page ``images``, barcodes and faces are looked for too (``identity``)."""
        per_page: list[list[_Candidate]] = []
        fields: list[ExtractedField] = []
        for idx, layout in zip(indexes, layouts, strict=True):
            cands, page_fields = self._page_candidates(layout, page=idx)
            per_page.append(cands)
            fields.extend(page_fields)
        self._propagate_names(layouts, per_page)
        entities: list[Entity] = []
        for idx, layout, cands in zip(indexes, layouts, per_page, strict=True):
            for c, end in join_rows(layout, cands):  # an address going on over the next row is one
                placed = place_span(layout, c.start, end)  # one entity, however many boxes or rows
                if placed is not None:
                    entities.append(Entity(c.type, layout.text[placed.start:placed.end], idx, placed.bbox,
                                           round(c.score, 3), placed.start, placed.end, c.source,
                                           boxes=placed.boxes))
        entities, fields, certain = identity.add_findings(indexes, layouts, images, entities, fields)
        text = "\f".join(layout.text for layout in layouts)
        doc_type, conf = classify(text, [e.type for e in entities], identity_evidence=certain)
        result = AnalysisResult(
            engine=self.name, document_type=doc_type, document_type_confidence=conf,
            pages=[PageText(i, *lay.page_size, lay.text, regions_of(lay), rotation=lay.quarter_turns)
                   for i, lay in zip(indexes, layouts, strict=True)],
            entities=entities, fields=fields,
        )
        if task is not None:
            run_task(result, task, layouts)
        result.duration_ms = round((time.perf_counter() - t0) * 1000, 1)
        return result

    def _page_candidates(
        self, layout: PageLayout, page: int = 0
    ) -> tuple[list[_Candidate], list[ExtractedField]]:
        text = layout.text
        results = self._get_analyzer().analyze(text=text, language="en") if text.strip() else []
        cands = [
            _Candidate(r.entity_type, r.start, r.end, float(r.score),
                       str((r.recognition_metadata or {}).get("recognizer_name", "")))
            for r in results if r.score >= self._min_score
        ]
        fields: list[ExtractedField] = []
        for hit in find_field_hits(layout):
            etype = hit.label.entity_type
            fields.append(to_field(layout, page, hit.name, hit.start, hit.end, etype))
            if etype is not None:
                score = 0.88 if hit.below else 0.9
                if not checks.labelled_value_ok(etype, layout.text[hit.start:hit.end]):
                    score = 0.6
                source = "SealroomFieldLayout" if hit.below else "SealroomLabelledValueRecognizer"
                cands.append(_Candidate(etype, hit.start, hit.end, score, source))
        cands = resolve(cands)
        cands = resolve(cands + self._names_over_addresses(layout, cands))
        return cands, fields

    @staticmethod
    def _names_over_addresses(layout: PageLayout, cands: list[_Candidate]) -> list[_Candidate]:
        """A name-like segment right above a street line is the addressee ("JANE DOE / 1 Elm St")."""
        out: list[_Candidate] = []
        for c in cands:
            if c.type != "ADDRESS" or not layout.tokens or not layout.text[c.start:c.start + 1].isdigit():
                continue
            first = next((t for t in layout.tokens if t.start <= c.start < t.end), None)
            if first is None or first.row == 0:
                continue
            h = first.bbox[3] - first.bbox[1]
            above = [seg for seg in layout.segments if seg.row == first.row - 1
                     and abs(seg.bbox[0] - first.bbox[0]) <= 1.5 * h
                     and first.bbox[1] - seg.bbox[3] < 1.5 * h]
            for seg in above:
                value = layout.text[seg.start:seg.end]
                span = trim_name(value)
                if span and span[1] - span[0] >= 0.8 * len(value.strip()) and " " in value[span[0]:span[1]]:
                    out.append(_Candidate("PERSON", seg.start + span[0], seg.start + span[1], 0.65,
                                          "SealroomAddresseeRecognizer"))
        return out

    @staticmethod
    def _propagate_names(layouts: list[PageLayout], per_page: list[list[_Candidate]]) -> None:
        """Words of names already found, seen again alone ("Mr. Taylor" → later "Taylor"), are names too."""
        words: set[str] = set()
        for layout, cands in zip(layouts, per_page, strict=True):
            for c in cands:
                if c.type == "PERSON":
                    for w in re.findall(r"[A-Za-zÀ-ÖØ-öø-ÿĀ-ž'’-]{3,}", layout.text[c.start:c.end]):
                        if w.lower() not in STOP_WORDS and w.lower() not in first_names():
                            words.add(w.lower())
        if not words:
            return
        rx = re.compile(r"(?<![\w-])(" + "|".join(re.escape(w) for w in sorted(words)) + r")(?![\w-])",
                        re.IGNORECASE)
        for layout, cands in zip(layouts, per_page, strict=True):
            extra = []
            for m in rx.finditer(layout.text):
                if not m.group(0)[0].isupper():
                    continue
                start = m.start()
                before = re.search(r"(\S+) $", layout.text[max(0, start - 30):start])
                if before and len(before.group(1)) > 2 and is_name_word(before.group(1)):
                    start -= len(before.group(1)) + 1  # "Thaddeus Quinlan" after "Quinlan" was found
                extra.append(_Candidate("PERSON", start, m.end(), 0.5, "SealroomNamePropagation"))
            if extra:
                cands[:] = resolve(cands + extra)
