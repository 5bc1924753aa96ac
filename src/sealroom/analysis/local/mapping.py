"""Character spans of the page text → pixel boxes, through the word boxes of the layout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

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
    """Boxes of ``layout.text[start:end]``, one per visual row it touches (empty when none), in the
    pixels the OCR read (for geometry); ``place_span`` gives them on the original page."""
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


@dataclass(frozen=True)
class PlacedSpan:
    """Where a span sits on the original page: ``bbox`` covers all of it; ``boxes`` has one box per
    row when it spans more than one (``None`` otherwise). ``[start, end)`` is trimmed to the words."""

    start: int
    end: int
    bbox: BBox
    boxes: list[BBox] | None


def place_span(layout: PageLayout, start: int, end: int) -> PlacedSpan | None:
    """``layout.text[start:end]`` on the original page (through ``layout.to_page``): one place for a
    value however many words, boxes or rows it spans; ``None`` when no word of it was read."""
    pieces = span_boxes(layout, start, end)
    if not pieces:
        return None
    boxes = [layout.to_page(piece.bbox) for piece in pieces]
    return PlacedSpan(pieces[0].start, pieces[-1].end, union(boxes), boxes if len(boxes) > 1 else None)


MULTI_ROW_TYPES = frozenset({"ADDRESS"})
"""Types whose value may go on over the next row (a street line, then the city line)."""


class _Span(Protocol):
    type: str
    start: int
    end: int


S = TypeVar("S", bound=_Span)


def continues_below(layout: PageLayout, end: int, start: int) -> bool:
    """Whether text at ``start`` goes on, on the next row, with the value ending at ``end``: nothing but
    a line break (and a comma) between them, the next row at most one line height below, starting
    under the value."""
    between = layout.text[end:start]
    if between.strip().strip(",;") or between.count("\n") != 1:
        return False
    last = next((t for t in reversed(layout.tokens) if t.start < end), None)
    first = next((t for t in layout.tokens if t.end > start), None)
    if last is None or first is None or first.row != last.row + 1:
        return False
    row = [t for t in layout.tokens if t.row == last.row and t.end <= end]
    h = max(1, last.bbox[3] - last.bbox[1])
    left = min(t.bbox[0] for t in row)
    return first.bbox[1] - last.bbox[3] <= h and left - 2 * h <= first.bbox[0] <= last.bbox[2]


def join_rows(
    layout: PageLayout, spans: list[S], types: frozenset[str] = MULTI_ROW_TYPES
) -> list[tuple[S, int]]:
    """``spans`` (in text order) with those that go on over the next row as one: ``(first span, end of the
    last)``. Only ``types`` are joined: a name or number ends with its row."""
    out: list[tuple[S, int]] = []
    for span in spans:
        if out and out[-1][0].type == span.type and span.type in types and continues_below(
            layout, out[-1][1], span.start
        ):
            out[-1] = (out[-1][0], span.end)
        else:
            out.append((span, span.end))
    return out
