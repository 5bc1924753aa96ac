"""Page preparation before OCR: quarter turns, deskew, contrast and upscaling, with the way back.

The OCR reads a *prepared* image; everything it finds is mapped back to the original page's pixels
with ``PageTransform.to_original``, because redaction and the layout view draw on the original page.

Each step runs only when the page needs it, so a clean page reaches the OCR unchanged:

* **quarter turns** (0/90/180/270) are chosen by ``sealroom.local.ocr`` from how well the page
  reads (``sealroom.analysis.orientation.legibility``); this module only applies the turn;
* **skew** up to ``MAX_SKEW_DEGREES`` is estimated from the ink's horizontal projection profile
  (the angle at which text rows give the sharpest profile) and undone when it is at least
  ``MIN_SKEW_DEGREES``;
* **low contrast** (ink and paper closer than ``MIN_CONTRAST`` grey levels, measured between the
  2nd and 98th percentiles) is stretched to the full range, in greyscale; coloured paper with dark
  ink has enough contrast in greyscale and is left alone;
* **small print** (median character height under ``MIN_CHAR_HEIGHT`` px, i.e. a page scanned at
  about 100 dpi or less) is upscaled with bicubic interpolation, up to ``MAX_UPSCALE``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from sealroom.analysis.models import BBox

MAX_SKEW_DEGREES = 15.0
MIN_SKEW_DEGREES = 0.8
"""Below this the OCR's own line boxes absorb the tilt; rotating would only resample the page."""
MIN_CONTRAST = 100
"""Grey levels between the 2nd and 98th percentile; black on white is about 255, 80 % on 95 % grey 38."""
MIN_CHAR_HEIGHT = 12.0
"""Median height of ink blobs (letters) in px; 10-pt text at 150 dpi is about 14-20 px."""
TARGET_CHAR_HEIGHT = 20.0
MAX_UPSCALE = 2.0
MAX_PREPARED_SIDE = 4000
"""The OCR's own cap (``Global.max_side_len``); upscaling never goes past it."""
_MEASURE_SIDE = 1000
"""Skew and contrast are measured on a copy at most this many pixels wide or tall."""

Matrix = NDArray[np.float64]
Pixels = NDArray[np.uint8]


@dataclass(frozen=True)
class PageTransform:
    """How the prepared image was made from the original page: ``matrix`` maps original pixel
    coordinates to prepared ones (3×3, affine). The steps are kept for reports and benchmarks."""

    matrix: Matrix
    original_size: tuple[int, int]
    size: tuple[int, int]
    quarter_turns: int = 0
    """Degrees counter-clockwise, as ``PIL.Image.rotate``."""
    skew: float = 0.0
    """Degrees counter-clockwise the page was turned to level its rows."""
    scale: float = 1.0
    contrast_stretched: bool = False

    @property
    def is_identity(self) -> bool:
        """Whether the OCR read the page as it was."""
        return self.quarter_turns == 0 and self.skew == 0.0 and self.scale == 1.0

    def to_original(self, bbox: BBox) -> BBox:
        """The axis-aligned box, in original page pixels, around ``bbox`` of the prepared image.

        A box on a deskewed page maps to a slightly tilted quadrilateral; its bounding box is
        returned (never smaller than the text), clipped to the page.
        """
        if self.is_identity:
            return bbox
        x0, y0, x1, y1 = bbox
        corners = np.array([[x0, y0, 1.0], [x1, y0, 1.0], [x1, y1, 1.0], [x0, y1, 1.0]])
        back = corners @ np.linalg.inv(self.matrix).T
        w, h = self.original_size
        ox0 = int(np.clip(np.floor(back[:, 0].min()), 0, w))
        oy0 = int(np.clip(np.floor(back[:, 1].min()), 0, h))
        ox1 = int(np.clip(np.ceil(back[:, 0].max()), 0, w))
        oy1 = int(np.clip(np.ceil(back[:, 1].max()), 0, h))
        return (ox0, oy0, max(ox1, ox0 + 1), max(oy1, oy0 + 1))


def identity(width: int, height: int) -> PageTransform:
    """The transform of a page read as it is."""
    return PageTransform(np.eye(3), (width, height), (width, height))


