"""DICOM at ingest: parse from memory, check the limits from the header, decode frames to pages.

A DICOM file (PS3.10: a 128-byte preamble, ``DICM``, the file meta group, the data set) is read with
pydicom from a ``BytesIO``, never from a path, so no plaintext reaches the disk. The order is the
vault's usual one:

1. the preamble must be empty (zeros): whatever sits there makes the file readable as another type
   (a TIFF, a Windows executable: CVE-2019-11687), so a non-empty preamble is refused as a polyglot;
2. a Deflated data set is inflated with a bound (the room of ``max_file_bytes`` plus the pixel bytes
   its header declares; more is refused as a bomb), never by pydicom, and parsed as Explicit VR
   Little Endian;
3. the header is parsed without the pixel data; the transfer syntax must be one an installed decoder
   handles, and ``Rows`` x ``Columns`` x ``NumberOfFrames`` (x samples) is checked against
   ``max_pixels_per_page``, ``max_pages`` and ``max_total_pixels`` before a pixel is touched;
4. the pixel data is checked against the header (the element holds the length it declares; native
   data long enough and not far longer; an encapsulated frame's own JPEG SOF or JPEG 2000 SIZ, found
   by walking the markers or the JP2 boxes, names the same size, and a frame whose size cannot be read
   is refused; an RLE frame no bigger than its raw size);
5. each frame is decoded, the Modality LUT and then the VOI LUT (window centre and width when the
   file has them, else a robust 0.5-99.5 percentile window) map it to 8 bits, ``MONOCHROME1`` is
   inverted and colour frames come out RGB. Each frame is one page.

Any parse or decode failure is a ``BadImageError`` ("truncated or corrupt") naming DICOM; a transfer
syntax with no installed decoder is a ``BadImageError`` naming it and what is supported.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_frames
from pydicom.errors import InvalidDicomError
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.filewriter import write_file_meta_info
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.processing import apply_modality_lut
from pydicom.pixels.utils import pixel_array
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from sealroom.config import LimitSettings
from sealroom.errors import BadImageError, TooLargeError

MEDIA_TYPE: Final = "application/dicom"
PREAMBLE: Final = 128
CORRUPT: Final = "the DICOM file is truncated or corrupt"
# Every exception pydicom and its decoder plug-ins are known to raise on malformed input.
_PARSE_ERRORS: Final = (
    InvalidDicomError, OSError, EOFError, ValueError, KeyError, IndexError, TypeError,
    AttributeError, NotImplementedError, RuntimeError, struct.error, OverflowError,
)  # fmt: skip
_PERCENTILES: Final = (0.5, 99.5)
# Start-of-frame markers (SOF0-15 without DHT, JPG and DAC, plus JPEG-LS SOF55) carry the frame size.
_SOF_MARKERS: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}
_RLE_SLACK: Final = 1.02  # RLE of incompressible data grows by 1/128 plus the 64-byte header
# Native pixel data may carry a little more than the header declares (padding, a stray trailing
# frame); far more is refused (it is what a Deflated bomb inflates to).
_NATIVE_SLACK: Final = 2
_NATIVE_EXTRA: Final = 1 << 20
_PIXEL_DATA: Final = 0x7FE00010
_UNDEFINED_LENGTH: Final = 0xFFFFFFFF
_JPEG_FAMILY: Final = frozenset(
    {
        pydicom.uid.JPEGBaseline8Bit, pydicom.uid.JPEGExtended12Bit, pydicom.uid.JPEGLossless,
        pydicom.uid.JPEGLosslessSV1, pydicom.uid.JPEGLSLossless, pydicom.uid.JPEGLSNearLossless,
    }
)  # fmt: skip
_J2K_FAMILY: Final = frozenset(
    {
        pydicom.uid.JPEG2000Lossless, pydicom.uid.JPEG2000, pydicom.uid.JPEG2000MCLossless,
        pydicom.uid.JPEG2000MC, pydicom.uid.HTJ2KLossless, pydicom.uid.HTJ2KLosslessRPCL, pydicom.uid.HTJ2K,
    }
)  # fmt: skip


def is_dicom(data: bytes) -> bool:
    """Whether ``data`` is a PS3.10 DICOM file (``DICM`` after the 128-byte preamble)."""
    return len(data) >= PREAMBLE + 4 and data[PREAMBLE : PREAMBLE + 4] == b"DICM"


def check_preamble(data: bytes) -> None:
    """Refuse a DICOM whose preamble is not empty: it would also be read as another file."""
    if any(data[:PREAMBLE]):
        raise BadImageError(
            "the DICOM file has data in its 128-byte preamble, which makes it readable as another "
            "file type as well (a polyglot, e.g. a TIFF or executable header); refused. Re-export it "
            "with an empty preamble"
        )


@dataclass(frozen=True)
class DicomHeader:
    """The facts about the pixel data read from the header, before any pixel is decoded."""

    transfer_syntax: UID
    rows: int
    columns: int
    frames: int
    samples: int
    bits_allocated: int
    photometric: str

    @property
    def frame_bytes(self) -> int:
        """Bytes of one uncompressed frame."""
        return self.rows * self.columns * self.samples * max(1, self.bits_allocated // 8)

    @property
    def pixel_bytes(self) -> int:
        """Bytes of all the native (uncompressed) pixel data the header declares."""
        bits = self.rows * self.columns * self.samples * self.bits_allocated * self.frames
        return (bits + 7) // 8


def read_dataset(data: bytes, *, pixels: bool, limits: LimitSettings | None = None) -> Dataset:
    """Parse a DICOM file from memory (without its pixel data unless ``pixels``).

    A Deflated Explicit VR Little Endian data set is inflated here with a bound (``_inflate``), never
    by pydicom (which inflates the whole stream, however large), and parsed as Explicit VR Little
    Endian: the returned data set's transfer syntax is Explicit VR Little Endian.
    """
    limits = limits if limits is not None else LimitSettings()
    try:
        meta, offset = _file_meta(data)
        if meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian:
            # Inflated with a bound, then parsed as Explicit VR Little Endian (pydicom inflates nothing).
            data = data[: PREAMBLE + 4] + _explicit_meta(meta) + _inflate(data[offset:], meta, limits)
        return _parse(data, pixels=pixels)
    except _PARSE_ERRORS as exc:
        raise BadImageError(f"{CORRUPT} ({type(exc).__name__}: {str(exc)[:120]})") from exc


def _parse(data: bytes, *, pixels: bool) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about odd values; the checks decide
        return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=not pixels)


def _file_meta(data: bytes) -> tuple[FileMetaDataset, int]:
    """The file meta group, and the offset of the data set after it."""
    fp = io.BytesIO(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read_preamble(fp, False)
        meta = _read_file_meta_info(fp)
    return meta, fp.tell()


def _explicit_meta(meta: FileMetaDataset) -> bytes:
    """``meta`` written with Explicit VR Little Endian as its transfer syntax."""
    meta = FileMetaDataset(meta)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, False
    write_file_meta_info(out, meta, enforce_standard=False)
    return out.getvalue()


def _inflate(stream: bytes, meta: FileMetaDataset, limits: LimitSettings) -> bytes:
    """Inflate a Deflated Explicit VR Little Endian data set, refusing a decompression bomb.

    At most ``max_file_bytes`` are inflated first (room for any real header); if the stream goes on,
    the header in that prefix is parsed and checked against the limits, and the whole data set may
    then inflate to no more than that room plus the pixel data the header declares.
    """
    room = limits.max_file_bytes
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        head = inflater.decompress(stream, room + 1)
    except zlib.error as exc:
        raise BadImageError(f"{CORRUPT} (its deflated data set cannot be inflated: {exc})") from exc
    if len(head) <= room:
        return head  # the whole stream fits in the room: bounded by the configured file size
    too_large = TooLargeError(
        f"the Deflated DICOM's header inflates to more than {room:,} bytes (limits.max_file_bytes); "
        "refused as a possible decompression bomb"
    )
    if struct.pack("<HH", 0x7FE0, 0x0010) not in head:  # the header does not end within the room
        raise too_large
    try:
        ds = _parse(bytes(PREAMBLE) + b"DICM" + _explicit_meta(meta) + head, pixels=False)
    except _PARSE_ERRORS as exc:
        raise too_large from exc
    header = check_header(ds, limits, pixel_data=False)
    cap = room + header.pixel_bytes
    try:
        rest = inflater.decompress(inflater.unconsumed_tail, cap + 1 - len(head))
    except zlib.error as exc:
        raise BadImageError(f"{CORRUPT} (its deflated data set cannot be inflated: {exc})") from exc
    if len(head) + len(rest) > cap:
        raise TooLargeError(
            f"the Deflated DICOM inflates to more than {cap:,} bytes, far beyond the "
            f"{header.pixel_bytes:,} bytes of pixels its header declares ({header.columns}x{header.rows}, "
            f"{header.frames} frames); refused as a possible decompression bomb"
        )
    return head + rest


def supported_syntaxes() -> list[str]:
    """Names of the transfer syntaxes this installation can decode."""
    from pydicom.uid import AllTransferSyntaxes

    names = []
    for uid in AllTransferSyntaxes:
        try:
            if get_decoder(UID(uid)).is_available:
                names.append(UID(uid).name)
        except NotImplementedError:
            continue
    return names


def check_header(ds: Dataset, limits: LimitSettings, *, pixel_data: bool = True) -> DicomHeader:
    """Check the transfer syntax and every pixel limit from the header alone.

    Raises ``BadImageError`` (no pixel data, missing or invalid attributes, a transfer syntax with no
    installed decoder) or ``TooLargeError`` (pages, pixels per page, pixels per file). With
    ``pixel_data`` false, ``ds`` was read without its pixel data, which is not looked for.
    """
    meta = getattr(ds, "file_meta", None)
    syntax = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if not syntax:
        raise BadImageError(f"{CORRUPT} (its file meta group names no transfer syntax)")
    syntax = UID(str(syntax))
    try:
        decoder = get_decoder(syntax)
        available = decoder.is_available
    except NotImplementedError:
        available = False
    except _PARSE_ERRORS as exc:
        raise BadImageError(f"{CORRUPT} (invalid transfer syntax)") from exc
    if not available:
        name = syntax.name if syntax.is_transfer_syntax else "an unknown transfer syntax"
        raise BadImageError(
            f"the DICOM file uses the transfer syntax {name} ({str(syntax)[:64]}), which this "
            f"installation cannot decode; supported: {', '.join(supported_syntaxes())}. Convert it "
            "(e.g. to Explicit VR Little Endian) and ingest it again"
        )
    if not pixel_data:
        pass
    elif "PixelData" not in ds and not any(k in ds for k in ("FloatPixelData", "DoubleFloatPixelData")):
        raise BadImageError("the DICOM file holds no image (no Pixel Data element); nothing to ingest")
    elif "PixelData" not in ds:
        raise BadImageError("the DICOM file holds float pixel data, which Sealroom does not ingest")
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.BitsAllocated)
        photometric = str(ds.PhotometricInterpretation).strip().upper()
    except _PARSE_ERRORS as exc:
        raise BadImageError(f"{CORRUPT} (its image attributes are missing or invalid)") from exc
    if rows <= 0 or columns <= 0 or frames <= 0 or samples not in (1, 3) or bits not in (1, 8, 16, 32):
        raise BadImageError(
            f"{CORRUPT} (its header says {columns}x{rows} pixels, {frames} frames, {samples} samples "
            f"of {bits} bits)"
        )
    if frames > limits.max_pages:
        raise TooLargeError(
            f"the DICOM has {frames} frames, over the limit of {limits.max_pages} pages (limits.max_pages)"
        )
    pixels = rows * columns
    if pixels > limits.max_pixels_per_page:
        raise TooLargeError(
            f"the DICOM frame is {columns:,} x {rows:,} = {pixels:,} pixels, over the limit of "
            f"{limits.max_pixels_per_page:,} pixels per page (limits.max_pixels_per_page); a file this "
            "large is refused as a possible decompression bomb"
        )
    if pixels * frames > limits.max_total_pixels:
        raise TooLargeError(
            f"the DICOM's {frames} frames total {pixels * frames:,} pixels, over the limit of "
            f"{limits.max_total_pixels:,} pixels per file (limits.max_total_pixels)"
        )
    return DicomHeader(syntax, rows, columns, frames, samples, bits, photometric)


def check_pixel_data(ds: Dataset, header: DicomHeader) -> None:
    """Refuse pixel data that does not match the header, before the decoder sees it."""
    raw = ds.get_item(_PIXEL_DATA)
    declared = getattr(raw, "length", None)
    present = getattr(raw, "value", None)
    if (
        isinstance(declared, int)
        and declared != _UNDEFINED_LENGTH
        and isinstance(present, bytes | bytearray)
        and declared > len(present)
    ):
        raise BadImageError(
            f"{CORRUPT} (its Pixel Data element declares {declared:,} bytes but holds {len(present):,})"
        )
    data = ds.PixelData
    if not header.transfer_syntax.is_encapsulated:
        expected = header.pixel_bytes
        if len(data) < expected:
            raise BadImageError(
                f"{CORRUPT} (its pixel data holds {len(data):,} of the {expected:,} bytes the header "
                "promises)"
            )
        if len(data) > expected * _NATIVE_SLACK + _NATIVE_EXTRA:
            raise BadImageError(
                f"{CORRUPT} (its pixel data holds {len(data):,} bytes, far more than the {expected:,} "
                f"bytes of {header.columns}x{header.rows} x {header.frames} frames the header declares; "
                "refused as a possible decompression bomb)"
            )
        return
    try:
        frames = list(generate_frames(data, number_of_frames=header.frames))
    except _PARSE_ERRORS as exc:
        raise BadImageError(f"{CORRUPT} (its encapsulated pixel data cannot be split into frames)") from exc
    if len(frames) < header.frames:
        raise BadImageError(f"{CORRUPT} (it holds {len(frames)} of the {header.frames} frames it promises)")
    for number, frame in enumerate(frames, start=1):
        _check_frame_size(frame, header, number)


def _check_frame_size(frame: bytes, header: DicomHeader, number: int) -> None:
    """The frame's own size (JPEG SOF, JPEG 2000 SIZ) must be the header's; an RLE frame may not be
    bigger than raw data (its expansion is bounded by its length, so this bounds its output).

    For the JPEG and JPEG 2000 families a frame whose size cannot be read is refused: the decoder
    would otherwise inflate it at whatever size it names."""
    syntax = header.transfer_syntax
    if syntax == pydicom.uid.RLELossless:
        if len(frame) > header.frame_bytes * _RLE_SLACK + 1024:
            raise BadImageError(f"{CORRUPT} (RLE frame {number} is larger than its uncompressed size)")
        return
    if syntax in _J2K_FAMILY:
        size = _j2k_size(frame)
        kind = "JPEG 2000 (no SIZ segment where the codestream starts)"
    elif syntax in _JPEG_FAMILY:
        size = _jpeg_size(frame)
        kind = "JPEG (no start-of-frame header before the image data)"
    else:
        size = _j2k_size(frame) or _jpeg_size(frame)
        kind = ""
    if size is None:
        if kind:
            raise BadImageError(
                f"{CORRUPT} (frame {number}'s image size cannot be read: {kind}; refused before "
                "decoding as a possible decompression bomb)"
            )
        return
    width, height, components = size
    if (width, height) != (header.columns, header.rows) or components not in (None, header.samples):
        raise BadImageError(
            f"{CORRUPT} (frame {number} holds a {width}x{height} image"
            + (f" of {components} components" if components not in (None, header.samples) else "")
            + f", the header says {header.columns}x{header.rows}"
            + (f" of {header.samples}" if components not in (None, header.samples) else "")
            + "; refused as a possible decompression bomb)"
        )


def _j2k_size(frame: bytes) -> tuple[int, int, int | None] | None:
    """``(width, height, components)`` from the SIZ segment of a JPEG 2000 frame: a raw codestream
    (SOC then SIZ at its start) or a JP2 file, whose top-level boxes are walked to the first
    contiguous codestream box (``jp2c``). ``None`` if there is no such codestream."""
    codestream = _jp2_codestream(frame) if frame[4:8] == b"jP  " else memoryview(frame)
    if codestream is None or len(codestream) < 42 or bytes(codestream[:4]) != b"\xff\x4f\xff\x51":
        return None
    xsiz, ysiz, xo, yo = struct.unpack(">IIII", codestream[8:24])
    (csiz,) = struct.unpack(">H", codestream[40:42])
    if xo >= xsiz or yo >= ysiz:
        return None
    return xsiz - xo, ysiz - yo, csiz


def _jp2_codestream(frame: bytes) -> memoryview | None:
    view = memoryview(frame)
    pos = 0
    while pos + 8 <= len(view):
        length, kind = struct.unpack(">I4s", view[pos : pos + 8])
        head = 8
        if length == 1:  # the length is in the 8 bytes that follow
            if pos + 16 > len(view):
                return None
            (length,) = struct.unpack(">Q", view[pos + 8 : pos + 16])
            head = 16
        elif length == 0:  # the box runs to the end
            length = len(view) - pos
        if length < head:
            return None
        if kind == b"jp2c":
            return view[pos + head : pos + length]
        pos += length
    return None


def _jpeg_size(frame: bytes) -> tuple[int, int, int | None] | None:
    """``(width, height, components)`` from the SOF segment of a JPEG / JPEG-LS frame, if it has one
    before its first scan."""
    if not frame.startswith(b"\xff\xd8"):
        return None
    pos = 2
    while pos + 4 <= len(frame) and frame[pos] == 0xFF:
        marker = frame[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xDA or marker == 0xD9:  # SOS / EOI: no frame header before the data
            return None
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # standalone markers
            pos += 2
            continue
        length = struct.unpack(">H", frame[pos + 2 : pos + 4])[0]
        if marker in _SOF_MARKERS:
            if pos + 10 > len(frame):
                return None
            height, width, components = struct.unpack(">HHB", frame[pos + 5 : pos + 10])
            return width, height, components
        pos += 2 + length
    return None


def inspect_dicom(data: bytes, limits: LimitSettings) -> tuple[DicomHeader, Dataset]:
    """Parse and check a DICOM file completely except for decoding its pixels."""
    ds = read_dataset(data, pixels=True, limits=limits)
    header = check_header(ds, limits)
    check_pixel_data(ds, header)
    return header, ds


def decode_frames(ds: Dataset, header: DicomHeader) -> Iterator[np.ndarray[Any, Any]]:
    """Each frame's stored values (colour frames as RGB), decoded one at a time."""
    for index in range(header.frames):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield pixel_array(ds, index=index)
        except _PARSE_ERRORS as exc:
            raise BadImageError(
                f"{CORRUPT} (frame {index + 1} cannot be decoded as {header.transfer_syntax.name}: "
                f"{str(exc)[:120]})"
            ) from exc


