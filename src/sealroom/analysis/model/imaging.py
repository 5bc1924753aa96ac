"""Pages → the encoded images a model endpoint receives, within the endpoint's size limits.

Everything happens in memory. The output carries pixels only: the image is rebuilt from its raw
RGB pixels before encoding, so no EXIF, ICC profile, comment or PNG text chunk of the source (or
of Pillow's defaults) can ride along.
"""

from __future__ import annotations

import hashlib
import io
import math
from typing import Literal

from PIL import Image

from sealroom.analysis.model.transport import EncodedImage
from sealroom.analysis.models import PageImage
from sealroom.errors import AnalysisError

JPEG_QUALITIES = (90, 80, 70, 60)
"""Tried in turn when the PNG is too large; below 60 small print starts to blur into the blocks."""
SHRINK_STEP = 0.8
"""Each further downscale when even the lowest JPEG quality is too large."""
MIN_SIDE = 128
"""Below this longest side a page is not worth sending: give up instead."""


def _flat_rgb(image: Image.Image) -> Image.Image:
    """``image`` as plain RGB; transparent parts become white, as a viewer would show them."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _fit_size(width: int, height: int, max_side: int, max_pixels: int) -> tuple[int, int]:
    """The largest size with the same aspect ratio within both limits (never larger than now)."""
    scale = min(1.0, max_side / max(width, height), math.sqrt(max_pixels / (width * height)))
    if scale >= 1.0:
        return width, height
    # Flooring keeps both limits strict even when rounding would tip the product over.
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def _bare(image: Image.Image) -> Image.Image:
    """A new RGB image with the same pixels and nothing else (no ``info`` of any kind)."""
    return Image.frombytes("RGB", image.size, image.tobytes())


def _encode(image: Image.Image, fmt: str, **options: int | bool) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _result(page: PageImage, media_type: Literal["image/png", "image/jpeg"], data: bytes,
            image: Image.Image, downscaled: bool) -> EncodedImage:
    return EncodedImage(
        page=page.index,
        media_type=media_type,
        data=data,
        width=image.width,
        height=image.height,
        sha256=hashlib.sha256(data).hexdigest(),
        downscaled=downscaled,
    )


def encode_for_upload(page: PageImage, *, max_side: int, max_pixels: int, max_bytes: int) -> EncodedImage:
    """Encode one page for a model endpoint: RGB, at most ``max_side`` on its longest side and
    ``max_pixels`` in all (downscaled with Lanczos when larger), and at most ``max_bytes`` long.

    PNG first, as it keeps small print sharp; when that is too large, JPEG at falling quality, then
    smaller and smaller until it fits. ``sha256`` is of exactly the returned bytes. Raises
    ``AnalysisError`` when the page cannot be made to fit.
    """
    if max_side < 1 or max_pixels < 1 or max_bytes < 1:
        raise AnalysisError("the image limits of this engine must be positive")
    source = _flat_rgb(page.image)
    width, height = _fit_size(source.width, source.height, max_side, max_pixels)
    downscaled = (width, height) != source.size
    image = _bare(source.resize((width, height), Image.Resampling.LANCZOS) if downscaled else source)

    data = _encode(image, "PNG", compress_level=6)
    if len(data) <= max_bytes:
        return _result(page, "image/png", data, image, downscaled)
    while True:
        for quality in JPEG_QUALITIES:
            data = _encode(image, "JPEG", quality=quality, optimize=True)
            if len(data) <= max_bytes:
                return _result(page, "image/jpeg", data, image, downscaled)
        width, height = math.floor(image.width * SHRINK_STEP), math.floor(image.height * SHRINK_STEP)
        if max(width, height) < MIN_SIDE or min(width, height) < 1:
            raise AnalysisError(
                f"page {page.index + 1} does not fit in {max_bytes} bytes even as a small JPEG; "
                "raise the engine's max_image_bytes"
            )
        # Always from the full-quality source, so resampling errors do not pile up.
        image = _bare(source.resize((width, height), Image.Resampling.LANCZOS))
        downscaled = True
