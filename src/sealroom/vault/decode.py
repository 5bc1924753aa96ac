"""Decode a file offered for ingest into RGB pages, inside the configured limits, entirely in memory.

Order of checks, cheapest first, so a hostile file is refused before any decoder allocates for it:

1. file size (``max_file_bytes``), before anything else looks at the bytes;
2. type and structure by content (``vault.sniff``): disguised, truncated, polyglot, active PDF content;
3. page count (``max_pages``), the pixel size of every page (``max_pixels_per_page``) and the pixels of all
   pages together (``max_total_pixels``) from the headers — for PDFs at the render resolution
   (``pdf_render_dpi``) — before any pixel is decoded; every page is held in memory at once, so the total
   bounds the memory one file can take (about 4 bytes a pixel);
4. the full decode, where any decoder error means "truncated or corrupt".

Pillow's global ``Image.MAX_IMAGE_PIXELS`` is never changed (that is process-wide state); the pixel limit is
enforced here by reading ``img.size`` after ``Image.open`` and before ``load()``. Pillow's
``LOAD_TRUNCATED_IMAGES`` must stay off; decoding refuses to run if something turned it on.

PDFium is not thread-safe, so every call into it holds one module lock.
"""

from __future__ import annotations

import io
import math
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from sealroom.config import LimitSettings
from sealroom.errors import BadImageError, ConfigError, TooLargeError
from sealroom.vault.dicom import decode_dicom, inspect_dicom
from sealroom.vault.sniff import Kind, Sniffed, check_png_pixel_data, sniff

__all__ = ["DecodedDocument", "DocumentInfo", "decode_document", "inspect_document"]

_PDFIUM_LOCK = threading.Lock()
_PILLOW_FORMATS: dict[Kind, str] = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF"}
# Every exception a decoder is known to raise on malformed input.
_DECODER_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, zlib.error)
_EXIF_ORIENTATION = 0x0112
_SWAPPED_ORIENTATIONS = frozenset({5, 6, 7, 8})


@dataclass(frozen=True)
class DocumentInfo:
    """What a file is and how big each page is, found without decoding any pixels."""

    media_type: str
    page_count: int
    page_sizes: list[tuple[int, int]]  # (width, height) in pixels; PDF pages at the render dpi

    @property
    def width(self) -> int:
        """Width of the first page in pixels."""
        return self.page_sizes[0][0]

    @property
    def height(self) -> int:
        """Height of the first page in pixels."""
        return self.page_sizes[0][1]


@dataclass
class DecodedDocument:
    """A decoded file: every page as an RGB image (PDF pages rendered at ``pdf_render_dpi``)."""

    media_type: str
    pages: list[Image.Image]
    width: int
    height: int
    page_count: int

    def close(self) -> None:
        """Release the page buffers."""
        for page in self.pages:
            page.close()
        self.pages.clear()


def inspect_document(data: bytes, limits: LimitSettings) -> DocumentInfo:
    """Check a file against type, structure and every limit without decoding pixels.

    Raises ``TooLargeError`` for a file over a size, page or pixel limit and ``BadImageError`` for
    anything else refused; the message names the problem, the value and the limit.
    """
    sniffed = _check_and_sniff(data, limits)
    if sniffed.kind == "dicom":
        header, _ = inspect_dicom(data, limits)
        sizes = [(header.columns, header.rows)] * header.frames
        return DocumentInfo(sniffed.media_type, header.frames, sizes)
    if sniffed.kind == "pdf":
        with _PDFIUM_LOCK, _open_pdf(data) as pdf:
            sizes = _pdf_page_sizes(pdf, limits)
        return DocumentInfo(sniffed.media_type, len(sizes), sizes)
    with _open_image(data, sniffed) as img:
        sizes = [_oriented_size(frame) for frame in _frames(img, sniffed, limits)]
    _check_total_pixels(sizes, limits, sniffed.kind.upper())
    return DocumentInfo(sniffed.media_type, len(sizes), sizes)


def decode_document(data: bytes, limits: LimitSettings) -> DecodedDocument:
    """Validate and decode a file into RGB pages, refusing anything over the limits or malformed.

    Raises ``TooLargeError`` (file bytes, page count, pixels per page or per file) or ``BadImageError``
    (empty, unsupported or disguised type, truncated or corrupt data, polyglot, encrypted or active PDF).
    """
    sniffed = _check_and_sniff(data, limits)
    if sniffed.kind == "dicom":
        pages = decode_dicom(data, limits)  # every frame a page, windowed to 8 bits (vault.dicom)
    elif sniffed.kind == "pdf":
        pages = _render_pdf(data, limits)
    else:
        pages = _decode_image(data, sniffed, limits)
    first = pages[0]
    return DecodedDocument(sniffed.media_type, pages, first.width, first.height, len(pages))


# --- shared checks ---------------------------------------------------------------------------------


