"""The PDF active-content scan: filter chains, outside-reaching actions, hidden content, false positives."""

from __future__ import annotations

import io
import random
import zlib

import pytest
from PIL import Image
from tests.hostile_files import (
    DEFAULT_LIMITS,
    encode_pdf_filters,
    make_pdf,
    make_tiff,
    pdf_stream,
    pdf_with_object_stream,
)

from sealroom.config import LimitSettings
from sealroom.errors import BadImageError, TooLargeError
from sealroom.vault import decode as decode_module
from sealroom.vault.decode import decode_document, inspect_document
from sealroom.vault.pdfscan import check_pdf_active_content

CHAINS = [
    ["FlateDecode"],
    ["FlateDecode", "FlateDecode"],
    ["ASCIIHexDecode"],
    ["ASCIIHexDecode", "FlateDecode"],
    ["ASCII85Decode"],
    ["LZWDecode"],
    ["RunLengthDecode"],
    ["ASCII85Decode", "LZWDecode", "RunLengthDecode", "FlateDecode"],
]


@pytest.mark.parametrize("filters", CHAINS, ids="+".join)
def test_clean_object_stream_through_any_decodable_chain_is_accepted(filters: list[str]) -> None:
    check_pdf_active_content(pdf_with_object_stream(b"9 0 << /Producer (scanner) >>", filters))


@pytest.mark.parametrize("filters", CHAINS, ids="+".join)
def test_active_object_stream_through_any_chain_is_refused(filters: list[str]) -> None:
    data = pdf_with_object_stream(b"9 0 << /S /URI /URI (https://x.invalid) >>", filters)
    with pytest.raises(BadImageError, match="URI"):
        check_pdf_active_content(data)


def test_abbreviated_filter_names_are_decoded() -> None:
    encoded = zlib.compress(b"9 0 << /S /GoToR /F (x.pdf) >>")
    data = make_pdf(1, extra_objects=[pdf_stream(b"/Type /ObjStm /N 1 /First 4 /Filter /Fl", encoded)])
    with pytest.raises(BadImageError, match="GoToR"):
        check_pdf_active_content(data)


def _png_predicted(data: bytes, columns: int) -> bytes:
    rows = [data[i : i + columns].ljust(columns, b" ") for i in range(0, len(data), columns)]
    out, prior = bytearray(), bytes(columns)
    for row in rows:  # "Up" filter on every row
        out += b"\x02" + bytes((a - b) & 0xFF for a, b in zip(row, prior, strict=True))
        prior = row
    return bytes(out)


def test_object_stream_with_png_predictor_is_decoded() -> None:
    inner = b"9 0 << /OpenAction << /S /Launch /F (cmd.exe) >> >>"
    encoded = zlib.compress(_png_predicted(inner, 8))
    entries = b"/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 8 >>"
    with pytest.raises(BadImageError, match="launch"):
        check_pdf_active_content(make_pdf(1, extra_objects=[pdf_stream(entries, encoded)]))


@pytest.mark.parametrize(
    "entries",
    [
        b"/Filter /JBIG2Decode",
        b"/Filter [/FlateDecode /Crypt]",
        b"/Filter 7 0 R",
        b"/Filter /FlateDecode /DecodeParms << /Predictor 99 >>",
    ],
)
def test_object_stream_the_scanner_cannot_decode_is_refused(entries: bytes) -> None:
    stream = pdf_stream(b"/Type /ObjStm /N 1 /First 4 " + entries, zlib.compress(b"9 0 << >>"))
    with pytest.raises(BadImageError, match="cannot inspect"):
        check_pdf_active_content(make_pdf(1, extra_objects=[stream]))


def test_object_stream_recognised_by_first_even_without_type() -> None:
    stream = pdf_stream(
        b"/N 1 /First 4 /Filter /ASCIIHexDecode", b"9 0 << /S /JavaScript >>".hex().encode() + b">"
    )
    with pytest.raises(BadImageError, match="JavaScript"):
        check_pdf_active_content(make_pdf(1, extra_objects=[stream]))


def test_content_stream_is_decoded_and_long_active_names_refused() -> None:
    encoded, entry = encode_pdf_filters(b"BT /Launch Tf ET", ["ASCIIHexDecode", "FlateDecode"])
    with pytest.raises(BadImageError, match="launch"):
        check_pdf_active_content(make_pdf(1, extra_objects=[pdf_stream(entry, encoded)]))


def test_non_image_stream_with_an_image_filter_is_refused() -> None:
    stream = pdf_stream(b"/Filter /DCTDecode", b"\xff\xd8\xff\xd9")
    with pytest.raises(BadImageError, match="cannot inspect"):
        check_pdf_active_content(make_pdf(1, extra_objects=[stream]))


def test_corrupt_content_stream_is_refused() -> None:
    stream = pdf_stream(b"/Filter /FlateDecode", b"definitely not zlib")
    with pytest.raises(BadImageError, match="cannot inspect"):
        check_pdf_active_content(make_pdf(1, extra_objects=[stream]))


@pytest.mark.parametrize("image_filter", [b"DCTDecode", b"JPXDecode", b"CCITTFaxDecode", b"JBIG2Decode"])
def test_image_xobjects_with_image_filters_are_accepted(image_filter: bytes) -> None:
    noise = random.Random(3).randbytes(20_000).replace(b"endstream", b"")
    image = pdf_stream(
        b"/Type /XObject /Subtype /Image /Width 100 /Height 200 /BitsPerComponent 8 /Filter /" + image_filter,
        noise,
    )
    check_pdf_active_content(make_pdf(1, extra_objects=[image]))