def display_frame(ds: Dataset, header: DicomHeader, frame: np.ndarray[Any, Any], index: int) -> Image.Image:
    """An 8-bit RGB rendering of one frame: Modality LUT, VOI window (or percentiles), MONOCHROME1
    inverted. Colour frames are scaled to 8 bits only."""
    if header.samples == 3:
        rgb = frame if frame.dtype == np.uint8 else _scale(frame.astype(np.float64), *_minmax(frame))
        return Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB")
    values = np.asarray(apply_modality_lut(frame, ds), dtype=np.float64)
    window = _window(ds, index)
    low, high = window if window is not None else _percentile_window(values)
    gray = _scale(values, low, high)
    if header.photometric == "MONOCHROME1":
        gray = 255 - gray
    return Image.fromarray(np.ascontiguousarray(gray), mode="L").convert("RGB")


def _scale(values: np.ndarray[Any, Any], low: float, high: float) -> np.ndarray[Any, Any]:
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = np.clip((values - low) * (255.0 / (high - low)), 0, 255)
    return np.asarray(np.rint(scaled), dtype=np.uint8)


def _minmax(values: np.ndarray[Any, Any]) -> tuple[float, float]:
    return float(values.min()), float(values.max())


def _percentile_window(values: np.ndarray[Any, Any]) -> tuple[float, float]:
    low, high = (float(v) for v in np.percentile(values, _PERCENTILES))
    return (low, high) if high > low else _minmax(values)


