"""Character spans of the page text → pixel boxes, through the word boxes of the layout."""

from __future__ import annotations

from dataclasses import dataclass

from sealroom.analysis.local.layout import PageLayout, Token
from sealroom.analysis.models import BBox


@dataclass(frozen=True)
class SpanBox:
    """The part ``[start, end)`` of a span that lies on one visual row, and its box."""

    start: int
    end: int
    bbox: BBox


def _part_box(tok: Token, start: int, end: int) -> BBox:
    """Box of characters ``[start, end)`` inside ``tok``, by their share of the word's width."""
    x0, y0, x1, y1 = tok.bbox
    n = max(tok.end - tok.start, 1)
    a = max(start, tok.start) - tok.start
    b = min(end, tok.end) - tok.start
    if a <= 0 and b >= n:
        return tok.bbox
    step = (x1 - x0) / n
    return (x0 + int(a * step), y0, max(x0 + round(b * step), x0 + int(a * step) + 1), y1)


def union(boxes: list[BBox]) -> BBox:
    """The smallest box holding all ``boxes`` (which must not be empty)."""
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def span_boxes(layout: PageLayout, start: int, end: int) -> list[SpanBox]:
    """Boxes of ``layout.text[start:end]``, one per visual row it touches (empty when none)."""
    by_row: dict[int, tuple[int, int, list[BBox]]] = {}
    for tok in layout.tokens:
        if tok.end <= start or tok.start >= end:
            continue
        box = _part_box(tok, start, end)
        s, e = max(start, tok.start), min(end, tok.end)
        if tok.row in by_row:
            rs, re_, boxes = by_row[tok.row]
            boxes.append(box)
            by_row[tok.row] = (min(rs, s), max(re_, e), boxes)
        else:
            by_row[tok.row] = (s, e, [box])
    return [SpanBox(s, e, union(boxes)) for _, (s, e, boxes) in sorted(by_row.items())]