def _check_and_sniff(data: bytes, limits: LimitSettings) -> Sniffed:
    if len(data) > limits.max_file_bytes:
        raise TooLargeError(
            f"the file is {len(data):,} bytes, over the limit of {limits.max_file_bytes:,} bytes "
            "(limits.max_file_bytes)"
        )
    sniffed = sniff(data)
    if sniffed.dimensions is not None:
        _check_pixels(*sniffed.dimensions, limits, what="the image")
    return sniffed


def _check_pixels(width: int, height: int, limits: LimitSettings, *, what: str, extra: str = "") -> None:
    if width <= 0 or height <= 0:
        raise BadImageError(f"{what} is truncated or corrupt (its size is {width}x{height} pixels)")
    pixels = width * height
    if pixels > limits.max_pixels_per_page:
        raise TooLargeError(
            f"{what} is {width:,} x {height:,} = {pixels:,} pixels{extra}, over the limit of "
            f"{limits.max_pixels_per_page:,} pixels per page (limits.max_pixels_per_page); a file this "
            "large is refused as a possible decompression bomb"
        )


def _check_total_pixels(
    sizes: list[tuple[int, int]], limits: LimitSettings, kind: str, extra: str = ""
) -> None:
    total = sum(width * height for width, height in sizes)
    if total > limits.max_total_pixels:
        raise TooLargeError(
            f"the {kind}'s {len(sizes)} pages total {total:,} pixels{extra}, over the limit of "
            f"{limits.max_total_pixels:,} pixels per file (limits.max_total_pixels); every page is decoded "
            "into memory at once, so a file this large is refused"
        )


def _check_page_count(count: int, limits: LimitSettings, kind: str, *, at_least: bool = False) -> None:
    if count > limits.max_pages:
        counted = f"at least {count}" if at_least else str(count)
        raise TooLargeError(
            f"the {kind} has {counted} pages, over the limit of {limits.max_pages} pages (limits.max_pages)"
        )


# --- raster images (PNG, JPEG, TIFF) ---------------------------------------------------------------


@contextmanager
def _open_image(data: bytes, sniffed: Sniffed) -> Iterator[Image.Image]:
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise ConfigError("Pillow's LOAD_TRUNCATED_IMAGES is enabled in this process; refusing to decode")
    kind = sniffed.kind.upper()
    try:
        img = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[sniffed.kind]])
    except Image.DecompressionBombError as exc:
        raise TooLargeError(
            f"the {kind} image is larger than Pillow's decompression-bomb limit ({exc}); refused "
            "(limits.max_pixels_per_page)"
        ) from exc
    except UnidentifiedImageError as exc:
        raise BadImageError(f"the {kind} file is truncated or corrupt (its header cannot be read)") from exc
    except _DECODER_ERRORS as exc:
        raise BadImageError(f"the {kind} file is truncated or corrupt ({exc})") from exc
    try:
        yield img
    finally:
        img.close()


def _frames(img: Image.Image, sniffed: Sniffed, limits: LimitSettings) -> Iterator[Image.Image]:
    """Yield ``img`` positioned on each frame in turn, after checking count and size from the header."""
    kind = sniffed.kind.upper()
    index = 0
    while True:
        if index > 0:
            try:
                img.seek(index)
            except EOFError:
                return
            except _DECODER_ERRORS as exc:
                raise BadImageError(
                    f"the {kind} file is truncated or corrupt (page {index + 1}: {exc})"
                ) from exc
            _check_page_count(index + 1, limits, kind, at_least=True)
        what = "the image" if index == 0 else f"page {index + 1} of the {kind}"
        _check_pixels(img.width, img.height, limits, what=what)
        yield img
        if sniffed.kind != "tiff":  # only TIFF pages are ingested; a JPEG's MPF extras are not pages
            return
        index += 1


def _decode_image(data: bytes, sniffed: Sniffed, limits: LimitSettings) -> list[Image.Image]:
    kind = sniffed.kind.upper()
    if sniffed.kind == "png":
        check_png_pixel_data(data)
    pages: list[Image.Image] = []
    try:
        with _open_image(data, sniffed) as img:
            # First every page's size from the headers, so the total is checked before any pixel is decoded.
            sizes = [_oriented_size(frame) for frame in _frames(img, sniffed, limits)]
            _check_total_pixels(sizes, limits, kind)
            if len(sizes) > 1:
                img.seek(0)
            for frame in _frames(img, sniffed, limits):
                try:
                    frame.load()
                    pages.append(_to_rgb(_upright(frame)))
                except Image.DecompressionBombError as exc:
                    raise TooLargeError(f"the {kind} image is too large to decode ({exc})") from exc
                except _DECODER_ERRORS as exc:
                    raise BadImageError(f"the {kind} file is truncated or corrupt ({exc})") from exc
    except BaseException:
        for page in pages:  # a later page was refused: free the earlier ones now
            page.close()
        raise
    return pages