def test_flate_image_data_is_not_decoded_or_scanned_for_short_names() -> None:
    pixels = zlib.compress(b"\x00/URI /JS /XFA " * 100)
    image = pdf_stream(b"/Subtype /Image /Width 10 /Height 10 /Filter /FlateDecode", pixels)
    check_pdf_active_content(make_pdf(1, extra_objects=[image]))


def test_object_header_inside_stream_data_is_refused() -> None:
    # A cross-reference table may point a reader into the middle of another stream's bytes.
    hidden = b"\x00\x01 5 0 obj << /S /URI /URI (https://x.invalid) >> endobj \x02"
    image = pdf_stream(b"/Subtype /Image /Width 1 /Height 1", hidden)
    with pytest.raises(BadImageError, match="cannot inspect"):
        check_pdf_active_content(make_pdf(1, extra_objects=[image]))


def test_indirect_length_is_followed_past_a_fake_endstream() -> None:
    # The object stream's data holds "endstream" early; /Length (indirect) says where it really ends.
    inner = b"9 0 << /Producer (x) >>" + b" " * 10 + b"\nendstream\n" + b"10 0 << /S /URI >>"
    data = inner
    stream = b"<< /Type /ObjStm /N 2 /First 4 /Length 8 0 R >>\nstream\n" + data + b"\nendstream"
    pdf = make_pdf(1, extra_objects=[stream, b"%d" % len(data)])  # objects 5 and 6: /Length 6 0 R
    pdf = pdf.replace(b"/Length 8 0 R", b"/Length 6 0 R")
    with pytest.raises(BadImageError, match="URI"):
        check_pdf_active_content(pdf)


def test_strings_neither_hide_nor_refuse() -> None:
    check_pdf_active_content(make_pdf(1, catalog_extra=b"/Title (see /URI and /JavaScript here)"))
    with pytest.raises(BadImageError, match="URI"):
        check_pdf_active_content(make_pdf(1, catalog_extra=b"/X (a >> stream\n) /OpenAction << /S /URI >>"))


def test_stream_keyword_without_a_dictionary_is_refused() -> None:
    with pytest.raises(BadImageError, match="cannot inspect"):
        check_pdf_active_content(make_pdf(1, extra_objects=[b"42 stream\nxyz\nendstream"]))


def test_hex_encoded_action_type_string_is_refused() -> None:
    with pytest.raises(BadImageError, match="URI"):
        check_pdf_active_content(make_pdf(1, catalog_extra=b"/OpenAction << /S <555249> >>"))


def test_total_decoded_size_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sealroom.vault.pdfscan._PDF_INFLATE_BUDGET", 10_000)
    streams = [pdf_stream(b"/Filter /FlateDecode", zlib.compress(b" " * 4000)) for _ in range(3)]
    with pytest.raises(BadImageError, match="compression bomb"):
        check_pdf_active_content(make_pdf(1, extra_objects=streams))


def test_demo_pdfs_are_accepted() -> None:
    from sealroom.demo.documents import render_bank_statement

    document = decode_document(render_bank_statement(), DEFAULT_LIMITS)
    assert document.page_count == 2
    document.close()


def test_pillow_pdf_with_palette_image_is_accepted() -> None:
    # Pillow writes palette images with ASCIIHexDecode: image data, not syntax.
    img = Image.new("RGB", (120, 80), "white").quantize(4)
    buffer = io.BytesIO()
    img.save(buffer, "PDF")
    check_pdf_active_content(buffer.getvalue())


# --- total pixels per file ---------------------------------------------------------------------------


def test_total_pixels_of_a_pdf_are_refused_before_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = LimitSettings(max_total_pixels=500_000)
    data = make_pdf(3, (200, 150))  # 556 x 417 = 231,852 px a page at 200 dpi, 695,556 together

    def no_render(*args: object, **kwargs: object) -> None:
        raise AssertionError("rendered before the total was checked")

    monkeypatch.setattr("pypdfium2.PdfPage.render", no_render)
    for call in (inspect_document, decode_document):
        with pytest.raises(TooLargeError) as caught:
            call(data, limits)
        message = caught.value.message
        assert "695,556" in message and "500,000" in message and "limits.max_total_pixels" in message


def test_total_pixels_of_a_tiff_are_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = LimitSettings(max_total_pixels=3000)
    data = make_tiff(3, 40, 30)  # 1200 + 1353 + 1512 = 4065 px

    def no_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded before the total was checked")

    monkeypatch.setattr(decode_module, "_to_rgb", no_decode)
    for call in (inspect_document, decode_document):
        with pytest.raises(TooLargeError, match=r"limits\.max_total_pixels"):
            call(data, limits)


def test_total_pixels_at_the_limit_are_accepted() -> None:
    limits = LimitSettings(max_total_pixels=4065)
    document = decode_document(make_tiff(3, 40, 30), limits)
    assert document.page_count == 3
    document.close()
    assert inspect_document(make_pdf(2), LimitSettings(max_total_pixels=2 * 556 * 417)).page_count == 2
