"""Key/value fields: a label and its value, to the right of it or on the row below it.

Values to the right come from the labelled-value recogniser's results (they carry the field name);
values below a label (cards, forms: "Member ID" over "DAF429539169") are found here from the layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sealroom.analysis.local.labels import COMPILED, FieldLabel, label_match_ok, open_label
from sealroom.analysis.local.layout import PageLayout, Segment, Token
from sealroom.analysis.local.mapping import span_boxes, union
from sealroom.analysis.local.names import validate_labelled_value
from sealroom.analysis.models import BBox, ExtractedField


@dataclass(frozen=True)
class FieldHit:
    """A value found for a label: ``text[start:end]`` of the page."""

    label: FieldLabel
    start: int
    end: int
    below: bool
    label_text: str = ""

    @property
    def name(self) -> str:
        """The field name: canonical for specific labels, as printed for broad ones ("Landlord")."""
        if self.label.name in _AS_PRINTED and self.label_text:
            text = " ".join(self.label_text.strip(" :#.").split())
            return text.title() if text.isupper() and len(text) > 3 else text
        return self.label.name


_AS_PRINTED = frozenset({"Party", "Signed By", "Printed Name", "Physician", "Service Date", "Date",
                         "Account Holder", "Payee", "Member Name"})


def _value_at(label: FieldLabel, vrx: re.Pattern[str], text: str, pos: int) -> tuple[int, int] | None:
    vm = vrx.match(text, pos)
    if vm is None:
        return None
    span = validate_labelled_value(label, vm.group(0))
    if span is None:
        return None
    return pos + span[0], pos + span[1]


def _token_below(layout: PageLayout, label_box: BBox, row: int) -> Token | None:
    x0, y0, x1, y1 = label_box
    h = max(1, y1 - y0)
    best: Token | None = None
    for tok in layout.tokens:
        if tok.row <= row or tok.row > row + 2:
            continue
        tx0, ty0, _tx1, _ty1 = tok.bbox
        if ty0 < y1 - 0.3 * h or ty0 - y1 > 1.6 * h:
            continue
        if not (x0 - 1.5 * h <= tx0 <= x1 + 0.5 * h):
            continue
        if best is None or (tok.row, abs(tx0 - x0)) < (best.row, abs(best.bbox[0] - x0)):
            best = tok
    return best


def _ends_segment(layout: PageLayout, end: int) -> bool:
    rest = layout.text[end : end + 3]
    return rest == "" or rest.startswith(("\n", "  ")) or not rest.strip(" :#") \
        or any(seg.end == end for seg in layout.segments)


def find_field_hits(layout: PageLayout) -> list[FieldHit]:
    """Labels with a value on the same row (right) or the row below, for every field label."""
    text = layout.text
    hits: list[FieldHit] = []
    taken: list[tuple[int, int]] = []
    for label, lrx, vrx in COMPILED:
        for m in lrx.finditer(text):
            if not label_match_ok(m) or any(s < m.end() and m.start() < e for s, e in taken):
                continue
            gap = re.match(r"[ ]{0,6}" if open_label(m) else r" (?! )", text[m.end():])
            span = _value_at(label, vrx, text, m.end() + gap.end()) if gap else None
            if span is not None:
                hits.append(FieldHit(label, span[0], span[1], False, m.group(0)))
                taken.extend([(m.start(), m.end()), span])
                continue
            if not _ends_segment(layout, m.end()):
                continue
            boxes = span_boxes(layout, m.start(), m.end())
            row = next((t.row for t in layout.tokens if t.start <= m.start() < t.end), None)
            tok = _token_below(layout, boxes[0].bbox, row) if len(boxes) == 1 and row is not None else None
            if tok is not None and not any(s < tok.end and tok.start < e for s, e in taken):
                span = _value_at(label, vrx, text, tok.start)
                if span is not None:
                    hits.append(FieldHit(label, span[0], span[1], True, m.group(0)))
                    taken.extend([(m.start(), m.end()), span])
                    continue
            span = _loose_value(label, vrx, text, m)
            if span is not None and not any(s < span[1] and span[0] < e for s, e in taken):
                hits.append(FieldHit(label, span[0], span[1], False, m.group(0)))
                taken.extend([(m.start(), m.end()), span])
    hits.extend(_column_hits(layout, taken))
    return hits


def _header_label(layout: PageLayout, seg: Segment) -> tuple[FieldLabel, re.Pattern[str]] | None:
    """The label a whole segment spells ("MRN", "Patient Name:"), as in a table's header row."""
    text = layout.segment_text(seg).strip(" :#")
    for label, lrx, vrx in COMPILED:
        m = lrx.fullmatch(text)
        if m is not None and label_match_ok(m):
            return label, vrx
    return None