def _upright(frame: Image.Image) -> Image.Image:
    """A new image turned by its EXIF orientation; a malformed EXIF block is ignored, not fatal."""
    try:
        return ImageOps.exif_transpose(frame)
    except _DECODER_ERRORS:
        return frame.copy()


def _oriented_size(img: Image.Image) -> tuple[int, int]:
    try:
        orientation = img.getexif().get(_EXIF_ORIENTATION)
    except _DECODER_ERRORS:
        orientation = None
    return (img.height, img.width) if orientation in _SWAPPED_ORIENTATIONS else (img.width, img.height)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Normalise any decoded mode to RGB: transparency over white, high bit depths scaled to 8 bits."""
    mode = img.mode
    if mode == "RGB":
        return img  # callers pass an image they own (_upright returns a new one)
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if mode.startswith("I;16") or mode in ("I", "F"):
        array = np.asarray(img, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = np.zeros_like(array) if high <= low else (array - low) * (255.0 / (high - low))
        return Image.fromarray(scaled.astype(np.uint8), mode="L").convert("RGB")
    try:
        return img.convert("RGB")
    except ValueError as exc:
        raise BadImageError(f"the image uses colour mode {mode!r}, which cannot be converted to RGB") from exc


# --- PDF -------------------------------------------------------------------------------------------


@contextmanager
def _open_pdf(data: bytes) -> Iterator[pdfium.PdfDocument]:
    """Open a PDF from memory (never from disk) and refuse encrypted or active documents. Hold the lock."""
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if exc.err_code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise BadImageError(
                "the PDF is encrypted (password-protected); remove the password and ingest it again"
            ) from exc
        raise BadImageError(
            "the PDF is truncated or corrupt, or has no pages (PDFium cannot open it)"
        ) from exc
    try:
        if pdfium_c.FPDF_GetSecurityHandlerRevision(pdf.raw) != -1:
            raise BadImageError(
                "the PDF is encrypted (it has a security handler, even if it opens without a password); "
                "save an unencrypted copy and ingest that"
            )
        if pdfium_c.FPDFDoc_GetJavaScriptActionCount(pdf.raw) > 0:
            raise BadImageError("the PDF contains JavaScript; active content is refused")
        if pdf.count_attachments() > 0:
            raise BadImageError("the PDF contains embedded files; active content is refused")
        yield pdf
    finally:
        pdf.close()


def _pdf_page_sizes(pdf: pdfium.PdfDocument, limits: LimitSettings) -> list[tuple[int, int]]:
    count = len(pdf)
    if count < 1:
        raise BadImageError("the PDF has no pages")
    _check_page_count(count, limits, "PDF")
    scale = limits.pdf_render_dpi / 72
    sizes = []
    for index in range(count):
        try:
            width_pt, height_pt = pdf.get_page_size(index)
        except pdfium.PdfiumError as exc:
            raise BadImageError(f"the PDF is corrupt (page {index + 1} has no readable size)") from exc
        if not (math.isfinite(width_pt) and math.isfinite(height_pt)):
            raise BadImageError(f"the PDF is corrupt (page {index + 1} has an invalid size)")
        width, height = math.ceil(width_pt * scale), math.ceil(height_pt * scale)
        _check_pixels(
            width,
            height,
            limits,
            what=f"page {index + 1} of the PDF",
            extra=f" at {limits.pdf_render_dpi} dpi (limits.pdf_render_dpi)",
        )
        sizes.append((width, height))
    _check_total_pixels(sizes, limits, "PDF", f" at {limits.pdf_render_dpi} dpi (limits.pdf_render_dpi)")
    return sizes


def _render_pdf(data: bytes, limits: LimitSettings) -> list[Image.Image]:
    pages: list[Image.Image] = []
    with _PDFIUM_LOCK, _open_pdf(data) as pdf:
        _pdf_page_sizes(pdf, limits)
        scale = limits.pdf_render_dpi / 72
        for index in range(len(pdf)):
            try:
                page = pdf[index]
                try:
                    bitmap = page.render(scale=scale, may_draw_forms=False)
                    try:
                        # The page must own its pixels after PDFium's buffer is freed. An opaque page
                        # renders as BGR, which to_pil() already copies into a new RGB image; only the
                        # shared-buffer modes (RGBA, RGBX, L) need convert() to copy. Skipping the
                        # second copy keeps the peak of a big page at about 7 bytes a pixel, not 11.
                        image = bitmap.to_pil()
                        pages.append(image if image.mode == "RGB" else image.convert("RGB"))
                    finally:
                        bitmap.close()
                finally:
                    page.close()
            except pdfium.PdfiumError as exc:
                for done in pages:
                    done.close()
                raise BadImageError(f"the PDF is corrupt (page {index + 1} cannot be rendered)") from exc
    return pages
