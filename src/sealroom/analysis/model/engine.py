"""``ModelEngine``: any vision-language model behind a ``Transport``, running Sealroom's four tasks.

The engine encodes the pages within the provider's limits, asks the observer before every request
(the analysis service decides and audits egress there), sends, and reads the reply against the
task's schema: one repair request (text only) when the reply is not valid, then a clear error.
Documents with more pages than one request may carry are sent in consecutive chunks and merged.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from sealroom.analysis.model import prompts
from sealroom.analysis.model.imaging import encode_for_upload
from sealroom.analysis.model.replies import clean_text, parse_reply
from sealroom.analysis.model.transport import Completion, EncodedImage, ModelCallError, Prompt, Transport
from sealroom.analysis.models import (
    AnalysisResult,
    AnalysisTask,
    CallObserver,
    CallRecord,
    EngineInfo,
    ExtractedField,
    OutboundImage,
    OutboundRequest,
    PageImage,
    PageText,
)
from sealroom.analysis.tasks import entity_types
from sealroom.config import EngineSettings
from sealroom.errors import AnalysisError

UNCLASSIFIED = "unclassified"
CUT_OFF = ("max_tokens", "length")
"""Stop reasons meaning the reply hit the token limit (Claude, OpenAI)."""


class ModelEngine:
    """A configured model endpoint running the describe, extract, classify and ask tasks."""

    egress = "external"

    def __init__(
        self, name: str, settings: EngineSettings, transport: Transport, document_types: Sequence[str]
    ) -> None:
        self.name = name
        self._settings = settings
        self._transport = transport
        self._document_types = list(document_types)

    def info(self) -> EngineInfo:
        """Kind, provider, model and endpoint host (no credentials)."""
        return EngineInfo(
            name=self.name,
            kind=self._settings.kind,
            egress=self.egress,
            provider=self._transport.provider,
            model=self._transport.model,
            host=self._transport.host,
        )

    def check_ready(self) -> None:
        """Raise ``EngineUnavailableError`` when a credential or setting is missing."""
        self._transport.check_ready()

    def analyze(
        self,
        pages: Sequence[PageImage],
        task: AnalysisTask = AnalysisTask(),
        *,
        observer: CallObserver | None = None,
    ) -> AnalysisResult:
        """Run ``task`` on the pages through the model; ``observer`` is required (it gates egress)."""
        if observer is None:
            raise AnalysisError(f"the {self.name} engine sends pixels out and needs an egress observer")
        if not pages:
            raise AnalysisError("the document has no pages to analyse")
        started = time.perf_counter()
        self._transport.check_ready()
        settings = self._settings
        images = [
            encode_for_upload(
                page,
                max_side=settings.max_image_side,
                max_pixels=settings.max_image_pixels,
                max_bytes=settings.max_image_bytes,
            )
            for page in pages
        ]
        size = settings.max_images_per_request
        replies = [
            self._run_chunk(task, images[i:i + size], len(pages), observer)
            for i in range(0, len(images), size)
        ]
        return self._result(task, pages, images, replies, started)

    def _run_chunk(
        self, task: AnalysisTask, images: Sequence[EncodedImage], total: int, observer: CallObserver
    ) -> dict[str, Any]:
        schema = prompts.reply_schema(task, self._document_types)
        prompt = prompts.build_prompt(
            task,
            images,
            document_types=self._document_types,
            total_pages=total,
            max_tokens=self._settings.max_tokens,
        )
        completion = self._send(prompt, "analysis", images, observer)
        parsed = parse_reply(completion.text, schema)
        if parsed.value is not None:
            return parsed.value
        if completion.stop_reason in CUT_OFF:
            # A repair of a cut-off reply could return a shorter list that looks complete.
            raise self._truncated()
        repair = prompts.build_repair(
            prompt, prompts.instruction(task, self._document_types), completion.text, parsed.problems
        )
        completion = self._send(repair, "repair", (), observer)
        repaired = parse_reply(completion.text, schema)
        if repaired.value is not None:
            return repaired.value
        if completion.stop_reason in CUT_OFF:
            raise self._truncated()
        raise AnalysisError(
            f"the {self.name} engine's reply did not match the expected JSON, even after one repair "
            f"request: {'; '.join(repaired.problems[:5])}.",
            reason="invalid_reply",
        )

    def _truncated(self) -> AnalysisError:
        return AnalysisError(
            f"the {self.name} engine's reply was cut off at max_tokens ({self._settings.max_tokens}); "
            "raise max_tokens for this engine",
            reason="reply_truncated",
        )

    def _send(
        self,
        prompt: Prompt,
        purpose: str,
        images: Sequence[EncodedImage],
        observer: CallObserver,
    ) -> Completion:
        request = OutboundRequest(
            engine=self.name,
            provider=self._transport.provider,
            host=self._transport.host,
            model=self._transport.model,
            purpose="repair" if purpose == "repair" else "analysis",
            images=tuple(
                OutboundImage(
                    page=image.page,
                    media_type=image.media_type,
                    width=image.width,
                    height=image.height,
                    bytes=len(image.data),
                    sha256=image.sha256,
                    downscaled=image.downscaled,
                )
                for image in images
            ),
            prompt_chars=prompts.prompt_chars(prompt),
        )
        observer.before_send(request)  # raises when egress is refused or cannot be audited
        started = time.perf_counter()
        try:
            completion = self._transport.complete(prompt)
        except ModelCallError as exc:
            observer.after_call(
                CallRecord(
                    request=request,
                    outcome="failure",
                    reason=exc.reason,
                    attempts=exc.attempts,
                    latency_ms=_ms_since(started),
                    status=exc.status,
                    sent_bytes=exc.sent_bytes,
                    sent_sha256=exc.sent_sha256,
                )
            )
            raise
        except Exception:
            # Bytes may have left before the transport broke: the call is still recorded.
            observer.after_call(
                CallRecord(
                    request=request,
                    outcome="failure",
                    reason="transport_error",
                    attempts=1,
                    latency_ms=_ms_since(started),
                )
            )
            raise
        observer.after_call(
            CallRecord(
                request=request,
                outcome="success",
                reason=None,
                attempts=completion.attempts,
                latency_ms=_ms_since(started),
                status=completion.status,
                input_tokens=completion.input_tokens,
                output_tokens=completion.output_tokens,
                sent_bytes=completion.sent_bytes,
                sent_sha256=completion.sent_sha256,
            )
        )
        return completion

    def _result(
        self,
        task: AnalysisTask,
        pages: Sequence[PageImage],
        images: Sequence[EncodedImage],
        replies: list[dict[str, Any]],
        started: float,
    ) -> AnalysisResult:
        result = AnalysisResult(
            engine=self.name,
            document_type=UNCLASSIFIED,
            document_type_confidence=0.0,
            pages=[PageText(page.index, page.image.width, page.image.height, "") for page in pages],
            task=task.kind,
            schema_name=task.schema_name,
            model=self._transport.model,
        )
        size = self._settings.max_images_per_request
        ranges = [_page_range(images[i:i + size]) for i in range(0, len(images), size)]
        if task.kind in ("describe", "classify"):
            # Each chunk votes with its confidence (1 when a describe reply gives none); the winner's
            # confidence is its mean over all chunks, a chunk that voted otherwise counting 0.
            votes: dict[str, float] = {}
            for reply in replies:
                kind = str(reply["document_type"])
                votes[kind] = votes.get(kind, 0.0) + float(reply.get("confidence", 1.0))
            result.document_type = max(votes, key=lambda kind: votes[kind])
            result.document_type_confidence = round(votes[result.document_type] / len(replies), 3)
            key = "summary" if task.kind == "describe" else "reason"
            result.answer = _joined([str(reply[key]) for reply in replies], ranges)
        elif task.kind == "ask":
            result.answer = _joined([str(reply["answer"]) for reply in replies], ranges)
        else:
            assert task.schema is not None
            result.data = _merge_extractions(replies)
            result.fields = _fields(result.data, entity_types(task.schema), pages[0].index)
        result.duration_ms = _ms_since(started)
        return result


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _page_range(images: Sequence[EncodedImage]) -> str:
    first, last = images[0].page + 1, images[-1].page + 1
    return f"Page {first}" if first == last else f"Pages {first}-{last}"


def _joined(texts: list[str], ranges: list[str]) -> str:
    if len(texts) == 1:
        return texts[0]
    return "\n\n".join(f"{label}: {text}" for label, text in zip(ranges, texts, strict=True))


def _merge_extractions(replies: list[dict[str, Any]]) -> dict[str, Any]:
    """One object from per-chunk extractions: the first non-null value of each property; lists joined."""
    merged: dict[str, Any] = {}
    for reply in replies:
        for key, value in reply.items():
            if isinstance(value, list):
                merged[key] = [*merged.get(key, []), *value]
            elif merged.get(key) is None:
                merged[key] = value
    return merged


def _fields(data: Any, types: dict[str, str], page: int, path: str = "") -> list[ExtractedField]:
    """Every leaf of the extracted data as a field named by its path (``parties[0].name``), with the
    personal-data type the schema gives it, so masking hides it."""
    if isinstance(data, dict):
        return [
            item
            for key, value in data.items()
            for item in _fields(value, types, page, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(data, list):
        return [item for i, value in enumerate(data) for item in _fields(value, types, page, f"{path}[{i}]")]
    if data is None:
        return []
    pattern = _pattern(path)
    return [ExtractedField(path, clean_text(str(data)), page, None, types.get(pattern))]


def _pattern(path: str) -> str:
    """``parties[0].name`` → ``parties[].name`` (the form ``entity_types`` uses)."""
    return re.sub(r"\[\d+\]", "[]", path)
