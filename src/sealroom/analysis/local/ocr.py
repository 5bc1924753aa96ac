"""RapidOCR wrapper: text segments with word boxes, in page pixels.

RapidOCR's wheel ships the ONNX detection and recognition models, so nothing is downloaded at run
time. The model objects are created lazily, once, and shared. Calls into RapidOCR are serialised
(it keeps per-call settings on its instance); ONNX Runtime spreads each call over the cores.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from sealroom.analysis.local.preprocess import PageTransform, prepare
from sealroom.analysis.models import BBox
from sealroom.analysis.orientation import ILLEGIBLE_BELOW, MIN_TOKENS_TO_JUDGE, legibility

_LOG_NAMES = ("RapidOCR", "rapidocr")
UPSIDE_DOWN_SAMPLE = 16
"""Lines shown to the 0°/180° classifier (the longest ones): a few ms on two cores."""


@dataclass(frozen=True)
class OcrWord:
    """One word read by the recogniser, with its box in page pixels."""

    text: str
    bbox: BBox


@dataclass
class OcrSegment:
    """One detected text region (usually a run of words on one row)."""

    text: str
    bbox: BBox
    score: float
    words: list[OcrWord] = field(default_factory=list)


def _quad_to_bbox(quad: Any) -> BBox:
    pts = np.asarray(quad, dtype=float).reshape(-1, 2)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return (int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1)))


def split_evenly(text: str, bbox: BBox) -> list[OcrWord]:
    """Split ``text`` at spaces, giving each word a share of ``bbox`` proportional to its length."""
    x0, y0, x1, y1 = bbox
    n = max(len(text), 1)
    step = (x1 - x0) / n
    words: list[OcrWord] = []
    i = 0
    for part in text.split(" "):
        if part:
            wx0 = x0 + round(i * step)
            wx1 = x0 + round((i + len(part)) * step)
            words.append(OcrWord(part, (wx0, y0, max(wx1, wx0 + 1), y1)))
        i += len(part) + 1
    return words


# RapidOCR's Chinese/English recogniser may emit full-width forms ("Acct #：", "（312）"): map them to
# ASCII one character for one, so offsets and word boxes stay aligned.
_FULL_WIDTH = {0xFF01 + i: 0x21 + i for i in range(0x5E)} | {0x3000: 0x20}


def normalise_text(text: str) -> str:
    """``text`` with full-width ASCII forms replaced by their ASCII characters (same length)."""
    return text.translate(_FULL_WIDTH)


def _squash(text: str) -> str:
    return "".join(text.split())


def read_quality(segments: list[OcrSegment]) -> tuple[float, int, float]:
    """``(legibility, letter runs, share of lines wider than tall)`` of one read of a page."""
    score, count = legibility("\n".join(seg.text for seg in segments))
    if not segments:
        return score, count, 1.0
    flat = sum((s.bbox[2] - s.bbox[0]) >= (s.bbox[3] - s.bbox[1]) for s in segments) / len(segments)
    return score, count, flat


def quiet_rapidocr_logs() -> None:
    """RapidOCR logs at INFO (and may log recognised text in warnings): keep it to errors."""
    for name in _LOG_NAMES:
        logging.getLogger(name).setLevel(logging.ERROR)


class OcrReader:
    """Reads text segments off a page image with RapidOCR (models loaded once, on first use)."""

    def __init__(self, *, det_limit_side_len: int = 1600, rec_min_width: int = 96,
                 threads: int | None = None) -> None:
        self._det_limit = det_limit_side_len
        self._rec_width = rec_min_width
        self._threads = threads or max(1, min(4, os.cpu_count() or 1))
        self._engine: Any = None
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()

    def _get_engine(self) -> Any:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    quiet_rapidocr_logs()
                    from rapidocr import RapidOCR

                    params = {
                        "Global.log_level": "error",
                        "Global.use_cls": False,
                        "Global.return_word_box": True,
                        "Global.max_side_len": 4000,
                        "Det.limit_type": "max",
                        "Det.limit_side_len": self._det_limit,
                        # Short crops are padded to this width before recognition; RapidOCR's 320
                        # wastes most of the work on padding for labels and numbers.
                        "Rec.rec_img_shape": [3, 48, self._rec_width],
                        "EngineConfig.onnxruntime.intra_op_num_threads": self._threads,
                        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                    }
                    self._engine = RapidOCR(params=params)
                    quiet_rapidocr_logs()
        return self._engine

    def read(self, image: Image.Image) -> list[OcrSegment]:
        """All text segments of ``image`` (RGB) as it is, in page pixels (no preparation)."""
        return self.read_pixels(np.asarray(image.convert("RGB")))

    def read_page(self, image: Image.Image) -> tuple[list[OcrSegment], PageTransform]:
        """Text segments of a scanned page, read after preparation (``preprocess``), in the pixels of
        the prepared image, and the transform that maps them back to the page.

        The page is read as it is (after deskew, contrast and scale fixes when needed). It is read
        again turned only when that read says so: by 90° and 270° when most lines stand up (taller
        than wide), by 180° when RapidOCR's line classifier finds most of the longest lines upside
        down or the text reads as fragments (``orientation.legibility``). The most legible read wins.
        A clean page costs one read and one classifier call (a few ms); a turned page two or three reads.
        """
        rgb = np.asarray(image.convert("RGB"))
        pixels, transform = prepare(rgb)
        segments = self.read_pixels(pixels)
        score, count, flat = read_quality(segments)
        if count < MIN_TOKENS_TO_JUDGE:
            return segments, transform
        if flat >= 0.5:
            # Lines lie flat: upright or upside down. The line classifier settles it in a few ms; a
            # page that still reads as fragments is tried upside down as well.
            if score >= ILLEGIBLE_BELOW and self.upside_down_share(pixels, segments) <= 0.5:
                return segments, transform
            turns: tuple[int, ...] = (180,)
        else:
            turns = (90, 270)
        best = (score + 0.1 * flat, segments, transform)
        for turn in turns:
            turned, trial = prepare(rgb, turn)
            trial_segments = self.read_pixels(turned)
            trial_score, _, trial_flat = read_quality(trial_segments)
            if trial_score + 0.1 * trial_flat > best[0]:
                best = (trial_score + 0.1 * trial_flat, trial_segments, trial)
        return best[1], best[2]

    def upside_down_share(self, pixels: np.ndarray[Any, Any], segments: list[OcrSegment]) -> float:
        """Share of the page's longest lines that RapidOCR's line classifier reads as turned 180°."""
        crops = []
        for seg in sorted(segments, key=lambda s: s.bbox[0] - s.bbox[2])[:UPSIDE_DOWN_SAMPLE]:
            x0, y0, x1, y1 = seg.bbox
            crop = pixels[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]
            if crop.size and crop.shape[1] >= 2 * crop.shape[0]:
                crops.append(np.ascontiguousarray(crop))
        if not crops:
            return 0.0
        classifier = self._get_engine()._load_cls_model()
        with self._run_lock:
            labels = classifier(crops).cls_res or []
        return sum(1 for label, conf in labels if "180" in str(label) and conf >= 0.9) / len(crops)

    def read_pixels(self, arr: np.ndarray[Any, Any]) -> list[OcrSegment]:
        """All text segments of an RGB array, in its pixels."""
        engine = self._get_engine()
        with self._run_lock:  # RapidOCR keeps per-call settings on the instance; ONNX uses all cores anyway
            result = engine(arr)
        txts = getattr(result, "txts", None)
        boxes = getattr(result, "boxes", None)
        if not txts or boxes is None:
            return []
        scores = list(getattr(result, "scores", None) or [1.0] * len(txts))
        word_results = list(getattr(result, "word_results", None) or [])
        segments: list[OcrSegment] = []
        wi = 0
        for quad, text, score in zip(boxes, txts, scores, strict=False):
            text = " ".join(normalise_text(str(text)).split())
            if not text:
                continue
            bbox = _quad_to_bbox(quad)
            words: list[OcrWord] = []
            # RapidOCR drops word lists it could not place, so match them to lines by content.
            if wi < len(word_results):
                cand = word_results[wi]
                cand_text = normalise_text("".join(str(w[0]) for w in cand))
                if _squash(cand_text) == _squash(text):
                    wi += 1
                    for wtext, _wscore, wquad in cand:
                        wt = normalise_text(str(wtext)).strip()
                        if wt and wquad is not None:
                            words.append(OcrWord(wt, _quad_to_bbox(wquad)))
            if not words:
                words = split_evenly(text, bbox)
            segments.append(OcrSegment(text=text, bbox=bbox, score=float(score), words=words))
        return segments
