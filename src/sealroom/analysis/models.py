"""The engine contract: what an engine is given and what it returns.

Engines see decoded pages only, never users, sessions or storage. Their result holds clear values;
role masking happens later, in ``sealroom.masking``, before anything is delivered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from PIL import Image

DOCUMENT_TYPES = ("clinical", "financial", "identity", "legal", "other")

BBox = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)`` in pixels of the page image, x right, y down, end-exclusive."""


@dataclass(frozen=True)
class PageImage:
    """One decoded page handed to an engine (RGB pixels, in memory only)."""

    index: int
    image: Image.Image


@dataclass
class Entity:
    """A piece of personal or health data found on a page.

    ``start``/``end`` are character offsets into the page's ``PageText.text`` (``None`` when the
    entity is not in the text, e.g. a face); ``bbox`` is where it sits in the pixels.
    """

    type: str
    text: str
    page: int
    bbox: BBox | None
    confidence: float
    start: int | None = None
    end: int | None = None
    source: str = ""


@dataclass
class ExtractedField:
    """A key/value pair read off the document (``Patient Name`` → ``MILLER, MELISSA``).

    ``entity_type`` is set when the value is personal data, so masking knows to hide it.
    """

    name: str
    value: str
    page: int
    bbox: BBox | None = None
    entity_type: str | None = None


@dataclass
class PageText:
    """The text read from one page, one line per visual row."""

    index: int
    width: int
    height: int
    text: str


@dataclass
class AnalysisResult:
    """What an engine returns for one image (all pages)."""

    engine: str
    document_type: str
    document_type_confidence: float
    pages: list[PageText] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    fields: list[ExtractedField] = field(default_factory=list)
    duration_ms: float = 0.0

    @property
    def text(self) -> str:
        """All pages' text, pages separated by a form feed."""
        return "\f".join(page.text for page in self.pages)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole result."""
        data = asdict(self)
        data["text"] = self.text
        return data


class AnalysisEngine(Protocol):
    """An analysis engine. ``name`` is its config name; ``egress`` says where pixels go."""

    name: str
    egress: str

    def analyze(self, pages: Sequence[PageImage]) -> AnalysisResult:
        """Analyse the pages of one document.

        Raises ``sealroom.errors.AnalysisError`` when the engine fails.
        """
        ...
