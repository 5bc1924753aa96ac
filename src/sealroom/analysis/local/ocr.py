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

from sealroom.analysis.models import BBox

_LOG_NAMES = ("RapidOCR", "rapidocr")


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
        """All text segments of ``image`` (RGB), in page pixels."""
        engine = self._get_engine()
        arr = np.asarray(image.convert("RGB"))
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