def _column_hits(layout: PageLayout, taken: list[tuple[int, int]]) -> list[FieldHit]:
    """Values in the column under a table header ("Patient  DOB  MRN" over rows of patients).

    A header row holds at least two segments that are labels. In each row below, the word that
    starts nearest the header inside its column opens the value (OCR may merge neighbouring cells
    into one segment); a row without one is skipped, two such rows or a wide gap end the table.
    """
    rows: dict[int, list[Segment]] = {}
    for seg in layout.segments:
        rows.setdefault(seg.row, []).append(seg)
    row_tokens: dict[int, list[Token]] = {}
    for tok in layout.tokens:
        row_tokens.setdefault(tok.row, []).append(tok)
    hits: list[FieldHit] = []
    for r, segs in sorted(rows.items()):
        if len(segs) < 2:
            continue
        segs = sorted(segs, key=lambda s: s.bbox[0])
        labels = [_header_label(layout, seg) for seg in segs]
        if sum(lab is not None for lab in labels) < 2:
            continue
        for i, (seg, lab) in enumerate(zip(segs, labels, strict=True)):
            if lab is None or lab[0].entity_type is None:
                continue
            h = max(1, seg.bbox[3] - seg.bbox[1])
            left = segs[i - 1].bbox[2] if i else seg.bbox[0] - 3 * h
            right = segs[i + 1].bbox[0] if i + 1 < len(segs) else layout.width
            last_y, misses = seg.bbox[3], 0
            for rr in range(r + 1, r + 80):
                row_segs = rows.get(rr, [])
                if not row_segs or min(c.bbox[1] for c in row_segs) - last_y > 2.5 * h:
                    break
                last_y = max(c.bbox[3] for c in row_segs)
                toks = [t for t in row_tokens.get(rr, []) if left - 0.3 * h <= t.bbox[0] < right]
                if not toks:
                    misses += 1
                    if misses >= 2:
                        break
                    continue
                misses = 0
                tok = min(toks, key=lambda t: abs(t.bbox[0] - seg.bbox[0]))
                cell_end = next((c.end for c in row_segs if c.start <= tok.start < c.end), tok.end)
                if any(s < tok.end and tok.start < e for s, e in taken):
                    continue
                span = _value_at(lab[0], lab[1], layout.text, tok.start)
                if span is not None and span[1] <= cell_end:
                    hits.append(FieldHit(lab[0], span[0], span[1], True, layout.segment_text(seg)))
                    taken.append(span)
    return hits


def _loose_value(
    label: FieldLabel, vrx: re.Pattern[str], text: str, m: re.Match[str]
) -> tuple[int, int] | None:
    """A value one column to the right of a label without a colon ("Member Name   JANE DOE")."""
    gap = re.match(r"[ ]{2,6}", text[m.end():])
    return _value_at(label, vrx, text, m.end() + gap.end()) if gap else None


def to_field(layout: PageLayout, page: int, name: str, start: int, end: int,
             entity_type: str | None) -> ExtractedField:
    boxes = [layout.to_page(b.bbox) for b in span_boxes(layout, start, end)]  # on the original page
    return ExtractedField(name=name, value=layout.text[start:end], page=page,
                          bbox=union(boxes) if boxes else None, entity_type=entity_type)
