"""The offline engine's tasks: the same full analysis every time, plus a summary, a class, data or quotes."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from functools import cache

import pytest

from sealroom.analysis import tasks
from sealroom.analysis.local.engine import LocalEngine
from sealroom.analysis.local.extract import iso_date, normalise_label, parse_amount
from sealroom.analysis.local.layout import PageLayout, build_layout
from sealroom.analysis.local.ocr import OcrSegment, split_evenly
from sealroom.analysis.local.tasks import ASK_NO_MATCH, ASK_PREFIX, run_task
from sealroom.analysis.models import AnalysisResult, AnalysisTask, PageImage
from sealroom.errors import AnalysisError
from sealroom.masking import mask_result

PATIENT = "Jane Q. Doe"
MRN = "MR-4471902"
DOB = "04/23/1971"
PHONE = "(415) 555-0182"


def seg(text: str, x0: int, y0: int, char_w: int = 10, h: int = 20) -> OcrSegment:
    bbox = (x0, y0, x0 + char_w * len(text), y0 + h)
    return OcrSegment(text, bbox, 1.0, split_evenly(text, bbox))


def _page(rows: list[tuple[tuple[str, int], ...]], width: int = 1000) -> PageLayout:
    """A page as OCR would read it: each row a tuple of ``(cell text, x)``, rows 40 px apart."""
    segments = [seg(text, x, 10 + 40 * r) for r, row in enumerate(rows) for text, x in row]
    return build_layout(segments, width, 40 * len(rows) + 20)


def lab_page() -> PageLayout:
    return _page([
        (("NORTHGATE CLINICAL LABORATORY", 10),),
        ((f"Patient Name: {PATIENT}", 10), (f"MRN: {MRN}", 500)),
        ((f"Date of Birth: {DOB}", 10), ("Collected: 2025-11-03", 500)),
        ((f"Phone: {PHONE}", 10),),
        (("Test", 10), ("Result", 300), ("Units", 450), ("Reference Range", 600), ("Flag", 850)),
        (("Hemoglobin", 10), ("11.8", 300), ("g/dL", 450), ("12.0 - 15.5", 600), ("L", 850)),
        (("Sodium", 10), ("139", 300), ("mmol/L", 450), ("135 - 145", 600)),
        (("Comments: specimen slightly haemolysed", 10),),
    ])


def statement_page() -> PageLayout:
    return _page([
        (("GRANITE STATE BANK", 10),),
        (("Account Holder: Omar F. Lindqvist", 10),),
        (("Account Number: 7730 1184 2291", 10), ("Routing Number: 011000015", 500)),
        (("Opening Balance on 10/01/2025", 10), ("$1,204.50", 800)),
        (("Closing Balance on 10/31/2025", 10), ("-$37.15", 800)),
        (("Bank: Granite State Bank", 10),),
    ])


def _run(engine: LocalEngine, layout: PageLayout, task: AnalysisTask | None) -> AnalysisResult:
    return engine.analyze_layouts([0], [copy.deepcopy(layout)], time.perf_counter(), task=task)


def _values(result: AnalysisResult) -> list[str]:
    """Every personal value the engine found, to check a text names none of them."""
    return [e.text for e in result.entities] + [f.value for f in result.fields if f.entity_type]


# --- the engine and the full analysis ----------------------------------------------------------------


def test_engine_info_says_local_and_no_egress() -> None:
    info = LocalEngine().info()
    assert (info.name, info.kind, info.egress) == ("local", "local", "none")
    assert info.model is None and info.host is None


@pytest.mark.parametrize("kind", ["describe", "classify", "ask", "extract"])
def test_the_full_analysis_is_the_same_whatever_the_task(engine: LocalEngine, kind: str) -> None:
    plain = _run(engine, lab_page(), None)
    task = tasks.build_task(kind, schema_name="lab_result" if kind == "extract" else None,
                            question="What is the MRN?" if kind == "ask" else None)
    tasked = _run(engine, lab_page(), task)
    assert tasked.task == kind
    assert tasked.pages == plain.pages
    assert tasked.entities == plain.entities
    assert tasked.fields[: len(plain.fields)] == plain.fields
    assert (tasked.document_type, tasked.document_type_confidence) == (
        plain.document_type, plain.document_type_confidence,
    )


def test_without_a_task_the_result_has_no_task_output(engine: LocalEngine) -> None:
    result = _run(engine, lab_page(), None)
    assert result.answer is None and result.data is None and result.schema_name is None


# --- describe and classify ---------------------------------------------------------------------------


def test_describe_names_type_title_fields_and_counts_but_no_value(engine: LocalEngine) -> None:
    result = _run(engine, lab_page(), AnalysisTask("describe"))
    answer = result.answer or ""
    assert answer.startswith('A clinical document of 1 page, headed "NORTHGATE CLINICAL LABORATORY".')
    assert "Patient Name" in answer and "MRN" in answer
    assert "PERSON 1" in answer
    for value in _values(result):
        assert value not in answer
    assert "2025" not in answer and "1971" not in answer


def test_describe_leaves_out_a_first_line_holding_personal_data(engine: LocalEngine) -> None:
    layout = _page([((f"Patient Name: {PATIENT}", 10),), ((f"MRN: {MRN}", 10),)])
    answer = _run(engine, layout, AnalysisTask("describe")).answer or ""
    assert "headed" not in answer
    assert PATIENT not in answer and MRN not in answer


def test_describe_of_an_empty_page_says_nothing_was_read(engine: LocalEngine) -> None:
    answer = _run(engine, PageLayout(width=100, height=100), AnalysisTask("describe")).answer or ""
    assert "No text was read" in answer and "No personal data was found." in answer


def test_classify_answers_with_the_type_on_one_line(engine: LocalEngine) -> None:
    result = _run(engine, statement_page(), AnalysisTask("classify"))
    assert result.document_type == "financial"
    assert result.answer == f"Document type: financial (confidence {result.document_type_confidence:.2f})."
    assert result.data is None


# --- ask ---------------------------------------------------------------------------------------------


def test_ask_quotes_the_line_that_matches_the_question(engine: LocalEngine) -> None:
    answer = _run(engine, lab_page(), tasks.build_task("ask", question="What is the patient's MRN?")).answer
    assert answer is not None
    lines = answer.split("\n")
    assert lines[0] == ASK_PREFIX
    assert lines[1] == f"- Patient Name: {PATIENT}  MRN: {MRN}"
    assert len(lines) <= 4


def test_ask_ranks_lines_by_shared_words_and_quotes_at_most_three(engine: LocalEngine) -> None:
    question = "What were the opening and closing balances of the bank account?"
    answer = _run(engine, statement_page(), tasks.build_task("ask", question=question)).answer or ""
    lines = answer.split("\n")[1:]
    assert len(lines) == 3
    assert {lines[0], lines[1]} == {
        "- Opening Balance on 10/01/2025  $1,204.50", "- Closing Balance on 10/31/2025  -$37.15",
    }


@pytest.mark.parametrize("question", ["Is there a volcano nearby?", "What is it?"])
def test_ask_says_so_when_no_line_matches(engine: LocalEngine, question: str) -> None:
    answer = _run(engine, lab_page(), tasks.build_task("ask", question=question)).answer
    assert answer == ASK_NO_MATCH
    assert "model engine" in answer


# --- extract -----------------------------------------------------------------------------------------


def test_extract_fills_labelled_values_and_the_results_table(engine: LocalEngine) -> None:
    result = _run(engine, lab_page(), tasks.build_task("extract", schema_name="lab_result"))
    data = result.data
    assert data is not None
    assert (result.task, result.schema_name) == ("extract", "lab_result")
    assert data["patient_name"] == PATIENT
    assert data["mrn"] == MRN
    assert data["date_of_birth"] == "1971-04-23"
    assert data["collection_date"] == "2025-11-03"
    assert data["lab_name"] is None  # a heading is not a labelled value
    assert data["results"] == [
        {"test": "Hemoglobin", "value": "11.8", "unit": "g/dL", "reference_range": "12.0 - 15.5",
         "flag": "L"},
        {"test": "Sodium", "value": "139", "unit": "mmol/L", "reference_range": "135 - 145", "flag": None},
    ]
    assert tasks.validation_problems(tasks.preset_schema("lab_result"), data) == []


def test_extract_adds_a_typed_field_per_personal_value_for_masking(engine: LocalEngine) -> None:
    result = _run(engine, lab_page(), tasks.build_task("extract", schema_name="lab_result"))
    typed = {f.name: (f.value, f.entity_type) for f in result.fields}
    assert typed["patient_name"] == (PATIENT, "PERSON")
    assert typed["date_of_birth"] == ("1971-04-23", "DATE_OF_BIRTH")
    assert typed["mrn"] == (MRN, "MRN")
    assert "results[0].test" not in typed  # not personal data


def test_masked_extract_shows_no_personal_value(engine: LocalEngine) -> None:
    result = _run(engine, lab_page(), tasks.build_task("extract", schema_name="lab_result"))
    data = mask_result(result, unmasked=False)["data"]
    assert data["patient_name"] != PATIENT and data["patient_name"].startswith("J***")
    assert "1971" not in data["date_of_birth"] and "23" not in data["date_of_birth"]
    assert data["mrn"] != MRN and "4471" not in data["mrn"]
    assert data["results"][0]["value"] == "11.8"


def test_a_reformatted_date_is_still_masked_without_a_schema_annotation(engine: LocalEngine) -> None:
    layout = _page([(("DRIVER LICENSE", 10),), (("Issued: 08/22/2022", 10), ("Class: C", 500))])
    schema = {"type": "object", "properties": {"issued": {"type": ["string", "null"],
                                                          "description": "Issue date, ISO 8601 YYYY-MM-DD."}}}
    result = _run(engine, layout, tasks.build_task("extract", schema=schema))
    assert result.data == {"issued": "2022-08-22"}
    masked = mask_result(result, unmasked=False)["data"]["issued"]
    assert "2022" not in masked and "22" not in masked


def test_extract_fills_amounts_and_identifiers_of_a_statement(engine: LocalEngine) -> None:
    result = _run(engine, statement_page(), tasks.build_task("extract", schema_name="bank_statement"))
    data = result.data
    assert data is not None
    assert data["account_holder"] == "Omar F. Lindqvist"
    assert data["account_number"] == "7730 1184 2291"
    assert data["routing_number"] == "011000015"
    assert data["opening_balance"] == 1204.50
    assert data["closing_balance"] == -37.15
    assert data["bank_name"] == "Granite State Bank"  # not personal data: read after its printed label
    assert data["iban"] is None and data["statement_period_start"] is None and data["address"] is None


def test_extract_leaves_what_is_not_on_the_document_null_and_lists_empty(engine: LocalEngine) -> None:
    result = _run(engine, lab_page(), tasks.build_task("extract", schema_name="contract_parties"))
    assert result.data == {"title": None, "effective_date": None, "governing_law": None, "parties": [],
                           "signatories": []}


def test_extract_never_reads_personal_data_from_unrecognised_text(engine: LocalEngine) -> None:
    schema = {
        "type": "object",
        "properties": {
            "holder": {"type": ["string", "null"], "x-sealroom-entity": "PERSON",
                       "x-sealroom-labels": ["Bank"]},
            "bank": {"type": ["string", "null"], "x-sealroom-labels": ["Bank"]},
        },
    }
    data = _run(engine, statement_page(), tasks.build_task("extract", schema=schema)).data
    assert data == {"holder": None, "bank": "Granite State Bank"}


def test_extract_matches_names_titles_and_labels_whatever_their_case(engine: LocalEngine) -> None:
    schema = {
        "type": "object",
        "properties": {
            "MRN": {"type": ["string", "null"]},
            "dob": {"type": ["string", "null"], "title": "date-of-birth"},
            "phone_number": {"type": ["string", "null"], "x-sealroom-labels": ["PHONE"]},
        },
    }
    result = _run(engine, lab_page(), tasks.build_task("extract", schema=schema))
    assert result.data == {"MRN": MRN, "dob": DOB, "phone_number": PHONE}
    assert {f.name: f.entity_type for f in result.fields}["MRN"] == "MRN"  # typed by the field it came from


def test_extract_raises_naming_paths_not_values_when_the_schema_is_not_met(engine: LocalEngine) -> None:
    schema = {
        "type": "object",
        "properties": {
            "patient_name": {"type": "string", "maxLength": 3},
            "insurer": {"type": "string"},
        },
        "required": ["patient_name", "insurer"],
    }
    with pytest.raises(AnalysisError) as caught:
        _run(engine, lab_page(), tasks.build_task("extract", schema=schema))
    message = str(caught.value)
    assert "$.patient_name: maxLength" in message and "$.insurer: type" in message
    assert PATIENT not in message and "Jane" not in message


def test_extract_without_a_schema_is_an_analysis_error(engine: LocalEngine) -> None:
    with pytest.raises(AnalysisError):
        _run(engine, lab_page(), AnalysisTask("extract"))


def test_a_field_fills_one_property_only(engine: LocalEngine) -> None:
    schema = {
        "type": "object",
        "properties": {
            "first": {"type": ["string", "null"], "x-sealroom-labels": ["MRN"]},
            "second": {"type": ["string", "null"], "x-sealroom-labels": ["MRN"]},
        },
    }
    data = _run(engine, lab_page(), tasks.build_task("extract", schema=schema)).data
    assert data == {"first": MRN, "second": None}


# --- helpers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, iso",
    [
        ("2025-11-03", "2025-11-03"),
        ("03/17/1984", "1984-03-17"),
        ("17.03.1984", "1984-03-17"),
        ("05/05/2020", "2020-05-05"),
        ("March 17, 1984", "1984-03-17"),
        ("17 Mar 1984", "1984-03-17"),
        ("01/14/2026 08:32", "2026-01-14T08:32"),
        ("01/14/2026 3:05 PM", "2026-01-14T15:05"),
        ("03/04/2020", None),  # day and month cannot be told apart
        ("3/4/20", None),
        ("Smarch 3, 2020", None),
        ("13/14/2020", None),
        ("02/30/2020", None),
    ],
)
def test_iso_date_only_when_unambiguous(text: str, iso: str | None) -> None:
    assert iso_date(text) == iso


@pytest.mark.parametrize(
    "text, amount",
    [("$4,218.37", 4218.37), ("-$3,391.55", -3391.55), ("(12.00)", -12.0), ("1250", 1250.0),
     ("12,34", None), ("about 5", None)],
)
def test_parse_amount(text: str, amount: float | None) -> None:
    assert parse_amount(text) == amount


def test_normalise_label_ignores_case_spaces_and_punctuation() -> None:
    assert normalise_label("D.O.B.") == normalise_label("dob")
    assert normalise_label("member_id") == normalise_label("Member ID") == "memberid"


def test_run_task_on_a_result_alone_reads_no_table() -> None:
    result = AnalysisResult("local", "clinical", 0.9)
    run_task(result, tasks.build_task("extract", schema_name="lab_result"))
    assert result.data is not None and result.data["results"] == []


# --- the real engine on the demo documents -----------------------------------------------------------


@cache
def _demo_pages(name: str) -> tuple[PageImage, ...]:
    from sealroom.config import LimitSettings
    from sealroom.demo import documents
    from sealroom.vault.decode import decode_document

    render = {"lab": documents.render_lab_report, "bank": documents.render_bank_statement}[name]
    decoded = decode_document(render(), LimitSettings())
    return tuple(PageImage(i, page) for i, page in enumerate(decoded.pages))


DemoRun = Callable[[str, AnalysisTask], AnalysisResult]


@pytest.fixture(scope="module")
def demo(engine: LocalEngine) -> DemoRun:
    """Runs a task on a demo document with the real engine, once per document and task."""
    done: dict[tuple[str, str], AnalysisResult] = {}

    def run(name: str, task: AnalysisTask) -> AnalysisResult:
        key = (name, task.cache_key())
        if key not in done:
            done[key] = engine.analyze(list(_demo_pages(name)), task)
        return done[key]

    return run


@pytest.mark.slow
def test_demo_lab_report_extracts_with_the_lab_result_preset(demo: DemoRun) -> None:
    from sealroom.demo.documents import LAB_PATIENT, LAB_RESULTS

    task = tasks.build_task("extract", schema_name="lab_result")
    result = demo("lab", task)
    data = result.data
    assert data is not None
    assert data["patient_name"] == LAB_PATIENT["Patient Name"]
    assert data["mrn"] == LAB_PATIENT["MRN"]
    assert data["date_of_birth"] == "1984-03-17"
    assert tasks.validation_problems(task.schema or {}, data) == []
    assert [row["test"] for row in data["results"]] == [row[0] for row in LAB_RESULTS]
    assert [row["flag"] or "" for row in data["results"]] == [row[4] for row in LAB_RESULTS]


@pytest.mark.slow
def test_demo_bank_statement_extracts_with_the_bank_statement_preset(demo: DemoRun) -> None:
    from sealroom.demo.documents import BANK_ACCOUNT, BANK_HOLDER, BANK_OPENING_BALANCE_CENTS

    task = tasks.build_task("extract", schema_name="bank_statement")
    data = demo("bank", task).data
    assert data is not None
    assert data["account_number"] == BANK_ACCOUNT["Account Number"]
    assert data["account_holder"] == BANK_HOLDER["Account Holder"]
    assert data["routing_number"] == BANK_ACCOUNT["Routing Number"]
    assert data["opening_balance"] == BANK_OPENING_BALANCE_CENTS / 100
    assert tasks.validation_problems(task.schema or {}, data) == []


@pytest.mark.slow
@pytest.mark.parametrize("name, kind", [("lab", "clinical"), ("bank", "financial")])
def test_demo_documents_classify(demo: DemoRun, name: str, kind: str) -> None:
    # the other tasks reshape the same full analysis: run them on a copy of the default (describe) one
    result = run_task(copy.deepcopy(demo(name, AnalysisTask())), AnalysisTask("classify"))
    assert result.document_type == kind
    assert (result.answer or "").startswith(f"Document type: {kind} ")


@pytest.mark.slow
def test_demo_lab_report_ask_quotes_the_mrn_line(demo: DemoRun) -> None:
    from sealroom.demo.documents import LAB_PATIENT

    task = tasks.build_task("ask", question="What is the patient's MRN?")
    answer = run_task(copy.deepcopy(demo("lab", AnalysisTask())), task).answer or ""
    first = answer.split("\n")[1]
    assert "MRN" in first and LAB_PATIENT["MRN"] in first


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lab", "bank"])
def test_demo_describe_names_no_personal_value(demo: DemoRun, name: str) -> None:
    from sealroom.demo.documents import BANK_ACCOUNT, BANK_HOLDER, LAB_ORDER, LAB_PATIENT

    result = demo(name, AnalysisTask())
    assert result.task == "describe"
    answer = result.answer or ""
    assert answer.startswith("A clinical document" if name == "lab" else "A financial document")
    for value in [*LAB_PATIENT.values(), *LAB_ORDER.values(), *BANK_HOLDER.values(), *BANK_ACCOUNT.values(),
                  *_values(result)]:
        assert value not in answer, value
