"""Page preparation before OCR and the way back to the original page's pixels (no OCR: fast)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sealroom.analysis.jobs import AnalysisJob
from sealroom.analysis.local.engine import LocalEngine
from sealroom.analysis.local.layout import build_layout
from sealroom.analysis.local.mapping import place_span
from sealroom.analysis.local.ocr import OcrSegment, split_evenly
from sealroom.analysis.local.preprocess import MIN_SKEW_DEGREES, estimate_skew, prepare
from sealroom.analysis.progress import current, reporting
from sealroom.demo.documents import _lab_report_image

MARK = (220, 20, 20)


def _marked_page() -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The demo lab report with a red square where no text is, and that square's box."""
    page = _lab_report_image().copy()
    box = (1100, 1500, 1160, 1540)
    page.paste(MARK, box)
    return page, box


def _mark_box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    red = (pixels[..., 0] > 150) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)
    ys, xs = np.nonzero(red)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_a_clean_page_reaches_the_ocr_unchanged() -> None:
    page = np.asarray(_lab_report_image())
    prepared, transform = prepare(page)
    assert transform.is_identity and not transform.contrast_stretched
    assert prepared is page
    assert transform.to_original((10, 20, 30, 40)) == (10, 20, 30, 40)


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_a_box_on_a_turned_page_maps_back_onto_the_original(turn: int) -> None:
    page, _ = _marked_page()
    scanned = np.asarray(page.rotate(turn, expand=True))  # the page as it was scanned
    prepared, transform = prepare(scanned, (360 - turn) % 360)  # turned back upright for the OCR
    assert transform.quarter_turns == (360 - turn) % 360 and transform.skew == 0.0
    assert prepared.shape == np.asarray(page).shape
    assert transform.to_original(_mark_box(prepared)) == _mark_box(scanned)


@pytest.mark.parametrize("angle", [7.0, -7.0, 12.0])
def test_skew_is_measured_and_undone_and_boxes_map_back(angle: float) -> None:
    page, _ = _marked_page()
    skewed = page.rotate(angle, expand=True, fillcolor=(255, 255, 255), resample=Image.Resampling.BICUBIC)
    truth = _mark_box(np.asarray(skewed))
    prepared, transform = prepare(np.asarray(skewed))
    assert transform.skew == pytest.approx(-angle, abs=0.5)
    back = transform.to_original(_mark_box(prepared))
    # The box around a turned square is larger than the square; it must hold all of it.
    assert back[0] <= truth[0] + 1 and back[1] <= truth[1] + 1
    assert back[2] >= truth[2] - 1 and back[3] >= truth[3] - 1
    assert (back[2] - back[0]) * (back[3] - back[1]) < 2.0 * (truth[2] - truth[0]) * (truth[3] - truth[1])


def test_a_level_page_is_not_deskewed() -> None:
    assert abs(estimate_skew(np.asarray(_lab_report_image().convert("L")))) < MIN_SKEW_DEGREES


def test_low_contrast_is_stretched_and_dark_ink_on_coloured_paper_is_left_alone() -> None:
    gray = np.asarray(_lab_report_image().convert("L")).astype(np.float32) / 255.0
    faint = (242 - (1.0 - gray) * (242 - 204)).astype(np.uint8)  # 80 % grey ink on 95 % grey paper
    prepared, transform = prepare(np.stack([faint] * 3, axis=-1))
    assert transform.contrast_stretched
    assert np.percentile(prepared, 98) - np.percentile(prepared, 2) > 200
    yellow = np.asarray(_lab_report_image()).astype(np.float32) * np.array([1.0, 0.98, 0.8])
    _, transform = prepare(yellow.astype(np.uint8))
    assert not transform.contrast_stretched and transform.is_identity


def test_small_print_is_upscaled_and_boxes_scale_back() -> None:
    page, box = _marked_page()
    small = page.resize((850, 1100), Image.Resampling.LANCZOS)  # about 100 dpi
    truth = _mark_box(np.asarray(small))
    prepared, transform = prepare(np.asarray(small))
    assert transform.scale > 1.3 and prepared.shape[1] > 1100
    back = transform.to_original(_mark_box(prepared))
    assert all(abs(a - b) <= 2 for a, b in zip(back, truth, strict=True))
    # The full-size page is not upscaled.
    assert prepare(np.asarray(page))[1].scale == 1.0
    assert box  # the mark is on the page


def _segment(text: str, bbox: tuple[int, int, int, int]) -> OcrSegment:
    return OcrSegment(text, bbox, 0.99, split_evenly(text, bbox))


def test_a_value_over_two_rows_is_one_place_with_a_box_per_row() -> None:
    layout = build_layout([_segment("1842 Larkspur Lane", (100, 100, 400, 130)),
                           _segment("Springfield, IL 62704", (100, 140, 460, 170))], 1000, 1000)
    placed = place_span(layout, 0, len(layout.text))
    assert placed is not None
    assert placed.bbox == (100, 100, 460, 170)
    assert placed.boxes == [(100, 100, 400, 130), (100, 140, 460, 170)]


def test_entities_split_over_boxes_are_merged_into_one(engine: LocalEngine) -> None:
    """A name read as two boxes on one row, and an address on two lines, are one entity each whose box
    covers every part (and per-row boxes for the redaction of a multi-row one)."""
    layout = build_layout([
        _segment("Patient:", (50, 100, 150, 130)),
        _segment("Eleanor", (160, 100, 260, 130)),
        _segment("Whitfield", (268, 100, 380, 130)),
        _segment("Address: 1842 Larkspur Lane,", (50, 150, 420, 180)),
        _segment("Springfield, IL 62704", (150, 190, 420, 220)),
    ], 1000, 1000)
    result = engine.analyze_layouts([0], [layout], 0.0)
    people = [e for e in result.entities if e.type == "PERSON"]
    assert len(people) == 1 and people[0].bbox == (160, 100, 380, 130)
    addresses = [e for e in result.entities if e.type == "ADDRESS"]
    assert len(addresses) == 1, [(e.text, e.bbox) for e in addresses]
    [address] = addresses
    assert "Larkspur" in address.text and "62704" in address.text
    assert address.boxes is not None and len(address.boxes) == 2
    assert address.bbox is not None and address.bbox[1] <= 150 and address.bbox[3] >= 220


def test_page_progress_reaches_a_listener_and_never_goes_back() -> None:
    seen: list[tuple[int, int]] = []
    assert current() is None
    with reporting(lambda done, total: seen.append((done, total))):
        listener = current()
        assert listener is not None
        listener(1, 3)
        with reporting(None):
            assert current() is None
    assert seen == [(1, 3)] and current() is None
    job = AnalysisJob("j", "s", "i", "local", "describe", started_at=__import__("datetime").datetime.now())
    job.advance(2, 3)
    job.advance(1, 1)  # an extra one-page read (orientation trial) does not rewind the document
    assert (job.pages_done, job.pages_total) == (2, 3)