def quarter_turn_matrix(degrees: int, width: int, height: int) -> Matrix:
    """Original → turned coordinates for a counter-clockwise turn by ``degrees`` (0/90/180/270)."""
    if degrees == 90:
        return np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, float(width)], [0.0, 0.0, 1.0]])
    if degrees == 180:
        return np.array([[-1.0, 0.0, float(width)], [0.0, -1.0, float(height)], [0.0, 0.0, 1.0]])
    if degrees == 270:
        return np.array([[0.0, -1.0, float(height)], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    if degrees == 0:
        return np.eye(3)
    raise ValueError(f"a quarter turn is 0, 90, 180 or 270 degrees, not {degrees}")


def _gray(rgb: Pixels) -> Pixels:
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)


def _small(gray: Pixels) -> tuple[Pixels, float]:
    """A copy at most ``_MEASURE_SIDE`` px on its long side, and the factor it was shrunk by."""
    factor = min(1.0, _MEASURE_SIDE / max(gray.shape))
    if factor == 1.0:
        return gray, 1.0
    size = (max(1, round(gray.shape[1] * factor)), max(1, round(gray.shape[0] * factor)))
    return np.asarray(cv2.resize(gray, size, interpolation=cv2.INTER_AREA), dtype=np.uint8), factor


def contrast_range(gray: Pixels) -> tuple[float, float]:
    """The 2nd and 98th percentile grey levels (ink and paper of a text page)."""
    lo, hi = np.percentile(gray, (2, 98))
    return float(lo), float(hi)


def _ink_mask(gray: Pixels) -> Pixels:
    """Dark-on-light ink as 255 (Otsu threshold), background 0."""
    _, mask = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    return np.asarray(mask, dtype=np.uint8)


def estimate_skew(gray: Pixels) -> float:
    """The counter-clockwise turn (degrees, within ±``MAX_SKEW_DEGREES``) that levels the text rows.

    Ink pixels are projected onto the vertical axis at each candidate angle; rows of text give the
    sharpest profile (largest sum of squared bin counts) when they are level. Coarse 1° steps, then
    0.1° steps around the best; about 10 ms on a letter page.
    """
    small, _ = _small(gray)
    ys, xs = np.nonzero(_ink_mask(small))
    if len(xs) < 200:
        return 0.0
    if len(xs) > 40_000:  # a sample is enough for the profile
        pick = np.random.default_rng(0).choice(len(xs), 40_000, replace=False)
        xs, ys = xs[pick], ys[pick]
    px, py = xs.astype(np.float64), ys.astype(np.float64)
    bins = int(max(small.shape) * 1.5)

    def sharpness(deg: float) -> float:
        t = np.deg2rad(deg)
        proj = -np.sin(t) * px + np.cos(t) * py
        hist = np.bincount((proj - proj.min()).astype(np.int64), minlength=1)[:bins]
        return float(np.dot(hist, hist))

    coarse = max(np.arange(-MAX_SKEW_DEGREES, MAX_SKEW_DEGREES + 0.5, 1.0), key=sharpness)
    fine = max(np.arange(coarse - 1.0, coarse + 1.05, 0.1), key=sharpness)
    return float(np.clip(round(fine, 1), -MAX_SKEW_DEGREES, MAX_SKEW_DEGREES))


def char_height(gray: Pixels) -> float:
    """Median height (px) of letter-sized ink blobs; 0 when the page has too few to tell."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(_ink_mask(gray), connectivity=8)
    if count < 30:
        return 0.0
    w, h, area = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_AREA]
    letters = h[(h >= 3) & (h <= 80) & (w <= 3 * h) & (area >= 6)]
    return float(np.median(letters)) if len(letters) >= 30 else 0.0


def _rotate(pixels: Pixels, degrees: float, fill: int) -> tuple[Pixels, Matrix]:
    """``pixels`` turned ``degrees`` counter-clockwise on a canvas that holds all of it."""
    h, w = pixels.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(h * sin + w * cos)), int(np.ceil(h * cos + w * sin))
    m[0, 2] += nw / 2.0 - w / 2.0
    m[1, 2] += nh / 2.0 - h / 2.0
    border = (fill, fill, fill) if pixels.ndim == 3 else fill
    out = cv2.warpAffine(pixels, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=border)
    return np.asarray(out, dtype=np.uint8), np.vstack([m, [0.0, 0.0, 1.0]])


def prepare(rgb: Pixels, quarter_turns: int = 0) -> tuple[Pixels, PageTransform]:
    """The image the OCR should read for page ``rgb`` (H×W×3), and how to map boxes back.

    ``quarter_turns`` (0/90/180/270, counter-clockwise) is applied first; then skew, contrast and
    resolution are measured on the turned page and corrected only where needed.
    """
    oh, ow = rgb.shape[:2]
    matrix = quarter_turn_matrix(quarter_turns, ow, oh)
    pixels = np.ascontiguousarray(np.rot90(rgb, quarter_turns // 90)) if quarter_turns else rgb
    gray = _gray(pixels)
    lo, hi = contrast_range(_small(gray)[0])
    stretched = hi - lo < MIN_CONTRAST and hi - lo >= 8  # a blank page stays blank
    if stretched:
        levels = (gray.astype(np.float32) - lo) * (255.0 / (hi - lo))
        gray = np.asarray(np.clip(levels, 0, 255), dtype=np.uint8)
        pixels = np.asarray(cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB), dtype=np.uint8)
    skew = estimate_skew(gray)
    if abs(skew) >= MIN_SKEW_DEGREES:
        paper = int(np.percentile(gray, 90))
        pixels, rot = _rotate(pixels, skew, paper)
        gray, _ = _rotate(gray, skew, paper)
        matrix = rot @ matrix
    else:
        skew = 0.0
    scale = 1.0
    height = char_height(gray)
    if 0 < height < MIN_CHAR_HEIGHT:
        scale = min(MAX_UPSCALE, TARGET_CHAR_HEIGHT / height, MAX_PREPARED_SIDE / max(pixels.shape[:2]))
        scale = max(1.0, scale)
        if scale > 1.0:
            size = (round(pixels.shape[1] * scale), round(pixels.shape[0] * scale))
            scale_x, scale_y = size[0] / pixels.shape[1], size[1] / pixels.shape[0]
            pixels = np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_CUBIC), dtype=np.uint8)
            matrix = np.diag([scale_x, scale_y, 1.0]) @ matrix
    transform = PageTransform(
        matrix=matrix, original_size=(ow, oh), size=(pixels.shape[1], pixels.shape[0]),
        quarter_turns=quarter_turns, skew=skew, scale=scale, contrast_stretched=stretched,
    )
    return pixels, transform
