"""Output masking: type-aware masks, masked delivery of a whole result, and no value ever leaks."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealroom.analysis.models import AnalysisResult, Entity, ExtractedField, PageText
from sealroom.masking import mask_result, mask_value


@pytest.mark.parametrize(
    ("entity_type", "value", "expected"),
    [
        ("SSN", "512-38-4471", "***-**-4471"),
        ("US_SSN", "512384471", "***-**-4471"),
        ("CREDIT_CARD", "4111 1111 1111 1111", "**** **** **** 1111"),
        ("CREDIT_CARD", "4111111111111111", "**** **** **** 1111"),
        ("CREDIT_CARD", "3782-822463-10005", "*** **** **** 0005"),
        ("BANK_ACCOUNT", "4829 1173 0056", "**** **** 0056"),
        ("ROUTING_NUMBER", "071923844", "*****3844"),
        ("IBAN", "DE21 5072 0814 0391 7256 04", "**** **** **** **** **56 04"),
        ("MRN", "MRN-20473918", "***-****3918"),
        ("HEALTH_PLAN_ID", "LHP884211907", "********1907"),
        ("NPI", "1729483655", "******3655"),
        ("ID_NUMBER", "F2758391", "*****391"),
        ("PERSON", "Eleanor R. Whitfield", "E*** R*** W***"),
        ("PERSON", "MILLER, MELISSA", "M*** M***"),
        ("DATE_OF_BIRTH", "03/17/1984", "**/**/****"),
        ("DATE_OF_BIRTH", "1984-03-17", "****-**-**"),
        ("DATE", "March 17, 1984", "**/**/****"),
        ("EMAIL", "e.whitfield@example.com", "e***@***.com"),
        ("EMAIL_ADDRESS", "someone@hospital.org", "s***@***.org"),
        ("PHONE", "(312) 555-0147", "(***) ***-**47"),
        ("PHONE_NUMBER", "+1 312 555 0147", "+* *** *** **47"),
        ("ADDRESS", "1842 Larkspur Lane, Springfield, IL 62704", "[ADDRESS]"),
        ("LOCATION", "Springfield", "[LOCATION]"),
        ("MRZ", "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<", "********"),
        ("SOMETHING_NEW", "abc", "***"),
        ("IP_ADDRESS", "10.20.30.40", "********"),
    ],
)
def test_mask_value_by_type(entity_type: str, value: str, expected: str) -> None:
    assert mask_value(entity_type, value) == expected


def test_short_identifiers_never_show_more_than_half_their_digits() -> None:
    assert mask_value("MRN", "1234") == "**34"
    assert mask_value("MEMBER_ID", "X7") == "**"
    assert mask_value("SSN", "4471") == "**71"
    assert mask_value("PHONE", "12") == "*2"


def test_empty_value_stays_empty() -> None:
    assert mask_value("PERSON", "") == ""


PAGE0 = "Patient Name: Eleanor R. Whitfield\nSSN: 512-38-4471  MRN: MRN-20473918"
PAGE1 = "Signed for Eleanor R. Whitfield on 01/14/2026"


def _result() -> AnalysisResult:
    name_start = PAGE0.index("Eleanor")
    ssn_start = PAGE0.index("512")
    mrn_start = PAGE0.index("MRN-")
    return AnalysisResult(
        engine="local",
        document_type="clinical",
        document_type_confidence=0.9,
        pages=[PageText(0, 1275, 1650, PAGE0), PageText(1, 1275, 1650, PAGE1)],
        entities=[
            Entity("PERSON", "Eleanor R. Whitfield", 0, (1, 2, 3, 4), 0.9, name_start, name_start + 20),
            Entity("SSN", "512-38-4471", 0, None, 0.99, ssn_start, ssn_start + 11),
            Entity("MRN", "MRN-20473918", 0, None, 0.95, mrn_start, mrn_start + 12),
        ],
        fields=[
            ExtractedField("Patient Name", "Eleanor R. Whitfield", 0, entity_type="PERSON"),
            ExtractedField("SSN", "512-38-4471", 0, entity_type="SSN"),
            ExtractedField("Signature", "Signed for Eleanor R. Whitfield", 1),
            ExtractedField("Sex", "Female", 0),
        ],
    )


def test_unmasked_delivery_is_the_result_as_is() -> None:
    result = _result()
    data = mask_result(result, unmasked=True)
    assert data["masked"] is False
    assert data == {**result.to_dict(), "masked": False}


def test_masked_delivery_masks_entities_pages_fields_and_text() -> None:
    result = _result()
    data = mask_result(result, unmasked=False)
    assert data["masked"] is True
    masked_texts = [entity["text"] for entity in data["entities"]]
    assert masked_texts == ["E*** R*** W***", "***-**-4471", "***-****3918"]
    assert data["pages"][0]["text"] == "Patient Name: E*** R*** W***\nSSN: ***-**-4471  MRN: ***-****3918"
    # Page 1 has no entity offsets: the name is still found by search and masked.
    assert data["pages"][1]["text"] == "Signed for E*** R*** W*** on 01/14/2026"
    assert data["text"] == data["pages"][0]["text"] + "\f" + data["pages"][1]["text"]
    values = {item["name"]: item["value"] for item in data["fields"]}
    assert values == {
        "Patient Name": "E*** R*** W***",
        "SSN": "***-**-4471",
        "Signature": "Signed for E*** R*** W***",
        "Sex": "Female",
    }
    # Offsets point into the masked text.
    for entity in data["entities"]:
        page_text = data["pages"][entity["page"]]["text"]
        assert page_text[entity["start"] : entity["end"]] == entity["text"]
    # Everything else is kept; the result itself is not changed.
    assert data["engine"] == "local" and data["entities"][0]["bbox"] == (1, 2, 3, 4)
    assert result.pages[0].text == PAGE0 and result.entities[0].text == "Eleanor R. Whitfield"


def test_overlapping_spans_are_merged_and_masked_completely() -> None:
    text = "Account 4829 1173 0056 7788 end"
    start = text.index("4829")
    result = AnalysisResult(
        engine="local",
        document_type="financial",
        document_type_confidence=0.5,
        pages=[PageText(0, 100, 100, text)],
        entities=[
            Entity("BANK_ACCOUNT", "4829 1173 0056", 0, None, 0.9, start, start + 14),
            Entity("ID_NUMBER", "0056 7788", 0, None, 0.9, start + 10, start + 19),
        ],
    )
    data = mask_result(result, unmasked=False)
    assert data["pages"][0]["text"] == "Account **** **** **** **** end"
    assert data["entities"][0]["start"] == data["entities"][1]["start"] == start


def _one_page(text: str, entities: list[Entity]) -> AnalysisResult:
    return AnalysisResult("local", "other", 0.5, [PageText(0, 100, 100, text)], entities, [])


def test_a_span_inside_another_is_masked_by_the_outer_type_when_that_hides_both() -> None:
    text = "Signature: Sofia M. Castellanos"
    start = text.index("Sofia")
    result = _one_page(
        text,
        [
            Entity("PERSON", "Sofia M. Castellanos", 0, None, 0.9, start, len(text)),
            Entity("PERSON", "CASTELLANOS", 0, None, 0.9),  # found by search, case-insensitively
        ],
    )
    assert mask_result(result, unmasked=False)["text"] == "Signature: S*** M*** C***"


def test_an_outer_mask_that_would_show_an_inner_value_is_not_used() -> None:
    text = "Account 4829 1173 0056"
    start = text.index("4829")
    result = _one_page(
        text,
        [
            Entity("BANK_ACCOUNT", "4829 1173 0056", 0, None, 0.9, start, len(text)),
            Entity("ID_NUMBER", "0056", 0, None, 0.9, len(text) - 4, len(text)),
        ],
    )
    assert mask_result(result, unmasked=False)["text"] == "Account **** **** ****"


def test_entity_with_wrong_offsets_is_still_masked_by_search() -> None:
    text = "SSN 512-38-4471"
    result = AnalysisResult(
        engine="x",
        document_type="other",
        document_type_confidence=0.5,
        pages=[PageText(0, 10, 10, text)],
        entities=[Entity("SSN", "512-38-4471", 0, None, 0.9, 50, 61)],
    )
    data = mask_result(result, unmasked=False)
    assert data["text"] == "SSN ***-**-4471"
    assert data["entities"][0]["start"] is None


def test_personal_field_value_is_masked_in_the_page_text_too() -> None:
    text = "Member ID: LHP884211907"
    result = AnalysisResult(
        engine="x",
        document_type="clinical",
        document_type_confidence=0.5,
        pages=[PageText(0, 10, 10, text)],
        fields=[ExtractedField("Member ID", "LHP884211907", 0, entity_type="HEALTH_PLAN_ID")],
    )
    data = mask_result(result, unmasked=False)
    assert "LHP884211907" not in json.dumps(data)
    assert data["text"] == "Member ID: ********1907"


# --- property: the masked delivery never contains an entity value -------------------------------------

VALUE_ALPHABET = string.ascii_uppercase + string.digits + " -./@"
FILLER_ALPHABET = string.ascii_lowercase + " ,;\n"
TYPES = [
    "SSN",
    "CREDIT_CARD",
    "BANK_ACCOUNT",
    "IBAN",
    "ROUTING_NUMBER",
    "MRN",
    "NPI",
    "HEALTH_PLAN_ID",
    "ID_NUMBER",
    "PERSON",
    "DATE_OF_BIRTH",
    "DATE",
    "EMAIL",
    "PHONE",
    "ADDRESS",
    "LOCATION",
    "MRZ",
    "OTHER_THING",
]
values = st.from_regex(r"[A-Z0-9][A-Z0-9 ./@-]{0,24}[A-Z0-9]", fullmatch=True)
fillers = st.text(FILLER_ALPHABET, max_size=20)


@st.composite
def results(draw: st.DrawFn) -> AnalysisResult:
    pages: list[PageText] = []
    entities: list[Entity] = []
    fields: list[ExtractedField] = []
    for index in range(draw(st.integers(1, 3))):
        text = draw(fillers)
        for _ in range(draw(st.integers(0, 5))):
            value, kind = draw(values), draw(st.sampled_from(TYPES))
            start = len(text)
            text += value + draw(fillers)
            if draw(st.booleans()) or len(value) < 4:
                entities.append(Entity(kind, value, index, None, 0.9, start, start + len(value)))
            else:  # offsets missing: the value must still be found and masked
                entities.append(Entity(kind, value, index, None, 0.9))
            field_kind = draw(st.sampled_from(["typed", "embedded", "none"]))
            if field_kind == "typed":
                fields.append(ExtractedField("Field", value, index, entity_type=kind))
            elif field_kind == "embedded":
                fields.append(ExtractedField("Line", draw(fillers) + value + draw(fillers), index))
        pages.append(PageText(index, 640, 480, text))
    return AnalysisResult("local", "other", 0.5, pages, entities, fields)


@st.composite
def overlapping(draw: st.DrawFn) -> AnalysisResult:
    """One page of value-like text with entities on random, possibly overlapping, spans of it."""
    text = draw(st.text(VALUE_ALPHABET + "abc", min_size=1, max_size=120))
    entities = []
    for _ in range(draw(st.integers(0, 6))):
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, min(len(text), start + 30)))
        entities.append(Entity(draw(st.sampled_from(TYPES)), text[start:end], 0, None, 0.9, start, end))
    return AnalysisResult("local", "other", 0.5, [PageText(0, 640, 480, text)], entities, [])


def _assert_no_value_leaks(result: AnalysisResult) -> None:
    delivered = json.dumps(mask_result(result, unmasked=False))
    masks = [mask_value(entity.type, entity.text) for entity in result.entities]
    masks += [mask_value(item.entity_type, item.value) for item in result.fields if item.entity_type]
    for entity in result.entities:
        value = entity.text
        if len(value) < 4 or not (value[0].isalnum() and value[-1].isalnum()):
            continue
        if any(value.casefold() in mask.casefold() for mask in masks) or value in " ".join(TYPES):
            continue
        assert value not in delivered, (value, delivered)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(results())
def test_masked_delivery_never_contains_an_entity_value(result: AnalysisResult) -> None:
    _assert_no_value_leaks(result)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overlapping())
def test_overlapping_entities_never_leak(result: AnalysisResult) -> None:
    _assert_no_value_leaks(result)


@settings(max_examples=100, deadline=None)
@given(results())
def test_unmasked_delivery_keeps_every_value(result: AnalysisResult) -> None:
    data = mask_result(result, unmasked=True)
    assert data["masked"] is False
    for entity in result.entities:
        assert entity.text in data["text"]


def _model_result() -> AnalysisResult:
    """A model engine's reply: an answer and extracted data that repeat the patient's details."""
    return AnalysisResult(
        engine="claude",
        document_type="clinical",
        document_type_confidence=0.9,
        pages=[PageText(0, 100, 100, "")],
        entities=[
            Entity("PERSON", "Melissa Miller", 0, None, 0.9),
            Entity("MRN", "MRN-20473918", 0, None, 0.9),
        ],
        fields=[
            ExtractedField("patient_name", "Melissa Miller", 0, None, "PERSON"),
            ExtractedField("results[0].test", "Hemoglobin", 0, None, None),
            ExtractedField("results[0].comment", "Reviewed with Melissa Miller", 0, None, None),
            ExtractedField("account", "40012345", 0, None, "BANK_ACCOUNT"),
        ],
        task="extract",
        answer="The report of Melissa Miller (MRN-20473918) shows a normal Hemoglobin.",
        data={
            "patient_name": "Melissa Miller",
            "results": [{"test": "Hemoglobin", "comment": "Reviewed with Melissa Miller"}],
            "account": 40012345,
            "flagged": False,
            "missing": None,
        },
    )


def test_a_model_answer_and_its_extracted_data_are_masked() -> None:
    delivered = mask_result(_model_result(), unmasked=False)
    assert delivered["answer"] == "The report of M*** M*** (***-****3918) shows a normal Hemoglobin."
    assert delivered["data"] == {
        "patient_name": "M*** M***",
        "results": [{"test": "Hemoglobin", "comment": "Reviewed with M*** M***"}],
        "account": "****2345",
        "flagged": False,
        "missing": None,
    }
    assert "Melissa" not in json.dumps(delivered)
    assert "40012345" not in json.dumps(delivered)


def test_a_role_with_unmasked_access_gets_the_model_reply_as_is() -> None:
    delivered = mask_result(_model_result(), unmasked=True)
    assert delivered["answer"].startswith("The report of Melissa Miller")
    assert delivered["data"]["account"] == 40012345


def _regions_result() -> AnalysisResult:
    from sealroom.analysis.models import TextRegion

    text = "Patient Name: Eleanor Whitfield  SSN: 512-38-4471\nDiagnosis: asthma"
    name_at, ssn_at = text.index("Eleanor"), text.index("512")
    regions = [
        TextRegion(0, 13, (10, 10, 120, 30)),                       # "Patient Name:"
        TextRegion(14, 31, (130, 10, 300, 30)),                     # the name alone
        TextRegion(33, len("Patient Name: Eleanor Whitfield  SSN: 512-38-4471"), (320, 10, 500, 30)),
        TextRegion(text.index("Diagnosis"), len(text), (10, 40, 200, 60)),
        TextRegion(name_at + 3, name_at + 12, (150, 10, 250, 30)),  # starts and ends inside the name
    ]
    return AnalysisResult(
        engine="local", document_type="clinical", document_type_confidence=0.9,
        pages=[PageText(0, 600, 800, text, regions)],
        entities=[
            Entity("PERSON", "Eleanor Whitfield", 0, (130, 10, 300, 30), 0.9, name_at, name_at + 17),
            Entity("SSN", "512-38-4471", 0, (360, 10, 500, 30), 0.95, ssn_at, ssn_at + 11),
        ],
    )  # fmt: skip


def test_layout_regions_carry_their_text_masked_and_never_a_clear_part() -> None:
    delivered = mask_result(_regions_result(), unmasked=False)
    regions = delivered["pages"][0]["regions"]

    assert regions[0]["bbox"] == [10, 10, 120, 30]
    texts = [r["text"] for r in regions]
    assert texts[0] == "Patient Name:"
    assert texts[1] == "E*** W***"
    assert texts[2] == "SSN: ***-**-4471"
    assert texts[3] == "Diagnosis: asthma"
    assert texts[4] == "E*** W***"  # a region cutting into a name shows the whole masked name
    flat = json.dumps(delivered)
    assert "Eleanor" not in flat and "Whitfield" not in flat and "512-38" not in flat
    assert all(set(r) == {"bbox", "text"} for r in regions)


def test_layout_regions_are_in_clear_for_a_role_that_may_see_values() -> None:
    regions = mask_result(_regions_result(), unmasked=True)["pages"][0]["regions"]
    assert regions[1]["text"] == "Eleanor Whitfield" and regions[2]["text"] == "SSN: 512-38-4471"
