"""Personal data in model replies: values found on the page are recognised however the reply writes them."""

from __future__ import annotations

from sealroom.analysis.models import AnalysisResult, Entity, PageText
from sealroom.analysis.output_pii import mark_output_pii, variants
from sealroom.masking import mask_result


def _entity(kind: str, text: str) -> Entity:
    return Entity(kind, text, 0, (0, 0, 10, 10), 0.9)


def test_name_parts_and_bare_digits_are_variants_of_a_found_value() -> None:
    assert variants(_entity("PERSON", "Dr. Eleanor R. Whitfield")) == ["Eleanor", "Whitfield"]
    assert variants(_entity("US_SSN", "512-38-4471")) == ["512384471"]
    assert variants(_entity("DATE", "03/17/84")) == ["031784"]
    assert variants(_entity("EMAIL_ADDRESS", "a@b.org")) == []


def test_a_reply_naming_the_patient_differently_is_still_masked() -> None:
    result = AnalysisResult(
        "claude",
        "clinical",
        1.0,
        [PageText(0, 10, 10, "")],
        answer="Whitfield's SSN is 512384471; see E. WHITFIELD.",
    )
    mark_output_pii(
        result, lambda text: [], [_entity("PERSON", "Eleanor R. Whitfield"), _entity("US_SSN", "512-38-4471")]
    )
    delivered = mask_result(result, unmasked=False)
    assert delivered["answer"] == "W***'s SSN is ***-**-4471; see E. W***."
