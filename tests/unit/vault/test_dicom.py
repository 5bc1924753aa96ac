"""DICOM at ingest: type by content, limits from the header before decoding, windowing, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.uid import MPEG4HP41, JPEG2000Lossless, RLELossless
from tests.dicom_files import build, header_only, with_syntax

from sealroom.config import LimitSettings
from sealroom.errors import BadImageError, TooLargeError
from sealroom.vault import dicom
from sealroom.vault.decode import decode_document, inspect_document
from sealroom.vault.sniff import sniff

LIMITS = LimitSettings()


def test_dicom_is_recognised_by_content_and_decoded_frame_by_frame() -> None:
    built = build(frames=[["FRAME ONE"], ["FRAME TWO"], ["FRAME THREE"]], rows=256, columns=320)
    assert sniff(built.data).kind == "dicom"
    info = inspect_document(built.data, LIMITS)
    assert (info.media_type, info.page_count, info.page_sizes) == ("application/dicom", 3, [(320, 256)] * 3)
    document = decode_document(built.data, LIMITS)
    assert document.page_count == 3 and all(page.mode == "RGB" for page in document.pages)
    assert all(page.size == (320, 256) for page in document.pages)


def test_the_window_from_the_header_maps_12_bit_values_to_8_bits() -> None:
    page = np.asarray(decode_document(build().data, LIMITS).pages[0].convert("L"))
    # Body at stored 1040 is 16 HU: inside the 40/400 window, so mid-grey; air is black; the
    # burned-in text at 4095 is white.
    assert 90 < page[256, 256] < 140
    assert page[2, 500] == 0
    assert page.max() == 255


def test_monochrome1_is_inverted_and_without_a_window_percentiles_are_used() -> None:
    import io

    import pydicom

    ds = pydicom.dcmread(io.BytesIO(build().data))
    ds.PhotometricInterpretation = "MONOCHROME1"
    del ds.WindowCenter, ds.WindowWidth
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    page = np.asarray(decode_document(out.getvalue(), LIMITS).pages[0].convert("L"))
    assert page[2, 500] == 255  # air (the lowest values) is white in MONOCHROME1
    assert page.min() == 0  # the burned-in text (the highest values) is black
    assert 0 < page[256, 256] < 255  # the body sits between them, not clipped


def test_rle_lossless_decodes_to_the_same_pages() -> None:
    plain = build(rows=128, columns=128)
    rle = build(rows=128, columns=128, syntax=RLELossless)
    assert b"1.2.840.10008.1.2.5" in rle.data
    a = np.asarray(decode_document(plain.data, LIMITS).pages[0])
    b = np.asarray(decode_document(rle.data, LIMITS).pages[0])
    assert np.array_equal(a, b)


def test_a_transfer_syntax_without_a_decoder_is_refused_naming_it_and_what_is_supported() -> None:
    data = with_syntax(build(rows=64, columns=64).data, MPEG4HP41, b"\x00\x00\x01\xb3" + bytes(60))
    with pytest.raises(BadImageError) as caught:
        decode_document(data, LIMITS)
    message = caught.value.message
    assert "MPEG-4" in message and "cannot decode" in message and "RLE Lossless" in message
    assert caught.value.http_status == 422


def test_jpeg_2000_with_a_garbage_codestream_is_a_clear_error() -> None:
    data = with_syntax(build(rows=64, columns=64).data, JPEG2000Lossless, b"\xff\x4f\xff\x51" + bytes(30))
    with pytest.raises(BadImageError, match="DICOM file is truncated or corrupt"):
        decode_document(data, LIMITS)


def test_a_jpeg_2000_frame_bigger_than_the_header_says_is_refused_before_decoding() -> None:
    siz = b"\xff\x4f\xff\x51\x00\x29\x00\x00" + (40000).to_bytes(4, "big") * 2 + bytes(8)
    data = with_syntax(build(rows=64, columns=64).data, JPEG2000Lossless, siz + bytes(40))
    with pytest.raises(BadImageError, match="40000x40000"):
        decode_document(data, LIMITS)


@pytest.mark.parametrize(
    ("rows", "columns", "frames", "limit"),
    [
        (20_000, 20_000, 1, "max_pixels_per_page"),
        (4_000, 4_000, 40, "max_total_pixels"),
        (16, 16, 51, "max_pages"),
    ],
)
def test_limits_are_checked_from_the_header_before_any_pixel(
    rows: int, columns: int, frames: int, limit: str
) -> None:
    data = header_only(rows, columns, frames)
    assert len(data) < 1000  # the pixel data is tiny: only the header can have been read
    with pytest.raises(TooLargeError, match=limit):
        inspect_document(data, LIMITS)
    with pytest.raises(TooLargeError, match=limit):
        decode_document(data, LIMITS)


def test_native_pixel_data_shorter_than_the_header_promises_is_truncated() -> None:
    with pytest.raises(BadImageError, match="truncated or corrupt"):
        decode_document(header_only(64, 64), LIMITS)


def test_a_truncated_file_is_refused() -> None:
    data = build(rows=64, columns=64).data
    with pytest.raises(BadImageError, match="DICOM file is truncated or corrupt"):
        decode_document(data[: len(data) // 2], LIMITS)


def test_a_preamble_with_another_files_header_is_a_polyglot() -> None:
    data = build(rows=32, columns=32).data
    tiff = b"II*\x00" + data[4:]
    with pytest.raises(BadImageError, match="polyglot"):
        sniff(tiff)
    assert dicom.is_dicom(tiff)
