"""Page text assembly, span → box mapping, fields below labels."""

from __future__ import annotations

from sealroom.analysis.local.engine import LocalEngine
from sealroom.analysis.local.fields import find_field_hits
from sealroom.analysis.local.layout import build_layout
from sealroom.analysis.local.mapping import span_boxes
from sealroom.analysis.local.ocr import OcrSegment, split_evenly


def seg(text: str, x0: int, y0: int, char_w: int = 10, h: int = 20) -> OcrSegment:
    bbox = (x0, y0, x0 + char_w * len(text), y0 + h)
    return OcrSegment(text, bbox, 1.0, split_evenly(text, bbox))


def test_rows_columns_and_glued_words() -> None:
    segments = [seg("MRN:85181043", 10, 12), seg("Name: Jane Doe", 400, 10), seg("next row", 10, 60)]
    layout = build_layout(segments, 800, 100)
    assert layout.text == "MRN: 85181043  Name: Jane Doe\nnext row"


def test_ocr_glued_words_are_split() -> None:
    layout = build_layout(
        [seg("TenantEdward P.Van Horn", 0, 0), seg("PAYMENTFROMDESMOND McDonald", 0, 40)], 400, 100
    )
    assert layout.text == "Tenant Edward P. Van Horn\nPAYMENT FROM DESMOND McDonald"


def test_span_boxes_follow_the_words() -> None:
    layout = build_layout([seg("SSN: 708-85-3377", 100, 50)], 500, 100)
    start = layout.text.index("708")
    [piece] = span_boxes(layout, start, start + len("708-85-3377"))
    x0, y0, x1, y1 = piece.bbox
    assert (y0, y1) == (50, 70)
    assert 145 <= x0 <= 155 and 255 <= x1 <= 265


def test_partial_word_span_gets_a_partial_box() -> None:
    layout = build_layout([seg("Tel(717)665-4379", 0, 0)], 300, 30)
    start = layout.text.index("(717)")
    [piece] = span_boxes(layout, start, len(layout.text))
    assert piece.bbox[0] >= 25 and piece.bbox[2] <= 165


def test_span_over_two_rows_gives_two_boxes() -> None:
    layout = build_layout([seg("Jane", 0, 0), seg("Doe", 0, 40)], 100, 100)
    assert [p.bbox[1] for p in span_boxes(layout, 0, len(layout.text))] == [0, 40]


def test_value_below_its_label() -> None:
    layout = build_layout(
        [seg("Member ID", 40, 100), seg("ER $250", 500, 100), seg("DAF429539169", 42, 140)], 800, 300
    )
    hits = find_field_hits(layout)
    assert [(h.label.name, layout.text[h.start : h.end], h.below) for h in hits] == [
        ("Member ID", "DAF429539169", True)
    ]


def test_addressee_above_street_line() -> None:
    engine = LocalEngine()
    layout = build_layout(
        [
            seg("ZORBA QUILLFEATHER", 50, 100),
            seg("9658 Forest Avenue", 50, 130),
            seg("Springfield, IL 59118", 50, 160),
        ],
        800,
        300,
    )
    result = engine.analyze_layouts([0], [layout], 0.0)
    people = [e for e in result.entities if e.type == "PERSON"]
    assert [p.text for p in people] == ["ZORBA QUILLFEATHER"]
    assert people[0].bbox is not None and people[0].bbox[1] == 100


def test_a_found_surname_marks_its_other_mentions() -> None:
    engine = LocalEngine()
    segments = [seg("Patient: Rosalind Quinlan", 0, 0), seg("Her son Thaddeus Quinlan came.", 0, 40)]
    layout = build_layout(segments, 400, 100)
    result = engine.analyze_layouts([0], [layout], 0.0)
    assert [e.text for e in result.entities if e.type == "PERSON"] == ["Rosalind Quinlan", "Thaddeus Quinlan"]


def test_value_one_column_right_of_a_label_without_colon() -> None:
    layout = build_layout(
        [
            seg("Member Name", 40, 100),
            seg("ZORBA QUILL", 300, 100),
            seg("PCP Copay", 40, 140),
            seg("$25", 300, 140),
        ],
        800,
        300,
    )
    hits = find_field_hits(layout)
    assert [(h.name, layout.text[h.start : h.end]) for h in hits] == [("Member Name", "ZORBA QUILL")]
