"""Rendering an export: watermark the (already redacted) pages and encode them as PNG or PDF.

Every rendered page carries two marks. A solid band added below the page names the export (who, when,
which request) in dark text large enough for OCR to read, so a copy found later can be traced from
its pixels alone. A semi-transparent diagonal text repeated across the page makes cropping the band
off still leave a marked image. The diagonal is drawn before the redacted regions are painted again,
so every burned-out box stays solid black.

Encoding writes pixels and nothing else: the PNG holds only its image chunks (no text, time, EXIF or
ICC chunks), the PDF has no document information (title, dates, producer). Pages are copied into
fresh images first, so no metadata carried by a decoded page can reach the output.

The font is the scalable one that ships inside Pillow (``ImageFont.load_default(size=...)``): no
system font path is read, and the output is the same on every host with the same Pillow.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

from sealroom.analysis.models import BBox, PageImage
from sealroom.redaction import INK, Region

ExportFormat = Literal["png", "pdf", "dcm"]
"""``dcm`` (DICOM images only) is written by ``sealroom.analysis.dicom_deid``, not rendered here."""

BAND_FILL = (255, 243, 176)
"""Pale yellow: stands out from paper, and dark text on it reads as well as on white."""
BAND_RULE = (0, 0, 0)
BAND_TEXT = (0, 0, 0)
DIAGONAL_TEXT = (150, 0, 0)
DIAGONAL_ALPHA = 64
"""Opacity (of 255) of the diagonal text: visible on any page, the page stays readable beneath it."""
DIAGONAL_ANGLE = 30
JPEG_QUALITY = 90
"""The PDF driver stores RGB pages as JPEG; high enough that the band's text stays crisp."""


@dataclass(frozen=True)
class Watermark:
    """Who the export is for, when it was rendered and under which request."""

    username: str
    when: datetime
    request_id: str

    def parts(self) -> list[str]:
        """The band's words in order, as units never split across lines."""
        user = "".join(char for char in self.username if char.isprintable() and not char.isspace())[:64]
        return [
            "SEALROOM EXPORT",
            user or "?",
            self.when.strftime("%Y-%m-%d %H:%M UTC"),
            f"request {self.request_id}",
        ]

    def label(self) -> str:
        """The band's text on one line."""
        return "  ".join(self.parts())

    def diagonal(self) -> str:
        """The shorter text repeated across the page."""
        user = self.parts()[1]
        return f"SEALROOM EXPORT  {user}  {self.request_id[:8]}"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _text_width(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str) -> float:
    left, _top, right, _bottom = font.getbbox(text)
    return right - left


