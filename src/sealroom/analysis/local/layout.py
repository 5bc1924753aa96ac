"""Page text from OCR segments: one line per visual row, with every character traceable to pixels.

Segments are clustered into rows by their vertical centre and read left to right. Words inside a
segment are joined by one space; segments on one row are joined by one space, or by two spaces
(a *column break*) when the horizontal gap between them is wide. Recognisers treat two spaces as
the end of a value, so a label's value does not run into the next column.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from statistics import median

from PIL import Image

from sealroom.analysis.local.ocr import OcrReader, OcrSegment, OcrWord
from sealroom.analysis.local.preprocess import PageTransform
from sealroom.analysis.models import BBox

COLUMN_BREAK = "  "


@dataclass(frozen=True)
class Token:
    """A word of the page text: ``text[start:end]`` sits at ``bbox``."""

    start: int
    end: int
    bbox: BBox
    row: int


@dataclass(frozen=True)
class Segment:
    """A detected text region of the page text: ``text[start:end]`` sits at ``bbox``."""

    start: int
    end: int
    bbox: BBox
    row: int


@dataclass
class PageLayout:
    """The text of one page and where each of its words and segments is drawn.

    Boxes, ``width`` and ``height`` are in the pixels of the image the OCR read, so geometry (rows,
    columns, "below") holds on a page that was turned or deskewed; ``transform`` maps them back to
    the original page (``to_page``), which is what results report.
    """

    width: int
    height: int
    text: str = ""
    tokens: list[Token] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    transform: PageTransform | None = None

    def to_page(self, bbox: BBox) -> BBox:
        """``bbox`` in the original page's pixels."""
        return bbox if self.transform is None else self.transform.to_original(bbox)

    @property
    def quarter_turns(self) -> int:
        """Degrees counter-clockwise the page was turned before it was read (0/90/180/270)."""
        return 0 if self.transform is None else self.transform.quarter_turns

    @property
    def page_size(self) -> tuple[int, int]:
        """Width and height of the original page."""
        return (self.width, self.height) if self.transform is None else self.transform.original_size

    def segment_text(self, seg: Segment) -> str:
        return self.text[seg.start : seg.end]


def _height(b: BBox) -> int:
    return max(1, b[3] - b[1])


def _centre(b: BBox) -> float:
    return (b[1] + b[3]) / 2.0


def group_rows(segments: list[OcrSegment]) -> list[list[OcrSegment]]:
    """Cluster segments into visual rows (top to bottom), each row sorted left to right."""
    rows: list[tuple[float, float, list[OcrSegment]]] = []  # (centre, height, members)
    for seg in sorted(segments, key=lambda s: _centre(s.bbox)):
        c, h = _centre(seg.bbox), _height(seg.bbox)
        placed = False
        for i in range(len(rows) - 1, max(-1, len(rows) - 4), -1):
            rc, rh, members = rows[i]
            if abs(c - rc) <= 0.5 * min(h, rh):
                members.append(seg)
                n = len(members)
                rows[i] = ((rc * (n - 1) + c) / n, (rh * (n - 1) + h) / n, members)
                placed = True
                break
        if not placed:
            rows.append((c, h, [seg]))
    rows.sort(key=lambda r: r[0])
    return [sorted(members, key=lambda s: s.bbox[0]) for _, _, members in rows]


_GLUE = re.compile(
    r"(?<=[A-Za-z][:,;])(?=[A-Za-z0-9(])"  # "MRN:85181043", "MILLER,MELISSA"
    r"|(?<=[a-z]{3})(?<!Mac)(?<!Van)(?<!Von)(?=[A-Z][^\W\d_A-Z])"  # "TenantEdward", "fromSøren"
    r"|(?<=[a-z]{3})(?=[A-Z]{2,}\b)"  # "ChidiNPI"
    r"|(?<=(?<![A-Za-z])[A-Z]\.)(?=[A-Z][a-z])"  # "P.Van"
    r"|(?<=\d)(?=[A-Z][a-z]{2})"  # "67Old Mill St", "2024Transfer"
    r"|(?<=\d[./-]\d{4})(?=[A-Za-z])"  # "22.12.2024STANDING"
    r"|(?<=[^\W\d_]{3})(?=\d[\d,]*\.\d{2}$)"  # "PETROVA637.68": a name glued to an amount
    r"|(?<=[a-z]{3})(?=[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$)"  # "LeedsSW38UD": a town glued to its postcode
)
_GLUED_PHRASE = re.compile(r"(PAYMENT|TRANSFER|DEPOSIT|ORDER)(TO|FROM)?(?=[A-Z]{3})")  # "PAYMENTFROMDESMOND"


def _cuts(text: str) -> list[int]:
    cuts = {m.start() for m in _GLUE.finditer(text)}
    if text.isupper():
        for m in _GLUED_PHRASE.finditer(text):
            cuts.update(m.end(g) for g in (1, 2) if m.group(g))
    return sorted(c for c in cuts if 0 < c < len(text))


def _split_glued(words: list[OcrWord]) -> list[OcrWord]:
    """Split words OCR glued at punctuation ("MRN:85181043", "MILLER,MELISSA") into two."""
    out: list[OcrWord] = []
    for word in words:
        cuts = _cuts(word.text)
        if not cuts:
            out.append(word)
            continue
        x0, y0, x1, y1 = word.bbox
        step = (x1 - x0) / max(len(word.text), 1)
        bounds = [0, *cuts, len(word.text)]
        for a, b in itertools.pairwise(bounds):
            out.append(OcrWord(word.text[a:b], (x0 + round(a * step), y0, x0 + round(b * step), y1)))
    return out


def read_layout(reader: OcrReader, image: Image.Image) -> PageLayout:
    """Prepare (``preprocess``), read and lay out one page; boxes map back through ``to_page``."""
    segments, transform = reader.read_page(image)
    return build_layout(segments, *transform.size, transform=transform)


def build_layout(
    segments: list[OcrSegment], width: int, height: int, *, transform: PageTransform | None = None
) -> PageLayout:
    """Assemble the page text, tokens and segment spans from OCR segments."""
    layout = PageLayout(width=width, height=height, transform=transform)
    parts: list[str] = []
    pos = 0
    for r, row in enumerate(group_rows(segments)):
        if r:
            parts.append("\n")
            pos += 1
        row_h = median(_height(s.bbox) for s in row)
        prev: OcrSegment | None = None
        for seg in row:
            if prev is not None:
                gap = seg.bbox[0] - prev.bbox[2]
                sep = COLUMN_BREAK if gap > 1.2 * row_h else " "
                parts.append(sep)
                pos += len(sep)
            seg_start = pos
            for w_i, word in enumerate(_split_glued(seg.words)):
                if w_i:
                    parts.append(" ")
                    pos += 1
                parts.append(word.text)
                layout.tokens.append(Token(pos, pos + len(word.text), word.bbox, r))
                pos += len(word.text)
            layout.segments.append(Segment(seg_start, pos, seg.bbox, r))
            prev = seg
    layout.text = "".join(parts)
    return layout