def _window(ds: Dataset, index: int) -> tuple[float, float] | None:
    """The linear VOI window ``(low, high)`` for frame ``index``: per-frame functional groups first,
    then shared ones, then the top-level Window Center / Width (the first pair when several)."""
    sources: list[Dataset] = []
    for name, pick in (("PerFrameFunctionalGroupsSequence", index), ("SharedFunctionalGroupsSequence", 0)):
        groups = ds.get(name)
        if groups is not None and len(groups) > pick:
            voi = groups[pick].get("FrameVOILUTSequence")
            if voi:
                sources.append(voi[0])
    sources.append(ds)
    for source in sources:
        center, width = source.get("WindowCenter"), source.get("WindowWidth")
        if center is None or width is None:
            continue
        try:
            c = float(center[0] if isinstance(center, pydicom.multival.MultiValue) else center)
            w = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
        except (TypeError, ValueError, IndexError):
            continue
        if w >= 1:
            # PS3.3 C.11.2.1.2.1 linear function: the window spans c - 0.5 ± (w - 1) / 2.
            return c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2
    return None


def decode_dicom(data: bytes, limits: LimitSettings) -> list[Image.Image]:
    """Validate and decode every frame of a DICOM file into an 8-bit RGB page."""
    header, ds = inspect_dicom(data, limits)
    pages: list[Image.Image] = []
    try:
        for index, frame in enumerate(decode_frames(ds, header)):
            if frame.shape[:2] != (header.rows, header.columns):
                raise BadImageError(f"{CORRUPT} (frame {index + 1} decodes to the wrong size)")
            pages.append(display_frame(ds, header, frame, index))
    except BaseException:
        for page in pages:
            page.close()
        raise
    return pages