def _band_lines(
    parts: Sequence[str], width: int
) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, int, list[str]]:
    """The font, its size and the lines of the band: parts packed greedily into lines that fit
    ``width``, at a size scaled to the page and reduced until the longest part fits."""
    margin = max(8, width // 50)
    usable = max(width - 2 * margin, 1)
    size = max(14, min(44, width // 40))
    font = _font(size)
    while size > 8 and max(_text_width(font, part) for part in parts) > usable:
        size -= 1
        font = _font(size)
    lines: list[str] = []
    for part in parts:
        joined = f"{lines[-1]}  {part}" if lines else part
        if lines and _text_width(font, joined) <= usable:
            lines[-1] = joined
        else:
            lines.append(part)
    return font, size, lines


def add_band(image: Image.Image, mark: Watermark) -> Image.Image:
    """A new image: ``image`` with the watermark band added below it (the page itself is not covered,
    so coordinates on the page are unchanged)."""
    width, height = image.size
    font, size, lines = _band_lines(mark.parts(), width)
    line_height = math.ceil(size * 1.5)
    pad = max(6, size // 2)
    rule = max(2, size // 12)
    band_height = rule + 2 * pad + line_height * len(lines)
    out = Image.new("RGB", (width, height + band_height), BAND_FILL)
    out.paste(image.convert("RGB"), (0, 0))
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, height, width - 1, height + rule - 1), fill=BAND_RULE)
    margin = max(8, width // 50)
    top = height + rule + pad
    for number, line in enumerate(lines):
        draw.text((margin, top + number * line_height), line, font=font, fill=BAND_TEXT)
    return out


def add_diagonal(image: Image.Image, mark: Watermark) -> Image.Image:
    """A new RGB image: ``image`` with the diagonal text repeated across it, semi-transparent."""
    width, height = image.size
    side = math.ceil(math.hypot(width, height))
    size = max(12, min(width, height) // 18)
    font = _font(size)
    text = mark.diagonal()
    step_x = math.ceil(_text_width(font, text) + size * 2)
    step_y = size * 4
    layer = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(layer)
    for row, y in enumerate(range(0, side, step_y)):
        offset = (row % 2) * step_x // 2  # stagger the rows, like a brick wall
        for x in range(-offset, side, step_x):
            draw.text((x, y), text, font=font, fill=DIAGONAL_ALPHA)
    turned = layer.rotate(DIAGONAL_ANGLE, resample=Image.Resampling.BICUBIC)
    left, top = (side - width) // 2, (side - height) // 2
    mask = turned.crop((left, top, left + width, top + height))
    out = image.convert("RGB") if image.mode != "RGB" else image.copy()
    out.paste(DIAGONAL_TEXT, (0, 0, width, height), mask)
    return out


def watermark_page(image: Image.Image, mark: Watermark, redacted: Sequence[BBox] = ()) -> Image.Image:
    """``image`` with the diagonal text and the band; the ``redacted`` boxes are painted black again
    after the diagonal, so they stay uniformly black."""
    marked = add_diagonal(image, mark)
    for box in redacted:
        marked.paste(INK, box)
    return add_band(marked, mark)


def _bare(image: Image.Image) -> Image.Image:
    """A copy holding the pixels only (``info`` empty: no ICC profile, EXIF, text or dpi)."""
    rgb = image.convert("RGB") if image.mode != "RGB" else image
    return Image.frombytes("RGB", rgb.size, rgb.tobytes())


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes of ``image`` with no chunk but IHDR, IDAT and IEND."""
    buffer = io.BytesIO()
    _bare(image).save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def encode_pdf(images: Sequence[Image.Image], resolution: float) -> bytes:
    """A PDF with one page per image at ``resolution`` pixels per inch, and no document information."""
    if not images:
        raise ValueError("a PDF needs at least one page")
    bare = [_bare(image) for image in images]
    buffer = io.BytesIO()
    # Empty values keep the driver from writing its defaults (title from the file name, the
    # current time as creation and modification dates).
    no_info = dict.fromkeys(
        ("title", "author", "subject", "keywords", "creator", "producer", "creationDate", "modDate"), ""
    )
    bare[0].save(
        buffer,
        "PDF",
        save_all=True,
        append_images=bare[1:],
        resolution=resolution,
        quality=JPEG_QUALITY,
        **no_info,
    )
    return buffer.getvalue()


def render_export(
    pages: Sequence[PageImage],
    regions: Sequence[Region],
    mark: Watermark,
    fmt: ExportFormat,
    *,
    resolution: float = 150.0,
) -> bytes:
    """Watermark every page (keeping ``regions`` black) and encode them as ``fmt``.

    PNG takes exactly one page (``ValueError`` otherwise); PDF takes all of them in order.
    """
    marked = [
        watermark_page(page.image, mark, [region.bbox for region in regions if region.page == page.index])
        for page in pages
    ]
    if fmt == "dcm":
        raise ValueError("a dcm export is the de-identified DICOM derivative (analysis.dicom_deid)")
    if fmt == "png":
        if len(marked) != 1:
            raise ValueError(f"a PNG export holds one page, not {len(marked)}")
        return encode_png(marked[0])
    return encode_pdf(marked, resolution)
