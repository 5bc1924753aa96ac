"""The engine contract: what an engine is given and what it returns.

Engines see decoded pages only, never users, sessions or storage. Their result holds clear values;
role masking happens later, in ``sealroom.masking``, before anything is delivered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from PIL import Image

DOCUMENT_TYPES = ("clinical", "financial", "identity", "legal", "other")
TASK_KINDS = ("describe", "extract", "classify", "ask")
TaskKind = Literal["describe", "extract", "classify", "ask"]

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
    entity is not in the text, e.g. a face); ``bbox`` is where it sits in the pixels. ``valid`` is
    set when the finding carries its own check (an MRZ's check digits): whether it passed.
    """

    type: str
    text: str
    page: int
    bbox: BBox | None
    confidence: float
    start: int | None = None
    end: int | None = None
    source: str = ""
    valid: bool | None = None
    boxes: list[BBox] | None = None
    """When the entity spans several rows (an address on two lines): one box per row; ``bbox`` is
    their union. ``None`` when ``bbox`` alone is exact."""


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
class TextRegion:
    """Where a stretch of the page text sits: ``text[start:end]`` is drawn inside ``bbox``.

    Masking delivers it as ``{"bbox", "text"}`` with the masked text, so a client can draw the page's
    layout (a wireframe of regions) from the result alone, never from pixels.
    """

    start: int
    end: int
    bbox: BBox


@dataclass
class PageText:
    """The text read from one page, one line per visual row, and where its regions are."""

    index: int
    width: int
    height: int
    text: str
    regions: list[TextRegion] = field(default_factory=list)
    rotation: int = 0
    """Degrees counter-clockwise (0/90/180/270) the engine turned the page to read it upright; boxes
    stay in the page's own pixels either way."""


@dataclass(frozen=True)
class AnalysisTask:
    """What the caller wants from the image; the same four tasks for every engine.

    ``describe``: a short summary (``AnalysisResult.answer``) and the document type.
    ``extract``: ``AnalysisResult.data`` filled to ``schema`` (a JSON Schema; ``schema_name`` is the
    preset's name or ``"custom"``), validated against it.
    ``classify``: the document type with a confidence.
    ``ask``: ``AnalysisResult.answer`` to the free-text ``question``.
    Build one with ``sealroom.analysis.tasks.build_task``, which checks every part.
    """

    kind: TaskKind = "describe"
    schema_name: str | None = None
    schema: Mapping[str, Any] | None = None
    question: str | None = None

    def cache_key(self) -> str:
        """A key that differs whenever the task would give a different result."""
        material = json.dumps(
            [self.kind, self.schema_name, self.schema, self.question], sort_keys=True, default=str
        )
        return f"{self.kind}:{hashlib.sha256(material.encode()).hexdigest()[:16]}"


@dataclass
class AnalysisResult:
    """What an engine returns for one image (all pages).

    ``answer`` is prose (the summary for ``describe``, the reply for ``ask``); ``data`` is the
    structured result of ``extract``. Both may hold personal data: they are masked like the rest.
    """

    engine: str
    document_type: str
    document_type_confidence: float
    pages: list[PageText] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    fields: list[ExtractedField] = field(default_factory=list)
    duration_ms: float = 0.0
    task: str = "describe"
    answer: str | None = None
    data: dict[str, Any] | None = None
    schema_name: str | None = None
    model: str | None = None

    @property
    def text(self) -> str:
        """All pages' text, pages separated by a form feed."""
        return "\f".join(page.text for page in self.pages)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole result."""
        data = asdict(self)
        data["text"] = self.text
        return data


@dataclass(frozen=True)
class OutboundImage:
    """One image as it leaves the workspace: what was sent, described (never the bytes themselves)."""

    page: int
    media_type: str
    width: int
    height: int
    bytes: int
    sha256: str
    downscaled: bool = False


@dataclass(frozen=True)
class OutboundRequest:
    """One request an external engine is about to send, described before any byte leaves."""

    engine: str
    provider: str
    host: str
    model: str
    purpose: Literal["analysis", "repair"]
    images: tuple[OutboundImage, ...]
    prompt_chars: int


@dataclass(frozen=True)
class CallRecord:
    """How one external request ended. ``reason`` is a machine code when ``outcome`` is ``failure``:
    ``timeout``, ``rate_limited``, ``overloaded``, ``server_error``, ``auth_failed``,
    ``bad_request``, ``connection_failed``, ``invalid_reply``, ``refused``."""

    request: OutboundRequest
    outcome: Literal["success", "failure"]
    reason: str | None
    attempts: int
    latency_ms: float
    status: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    sent_bytes: int | None = None
    sent_sha256: str | None = None


class CallObserver(Protocol):
    """Told about every external request: before it is sent (may raise to stop it) and after it ends.

    The analysis service implements this to decide and audit egress; engines never see users.
    """

    def before_send(self, request: OutboundRequest) -> None:
        """Called before the request leaves; raising stops it (nothing is sent)."""
        ...

    def after_call(self, record: CallRecord) -> None:
        """Called once the request has ended, successfully or not."""
        ...


@dataclass(frozen=True)
class EngineInfo:
    """How an engine is configured, for listings and audit (no credentials)."""

    name: str
    kind: str
    egress: str
    provider: str | None = None
    model: str | None = None
    host: str | None = None


class AnalysisEngine(Protocol):
    """An analysis engine. ``name`` is its config name; ``egress`` is ``none`` (pixels stay in the
    process) or ``external`` (pixels are sent to a model endpoint, subject to the egress policy)."""

    name: str
    egress: str

    def info(self) -> EngineInfo:
        """The engine's configuration, safe to show and audit."""
        ...

    def analyze(
        self,
        pages: Sequence[PageImage],
        task: AnalysisTask = AnalysisTask(),
        *,
        observer: CallObserver | None = None,
    ) -> AnalysisResult:
        """Run ``task`` on the pages of one document.

        An external engine calls ``observer.before_send`` before every request it sends and
        ``observer.after_call`` after it; it must refuse to send without an observer.
        Raises ``sealroom.errors.AnalysisError`` when the engine fails.
        """
        ...
