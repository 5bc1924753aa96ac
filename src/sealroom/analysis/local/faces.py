"""Offline face detection with the Haar cascades that ship inside ``opencv-python-headless``.

The detectors see a grayscale copy of the page, shrunk so its longest side is at most
``WORK_SIDE``. A coarse pass (two frontal-face cascades and the profile cascade, on the image and
its mirror, as it only knows faces turned one way) proposes places; a fine pass runs all three
frontal cascades and the profile one on those places only. Each detector alone fires now and then
on signatures, logos or table corners, but weakly; a real face is found by several detectors, each
with many overlapping windows. So the fine hits are grouped by overlap and a group counts as a face
only when its summed window count reaches ``MIN_SCORE``. Each face box is then padded (most at the
top, for the hair) so the whole head is covered, and overlapping boxes are merged.

Nothing here writes to disk or the network; the cascade files are read once, from the OpenCV wheel.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

import cv2
import numpy as np
from cv2.data import haarcascades
from PIL import Image

from sealroom.analysis.models import BBox

WORK_SIDE = 1024
"""Longest side of the grayscale copy the detectors see (larger images are shrunk for speed)."""
MIN_FACE = 24
"""Smallest face searched for, in pixels of that copy (the cascades' own window is 20-24 px)."""
MIN_SCORE = 9
"""Summed window count over all detectors that a group of hits needs to count as a face."""
# Fractions of the detector's box (which spans brows to mouth) added on each side: the top pad
# reaches the hair, the bottom one the chin.
PAD_SIDE, PAD_TOP, PAD_BOTTOM = 0.3, 0.6, 0.35

_FRONTAL = (
    "haarcascade_frontalface_default.xml",
    "haarcascade_frontalface_alt.xml",
    "haarcascade_frontalface_alt2.xml",
)
_PROFILE = "haarcascade_profileface.xml"
# The coarse pass (larger scale steps, two frontal models) only proposes places to look; the fine
# pass runs every model on those places alone, which is where almost all of the time went.
_COARSE_STEP, _COARSE_NEIGHBOURS = 1.2, 1
_FINE_STEP, _FINE_NEIGHBOURS = 1.1, 3
_CONTEXT = 0.6
"""Margin around a proposed place, as a share of its size, that the fine pass also sees."""


@dataclass(frozen=True)
class _Hit:
    box: BBox
    windows: int


class _Cascades:
    """The loaded classifiers; a lock serialises their use (OpenCV does not promise that one
    ``CascadeClassifier`` may be used by two threads at once)."""

    def __init__(self) -> None:
        self.frontal = [self._load(haarcascades + name) for name in _FRONTAL]
        self.coarse = [self.frontal[0], self.frontal[2]]  # ``alt`` adds little to ``alt2`` when proposing
        self.profile = self._load(haarcascades + _PROFILE)
        self.lock = threading.Lock()

    @staticmethod
    def _load(path: str) -> Any:
        classifier = cv2.CascadeClassifier(path)
        if classifier.empty():
            raise RuntimeError(f"OpenCV face model missing or unreadable: {path}")
        return classifier


_load_lock = threading.Lock()


@cache
def _load_cascades() -> _Cascades:
    return _Cascades()


def _cascades() -> _Cascades:
    with _load_lock:  # ``functools.cache`` alone may build the value twice under a race
        return _load_cascades()


def _detect(classifier: Any, gray: np.ndarray[Any, Any], step: float, neighbours: int,
            *, mirrored: bool = False) -> list[_Hit]:
    """Hits of one classifier as boxes in ``gray``'s pixels, with their window counts."""
    img = cv2.flip(gray, 1) if mirrored else gray
    rects, counts = classifier.detectMultiScale2(
        img, scaleFactor=step, minNeighbors=neighbours, minSize=(MIN_FACE, MIN_FACE)
    )
    width = gray.shape[1]
    hits = []
    for (x, y, w, h), n in zip(rects, counts, strict=True):
        x0 = width - int(x) - int(w) if mirrored else int(x)
        hits.append(_Hit((x0, int(y), x0 + int(w), int(y) + int(h)), int(n)))
    return hits


def _scan(frontal: list[Any], profile: Any, gray: np.ndarray[Any, Any], step: float,
          neighbours: int) -> list[_Hit]:
    """Hits of the frontal classifiers and of the profile one, both ways round."""
    hits = [hit for classifier in frontal for hit in _detect(classifier, gray, step, neighbours)]
    hits += _detect(profile, gray, step, neighbours)
    return hits + _detect(profile, gray, step, neighbours, mirrored=True)


def _area(box: BBox) -> int:
    return max(box[2] - box[0], 0) * max(box[3] - box[1], 0)


def _same_face(a: BBox, b: BBox) -> bool:
    """Whether two hits are on the same face: they overlap a lot, or one's centre is in the other."""
    inter = _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    if inter and inter / (_area(a) + _area(b) - inter) >= 0.3:
        return True
    small, big = (a, b) if _area(a) <= _area(b) else (b, a)
    cx, cy = (small[0] + small[2]) / 2, (small[1] + small[3]) / 2
    return big[0] <= cx < big[2] and big[1] <= cy < big[3]


def _union(a: BBox, b: BBox) -> BBox:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _group(hits: list[_Hit]) -> list[_Hit]:
    """Hits merged by ``_same_face`` (strongest first), each group as its union and summed count."""
    groups: list[_Hit] = []
    for hit in sorted(hits, key=lambda h: -h.windows):
        for i, group in enumerate(groups):
            if _same_face(group.box, hit.box):
                groups[i] = _Hit(_union(group.box, hit.box), group.windows + hit.windows)
                break
        else:
            groups.append(hit)
    return groups


def _pad(box: BBox, scale: float, width: int, height: int) -> BBox:
    """``box`` (working pixels) padded around the head, in page pixels, clamped to the page."""
    x0, y0, x1, y1 = (v / scale for v in box)
    w, h = x1 - x0, y1 - y0
    return (
        max(0, int(x0 - PAD_SIDE * w)),
        max(0, int(y0 - PAD_TOP * h)),
        min(width, int(np.ceil(x1 + PAD_SIDE * w))),
        min(height, int(np.ceil(y1 + PAD_BOTTOM * h))),
    )


def _merge_overlapping(boxes: list[BBox]) -> list[BBox]:
    """Union boxes that touch until none do."""
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                a, b = merged[i], merged[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    merged[i] = _union(a, b)
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return sorted(merged, key=lambda b: (b[1], b[0]))


def _proposals(hits: list[_Hit], width: int, height: int) -> list[BBox]:
    """Disjoint areas to search finely: each coarse hit group with some context around it."""
    areas = []
    for group in _group(hits):
        x0, y0, x1, y1 = group.box
        dx, dy = int(_CONTEXT * (x1 - x0)) + 1, int(_CONTEXT * (y1 - y0)) + 1
        areas.append((max(0, x0 - dx), max(0, y0 - dy), min(width, x1 + dx), min(height, y1 + dy)))
    return _merge_overlapping(areas)


def _shift(hit: _Hit, dx: int, dy: int) -> _Hit:
    x0, y0, x1, y1 = hit.box
    return _Hit((x0 + dx, y0 + dy, x1 + dx, y1 + dy), hit.windows)


def detect_faces(image: Image.Image) -> list[BBox]:
    """Boxes covering every face found in ``image`` (hair to chin, generously padded), in its
    pixels, top to bottom. Finds upright faces, frontal or in profile, whose brows-to-mouth part
    spans at least ``MIN_FACE`` pixels of the shrunk copy (about 2.5% of a large image's longest
    side); misses faces tilted more than about 15 degrees and heavily covered ones."""
    width, height = image.size
    if width < MIN_FACE or height < MIN_FACE:
        return []
    gray = np.asarray(image.convert("L"))
    # No histogram equalisation: on a mostly white page it crushes a photo's tones into a few grey
    # levels, and the cascades normalise each window's contrast themselves.
    scale = min(1.0, WORK_SIDE / max(width, height))
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    cascades = _cascades()
    fine: list[_Hit] = []
    with cascades.lock:
        coarse = _scan(cascades.coarse, cascades.profile, gray, _COARSE_STEP, _COARSE_NEIGHBOURS)
        for x0, y0, x1, y1 in _proposals(coarse, gray.shape[1], gray.shape[0]):  # disjoint: no double counts
            hits = _scan(cascades.frontal, cascades.profile, gray[y0:y1, x0:x1], _FINE_STEP, _FINE_NEIGHBOURS)
            fine += [_shift(hit, x0, y0) for hit in hits]
    faces = [g.box for g in _group(fine) if g.windows >= MIN_SCORE]
    return _merge_overlapping([_pad(box, scale, width, height) for box in faces])
