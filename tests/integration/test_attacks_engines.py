"""Attacks on the external-engine feature (issue 3): egress policy, redaction, audit, masking, limits.

Everything runs against the real ``anthropic``/``openai`` SDKs and the fake model server on loopback
(``tests/model_server.py``). Each test mounts an attack and asserts the defence that stops it; its
docstring says what the attack is and what stops it.

A role without ``pii:view_unmasked`` (sam, clinician) never has unredacted pixels sent: where the data
set allows them clear, its pages go redacted, so the offline OCR runs first and those tests are marked
``slow``. Where masking is not the point, tests act as pat (privacy officer, ``pii:view_unmasked``),
whose pages go as they are under ``allowed``.

Not tested here: an endpoint that trickles its response *headers* is bounded only per read, not by one
overall deadline (a known gap, documented in docs/engines.md and docs/security.md).
"""

from __future__ import annotations

import json
import threading
import unicodedata
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from sealroom.analysis.local.engine import LocalEngine
from sealroom.analysis.models import AnalysisResult, PageText
from sealroom.analysis.tasks import build_task
from sealroom.api.app import create_app
from sealroom.audit.verify import verify_chain
from sealroom.cli.common import handle_errors
from sealroom.demo.documents import LAB_PATIENT, render_lab_report
from sealroom.errors import AccessDeniedError, AnalysisError, AuditUnavailableError, InputError
from tests.conftest import Env, login
from tests.integration.test_model_analysis import (
    API_KEY,
    KEY_ENV,
    configure,
    events,
    ingest,
    last_seq,
)
from tests.model_server import ModelServer, delay, images, raw, reply, status

PATIENT = LAB_PATIENT["Patient Name"]
SURNAME = "Whitfield"
MRN_DIGITS = "20473918"
ELSEWHERE_NAME = "Marchetti"
"""A surname that is not on the lab report: the offline engine cannot know it."""


@pytest.fixture(autouse=True)
def no_ambient_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start without proxy variables; the proxy test sets its own."""
    import os

    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


@pytest.fixture
def claude_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    return API_KEY


@pytest.fixture
def lab_image(env: Env) -> str:
    return ingest(env, render_lab_report())


def normal(value: str) -> str:
    """What a person reading the text sees: compatibility forms folded, invisible characters dropped,
    runs of white space collapsed, case ignored."""
    value = unicodedata.normalize("NFKC", value)
    value = "".join(char for char in value if unicodedata.category(char) != "Cf")
    return " ".join(value.split()).casefold()


def shown(result: dict[str, Any]) -> str:
    return normal(json.dumps(result, ensure_ascii=False))


def edit_config(env: Env, *replacements: tuple[str, str], append: str = "") -> None:
    """Replace every occurrence of each ``old`` in ``sealroom.toml``, append, reopen the workspace."""
    path = env.root / "sealroom.toml"
    config = path.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in config, old
        config = config.replace(old, new)
    path.write_text(config + append, encoding="utf-8")
    env.reopen()


def break_audit_for(env: Env, action: str) -> None:
    """Make every insert of one audit action fail, as a full disk would at that moment."""
    with env.workspace.engine.begin() as connection:
        connection.execute(
            text(
                f"CREATE TRIGGER audit_down_{action.replace('.', '_')} BEFORE INSERT ON audit_events "
                f"WHEN NEW.action = '{action}' "
                "BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END"
            )
        )


def chain_ok(env: Env) -> bool:
    with env.workspace.db() as db:
        return verify_chain(db, env.workspace.keys.audit_key).ok


def fake_local(*, fail: bool = False, page_text: str = "") -> Any:
    """A stand-in for the offline engine's full analysis (no OCR), for tests that do not need it."""

    def analyze(self: LocalEngine, pages: Any, task: Any = None, *, observer: Any = None) -> AnalysisResult:
        if fail:
            raise RuntimeError("ocr model crashed")
        return AnalysisResult(
            engine="local",
            document_type="clinical",
            document_type_confidence=0.9,
            pages=[PageText(p.index, p.image.width, p.image.height, page_text) for p in pages],
        )

    return analyze


def post_analysis(env: Env, user: str, image_id: str, payload: dict[str, Any]) -> Any:
    """``POST /api/v1/images/{id}/analyses`` as ``user``; the response."""
    with TestClient(create_app(env.workspace, sweep=False)) as client:
        headers = login(client, env, user)
        return client.post(f"/api/v1/images/{image_id}/analyses", headers=headers, json=payload)


# =====================================================================================================
# 1. Masking of model replies for a role without pii:view_unmasked (sam, clinician)
# =====================================================================================================

REPLY_LEAKS = [
    # (task, question, the model's reply, the personal value a reader would see)
    ("ask", "What is the patient's surname?", {"answer": SURNAME}, SURNAME),
    ("ask", "Who is the patient?", {"answer": "The patient is eleanor r. whitfield."}, SURNAME),
    ("ask", "Who is the patient?", {"answer": "Lab report for E. Whitfield."}, SURNAME),
    ("ask", "Who is the patient?", {"answer": "Whitfield Eleanor"}, SURNAME),
    ("ask", "Who is the patient?", {"answer": "Eleanor  R.  Whitfield"}, SURNAME),
    ("ask", "Who is the patient?", {"answer": "Elea\u200bnor R. Whit\u200bfield"}, SURNAME),
    ("ask", "What is the SSN?", {"answer": "The patient's SSN is 512384471."}, "512384471"),
    (
        "ask",
        "What is the SSN?",
        {"answer": "SSN \uff15\uff11\uff12-\uff13\uff18-\uff14\uff14\uff17\uff11"},
        LAB_PATIENT["SSN"],
    ),
    ("ask", "What is the medical record number?", {"answer": MRN_DIGITS}, MRN_DIGITS),
    ("ask", "What is the patient's phone number?", {"answer": "3125550147"}, "3125550147"),
    (
        "classify",
        None,
        {"document_type": "clinical", "confidence": 0.9, "reason": "A blood panel for E. Whitfield."},
        SURNAME,
    ),
    (
        "describe",
        None,
        {
            "summary": "Hemoglobin results of patient Whitfield, ordered by Oyelaran.",
            "document_type": "clinical",
        },
        SURNAME,
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "question", "model_reply", "value"),
    REPLY_LEAKS,
    ids=[f"{i}-{case[0]}" for i, case in enumerate(REPLY_LEAKS)],
)
def test_pii_a_model_writes_in_ordinary_wording_is_masked_for_a_masked_role(
    env: Env,
    model_server: ModelServer,
    claude_key: str,
    lab_image: str,
    kind: str,
    question: str | None,
    model_reply: dict[str, Any],
    value: str,
) -> None:
    """A clinician (no ``pii:view_unmasked``) asks plain questions and the model answers the way models
    do: a bare surname, a lower-case name, "E. Whitfield", the name reversed, double spaces, zero-width
    spaces inside the name, an SSN or MRN without label or separators, full-width digits, a phone
    number without punctuation. The offline text recognisers alone miss most of these wordings.

    Defence: the data set allows egress, but for this role ``allowed`` becomes ``redacted``, so the
    model only sees the page with the offline engine's findings burned out; and every value the offline
    engine found is masked in the reply also as its name parts and its digits alone, after the reply
    is NFKC-folded and stripped of zero-width characters.
    """
    configure(env, model_server, clinical="allowed")
    model_server.queue(reply(json.dumps(model_reply)))
    task = build_task(kind, question=question) if question else build_task(kind)
    result = env.workspace.analysis.analyze(env.session("sam"), lab_image, "claude", task)
    assert result["masked"] is True
    assert normal(value) not in shown(result), f"{value!r} reached a masked role: {result.get('answer')!r}"
    releases = [e for e in events(env) if e.action == "egress.release"]
    assert [e.details["egress"] for e in releases] == ["redacted"]


@pytest.mark.slow
def test_a_masked_roles_own_schema_cannot_split_a_name_past_masking(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    """``x-sealroom-entity`` is what makes an extracted value masked whole, and a user-supplied schema
    is written by the very user whose output is masked. Sam asks for the name in two unannotated halves,
    and neither half is recognised as a name on its own.

    Defence: the offline engine found the name on the page, and a known name is masked also as each of
    its parts, wherever the reply puts them (``data`` and ``fields``)."""
    configure(env, model_server, clinical="allowed")
    schema = {"type": "object", "properties": {"given": {"type": "string"}, "family": {"type": "string"}}}
    model_server.queue(reply(json.dumps({"given": "Eleanor", "family": SURNAME})))
    result = env.workspace.analysis.analyze(
        env.session("sam"), lab_image, "claude", build_task("extract", schema=schema)
    )
    delivered = json.dumps(result)
    assert SURNAME not in delivered and "Eleanor" not in delivered, result["data"]


@pytest.mark.slow
def test_a_number_in_extracted_data_is_masked_like_its_text(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    """A schema asking for an integer gets a JSON number back: a card number that masking would hide
    as text could travel whole as a number in ``data`` while ``fields`` shows it masked.

    Defence: a number that holds personal data is masked like its text and delivered as the masked
    string, in ``data`` as in ``fields``."""
    configure(env, model_server, clinical="allowed")
    schema = {"type": "object", "properties": {"card": {"type": "integer"}}}
    model_server.queue(reply(json.dumps({"card": 4111111111111111})))
    result = env.workspace.analysis.analyze(
        env.session("sam"), lab_image, "claude", build_task("extract", schema=schema)
    )
    assert "4111111111111111" not in result["fields"][0]["value"]
    assert "4111111111111111" not in json.dumps(result["data"]), result["data"]
    assert isinstance(result["data"]["card"], str)


@pytest.mark.parametrize(
    "schema",
    [
        {
            "type": "object",
            "properties": {"people": {"type": "object", "additionalProperties": {"type": "string"}}},
        },
        {"type": "object", "properties": {"lab": {"type": "string"}}, "additionalProperties": True},
        {
            "type": "object",
            "properties": {
                "rows": {"type": "array", "items": {"type": "object", "additionalProperties": {}}},
            },
        },
    ],
    ids=["map", "open-object", "open-array-items"],
)
def test_a_schema_that_lets_the_model_choose_keys_is_refused(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str, schema: dict[str, Any]
) -> None:
    """Keys of the extracted object are copied into ``data`` and ``fields[].name`` and are not masked
    like values: a schema whose objects take keys of the model's choosing (a map, an open object) gives
    the model a channel for a name that no masking looks at.

    Defence: a user schema whose object allows additional properties is refused with 400 before
    anything is decrypted or sent."""
    configure(env, model_server, clinical="allowed")
    response = post_analysis(env, "sam", lab_image, {"engine": "claude", "task": "extract", "schema": schema})
    assert response.status_code == 400, response.text
    assert "may not allow additional properties" in response.json()["message"]
    assert model_server.requests == []


def test_a_key_the_model_adds_to_a_closed_schema_is_refused_without_being_quoted(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    """A user schema that does not mention ``additionalProperties`` would, in plain JSON Schema, accept
    any other key, and the model (or a document that instructs it) puts the patient's name in one.
    Error messages print the JSON path of a problem, and a path is made of the reply's keys.

    Defence: every object of a user schema is closed (``additionalProperties: false``), so the reply is
    refused, again after the one repair request, and the error names no key the schema did not
    declare. The closing does not depend on the role, so pat (whose pages go unredacted) stands in."""
    configure(env, model_server, clinical="allowed")
    schema = {"type": "object", "properties": {"lab": {"type": "string"}}}
    model_server.default = lambda request: reply(json.dumps({"lab": "Lakeshore", PATIENT: "patient"}))
    response = post_analysis(env, "pat", lab_image, {"engine": "claude", "task": "extract", "schema": schema})
    assert response.status_code == 502, response.text
    assert "no other properties allowed" in response.json()["message"]
    assert SURNAME not in response.text
    assert len(model_server.requests) == 2  # the reply and its repair, both refused


KEY_CHANNELS = {
    "type-list": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
    "untyped-map": {"additionalProperties": {"type": "string"}},
    "untyped": {},
    "untyped-items": {"type": "array", "items": {}},
}


@pytest.mark.parametrize("people", list(KEY_CHANNELS.values()), ids=list(KEY_CHANNELS))
def test_no_schema_shape_leaves_keys_to_the_model(people: dict[str, Any]) -> None:
    """Schema shapes that would let the model choose keys (an object admitted by a type list, an
    ``additionalProperties`` without ``type``, an untyped property or item) are refused when the task
    is built: a name could otherwise travel in a key, where masking does not look, or in the path of
    a validation error."""
    with pytest.raises(InputError, match=r"additional properties|needs a type"):
        build_task("extract", schema={"type": "object", "properties": {"people": people}})


def test_an_object_admitted_by_a_type_list_is_closed() -> None:
    """``"type": ["object", "null"]`` without ``additionalProperties`` is closed like any object."""
    task = build_task(
        "extract", schema={"type": "object", "properties": {"people": {"type": ["object", "null"]}}}
    )
    assert task.schema is not None
    assert task.schema["properties"]["people"]["additionalProperties"] is False


@pytest.mark.slow
@pytest.mark.parametrize(
    "shape",
    ["anyOf-nullable", "nullable-array", "array-of-arrays", "untyped-property-holding-an-object"],
)
def test_an_entity_annotation_is_followed_through_common_schema_shapes(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str, shape: str
) -> None:
    """``x-sealroom-entity`` masks a value the offline engine did not find (handwriting, a stamp, a
    line the OCR missed), which under ``redacted`` is what the model can still read. The annotation is
    followed through ``anyOf`` branches, nullable type lists and nested ``items``, and covers a whole
    annotated subtree; an untyped property is refused. The name used is not on the page, so only the
    annotation can mask it."""
    configure(env, model_server, clinical="allowed")
    person = {"type": "string", "x-sealroom-entity": "PERSON"}
    schemas: dict[str, tuple[dict[str, Any], Any]] = {
        "anyOf-nullable": ({"anyOf": [person, {"type": "null"}]}, ELSEWHERE_NAME),
        "nullable-array": ({"type": ["array", "null"], "items": person}, [ELSEWHERE_NAME]),
        "array-of-arrays": (
            {"type": "array", "items": {"type": "array", "items": person}},
            [[ELSEWHERE_NAME]],
        ),
        "untyped-property-holding-an-object": ({"x-sealroom-entity": "PERSON"}, {"family": ELSEWHERE_NAME}),
    }
    prop, value = schemas[shape]
    schema = {"type": "object", "properties": {"patient": prop}}
    if shape == "untyped-property-holding-an-object":
        with pytest.raises(InputError, match="needs a type"):
            build_task("extract", schema=schema)
        return
    task = build_task("extract", schema=schema)
    model_server.queue(reply(json.dumps({"patient": value})))
    result = env.workspace.analysis.analyze(env.session("sam"), lab_image, "claude", task)
    assert ELSEWHERE_NAME not in json.dumps(result), result["data"]


@pytest.mark.slow
def test_a_preset_annotation_masks_the_value_whole(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    """A model writes names in odd forms (lower case, a surname alone) in a preset's fields and repeats
    one in an unannotated field. Defence: a preset's annotated properties are masked whole, whatever
    the wording, and the same value repeated in an unannotated property is masked there too."""
    configure(env, model_server, clinical="allowed")
    task = build_task("extract", schema_name="lab_result")
    assert task.schema is not None
    data: dict[str, Any] = {
        k: [] if s.get("type") == "array" else None for k, s in task.schema["properties"].items()
    }
    data.update(patient_name="whitfield", ordering_provider="Oyelaran", lab_name="whitfield lab")
    model_server.queue(reply(json.dumps(data)))
    result = env.workspace.analysis.analyze(env.session("sam"), lab_image, "claude", task)
    assert result["data"]["patient_name"] == "w***" and result["data"]["ordering_provider"] == "O***"
    assert "whitfield" not in json.dumps(result).lower()


# =====================================================================================================
# 2. Redaction before egress
# =====================================================================================================


def test_when_the_offline_engine_fails_under_redacted_nothing_is_sent(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The offline engine crashes during the redaction pass, so nothing would be burned out.
    Defence: the request is refused (502) and audited, and no byte reaches the endpoint. The offline
    engine's first run is the step-up pre-scan, so that is where the failure is reported."""
    configure(env, model_server, clinical="redacted")
    monkeypatch.setattr(LocalEngine, "analyze", fake_local(fail=True))
    before = last_seq(env)
    with pytest.raises(AnalysisError) as caught:
        env.workspace.analysis.analyze(env.session("sam"), lab_image, "claude", build_task("describe"))
    assert caught.value.reason == "pre_scan_failed" and caught.value.http_status == 502
    assert model_server.requests == []
    assert "egress.release" not in [e.action for e in events(env, before)]


def test_a_page_illegible_in_every_orientation_is_refused_not_sent_unredacted(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page the offline OCR reads only as fragments, whichever way up it is turned (a poor scan,
    text at an angle), yields no findings, so nothing would be burned out while a vision model may
    still read it. Defence: under ``redacted`` such a page is refused (``redaction_unreliable``),
    audited as a failed run, and nothing is released. (Pages that read well once turned are turned
    upright and redacted: ``test_model_analysis.py`` covers that with the real OCR.)"""
    configure(env, model_server, clinical="redacted")
    fragments = "Pa ot sy n s do ed Wh tf ld El an r 51 38 MR ot ab e po t"
    monkeypatch.setattr(LocalEngine, "analyze", fake_local(page_text=fragments))
    before = last_seq(env)
    with pytest.raises(AnalysisError) as caught:
        env.workspace.analysis.analyze(env.session("sam"), lab_image, "claude", build_task("describe"))
    assert caught.value.reason == "redaction_unreliable"
    assert model_server.requests == []
    trail = events(env, before)
    assert "egress.release" not in [e.action for e in trail]
    runs = [e for e in trail if e.action == "analysis.run" and e.outcome == "failure"]
    assert [e.reason for e in runs] == ["redaction_unreliable"]


# =====================================================================================================
# 3. Egress policy
# =====================================================================================================


def test_a_classification_above_a_local_only_ceiling_inherits_it(
    env: Env, model_server: ModelServer, claude_key: str
) -> None:
    """An operator adds a level above ``restricted`` (here ``secret``) without an entry of its own in
    ``[egress.classifications]``; if unnamed levels were uncapped, the most sensitive images would
    follow the data set's ``allowed`` while ``restricted`` ones stay local-only.

    Defence: a level without its own ceiling inherits the strictest ceiling of the levels below it, so
    ``secret`` images are local-only too, refused before anything is sent."""
    configure(env, model_server, clinical="allowed")
    edit_config(
        env,
        (
            'classifications = ["internal", "confidential", "restricted"]',
            'classifications = ["internal", "confidential", "restricted", "secret"]',
        ),
        ('max_classification = "restricted"', 'max_classification = "secret"'),  # intake, privacy-officer
    )
    restricted = ingest(env, render_lab_report(), classification="restricted")
    secret = ingest(env, render_lab_report(), classification="secret")
    pat = env.session("pat")
    model_server.default = lambda request: reply('{"summary": "s", "document_type": "clinical"}')
    for image_id in (restricted, secret):
        with pytest.raises(AccessDeniedError) as caught:
            env.workspace.analysis.analyze(pat, image_id, "claude", build_task("describe"))
        assert caught.value.reason == "egress_local_only"
    assert model_server.requests == [], "a 'secret' image was sent while 'restricted' ones are local-only"


def test_neither_a_cached_local_result_nor_a_burst_of_requests_opens_a_local_only_image(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Analysing with the offline engine first (so a result sits in the session cache), then asking an
    external engine, once or twelve times at once with several tasks. Defence: the egress decision
    comes before the session cache is consulted, so each request is refused and audited; nothing
    reaches the endpoint and the audit chain verifies."""
    configure(env, model_server, clinical="local-only")
    monkeypatch.setattr(LocalEngine, "analyze", fake_local())
    sam = env.session("sam")
    env.workspace.analysis.analyze(sam, lab_image, "local", build_task("describe"))
    before = last_seq(env)
    outcomes: list[str] = []

    def attempt(kind: str) -> None:
        try:
            env.workspace.analysis.analyze(sam, lab_image, "claude", build_task(kind))
            outcomes.append("sent")
        except AccessDeniedError:
            outcomes.append("refused")
        except Exception as exc:  # a database lock under contention is acceptable, a send is not
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=attempt, args=(kind,)) for kind in ["describe", "classify"] * 6]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert "sent" not in outcomes and outcomes.count("refused") >= 1
    assert model_server.requests == []
    denials = [e for e in events(env, before) if (e.details or {}).get("requested") == "image:egress"]
    assert len(denials) == outcomes.count("refused") and all(e.outcome == "deny" for e in denials)
    assert chain_ok(env)


def test_a_cached_external_result_is_still_decided_and_audited_each_time(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    """Repeating a request in the same session, hoping the cached answer skips the checks. Defence:
    the second identical request is served from the session's cache (one request to the endpoint) but
    still gets its own egress decision and delivery record."""
    configure(env, model_server, clinical="allowed")
    model_server.default = lambda request: reply('{"summary": "s", "document_type": "clinical"}')
    pat = env.session("pat")
    before = last_seq(env)
    for _ in range(2):
        env.workspace.analysis.analyze(pat, lab_image, "claude", build_task("describe"))
    assert len(model_server.requests) == 1
    trail = events(env, before)
    assert len([e for e in trail if (e.details or {}).get("requested") == "image:egress"]) == 2
    assert len([e for e in trail if e.action == "result.deliver"]) == 2


# =====================================================================================================
# 4. Audit before and after every external call
# =====================================================================================================


def test_when_egress_release_cannot_be_recorded_no_byte_leaves(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    """The audit store fails exactly when ``egress.release`` is written. Defence: the request is
    refused with 503, the endpoint receives nothing, the failed run is recorded and the chain
    verifies."""
    configure(env, model_server, clinical="allowed")
    break_audit_for(env, "egress.release")
    before = last_seq(env)
    response = post_analysis(env, "pat", lab_image, {"engine": "claude", "task": "describe"})
    assert response.status_code == 503 and response.json()["error"] == "audit_unavailable"
    assert model_server.requests == []
    runs = [e for e in events(env, before) if e.action == "analysis.run" and e.details["engine"] == "claude"]
    assert [(e.outcome, e.reason) for e in runs] == [("failure", "audit_unavailable")]
    assert chain_ok(env)


def test_when_the_call_record_cannot_be_written_nothing_is_delivered(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    """The call went out (its release is on record) but ``analysis.external_call`` cannot be written.
    Defence: the result is not delivered (503) and the chain stays consistent."""
    configure(env, model_server, clinical="allowed")
    model_server.queue(reply('{"summary": "s", "document_type": "clinical"}'))
    break_audit_for(env, "analysis.external_call")
    before = last_seq(env)
    with pytest.raises(AuditUnavailableError):
        env.workspace.analysis.analyze(env.session("pat"), lab_image, "claude", build_task("describe"))
    assert len(model_server.requests) == 1
    actions = [e.action for e in events(env, before)]
    assert "egress.release" in actions and "result.deliver" not in actions
    assert chain_ok(env)


def test_a_call_that_went_out_is_recorded_even_when_its_reply_breaks_the_transport(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    """The endpoint answers 200 with a text block that holds a number, so the transport breaks while
    reading a reply to a request that was sent and answered. Defence: whatever the transport raises,
    ``analysis.external_call`` is written (outcome ``failure``), so every page that left has its call
    on record."""
    configure(env, model_server, clinical="allowed", max_retries=0)
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test-1",
        "content": [{"type": "text", "text": 5}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    model_server.queue(raw(200, json.dumps(body).encode(), {"content-type": "application/json"}))
    before = last_seq(env)
    with pytest.raises(AnalysisError):
        env.workspace.analysis.analyze(env.session("pat"), lab_image, "claude", build_task("describe"))
    assert len(model_server.requests) == 1  # the page went out and was answered
    trail = events(env, before)
    assert "egress.release" in [e.action for e in trail]
    calls = [e for e in trail if e.action == "analysis.external_call"]
    assert [(e.outcome, e.reason) for e in calls] == [("failure", "transport_error")]


# =====================================================================================================
# 5. Where the images go: proxies, redirects
# =====================================================================================================


@pytest.mark.parametrize("engine", ["claude", "onprem"])
def test_an_environment_proxy_never_receives_the_images(
    env: Env,
    model_server: ModelServer,
    claude_key: str,
    monkeypatch: pytest.MonkeyPatch,
    lab_image: str,
    engine: str,
) -> None:
    """``HTTP_PROXY`` in the server's environment (often set host-wide for package downloads) would
    route an engine on ``http://127.0.0.1`` through the proxy host in clear, while the audit records
    ``endpoint_host = 127.0.0.1:…``. Defence: the engines' HTTP clients ignore proxy environment
    variables; the request goes to ``base_url`` and nowhere else."""
    configure(env, model_server, clinical="allowed")
    with ModelServer() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)  # stands for http://proxy.corp.example:3128
        monkeypatch.delenv("NO_PROXY", raising=False)
        proxy.queue(reply('{"answer": "42"}'))
        model_server.queue(reply('{"answer": "42"}'))
        env.workspace.analysis.analyze(env.session("pat"), lab_image, engine, build_task("ask", question="?"))
        assert proxy.requests == [], f"the proxy received {len(images(proxy.requests[0]))} page image(s)"
    assert len(model_server.requests) == 1


def test_a_redirect_never_takes_the_images_elsewhere(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    """The endpoint answers 307 to another address. Defence: the redirect is not followed (it would
    re-send the body); the analysis fails with a message naming base_url, and the other address
    receives nothing."""
    configure(env, model_server, clinical="allowed", max_retries=0)
    with ModelServer() as elsewhere:
        model_server.queue(raw(307, b"", {"location": f"{elsewhere.url}/v1/messages"}))
        with pytest.raises(AnalysisError) as caught:
            env.workspace.analysis.analyze(env.session("pat"), lab_image, "claude", build_task("describe"))
        assert elsewhere.requests == []
    assert caught.value.reason == "bad_request" and "base_url" in caught.value.message


# =====================================================================================================
# 6. Bounded time and memory
# =====================================================================================================


def test_a_reply_too_long_to_check_cheaply_is_refused_unparsed(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    """Parsing a reply and checking it against a schema costs time and memory in a server thread, and
    nothing about ``max_tokens`` stops an endpoint from sending far more. Defence: a reply over 200,000
    characters is refused before it is parsed (and, after the one repair request, the analysis fails
    clearly); schema keywords that make checking costly (``uniqueItems``) are refused up front (see
    the size-limit test below)."""
    configure(env, model_server, clinical="allowed", max_retries=0)
    schema = {"type": "object", "properties": {"rows": {"type": "array", "items": {"type": "object"}}}}
    model_server.default = lambda request: reply(json.dumps({"rows": [{"r": i} for i in range(30_000)]}))
    response = post_analysis(env, "pat", lab_image, {"engine": "claude", "task": "extract", "schema": schema})
    assert response.status_code == 502, response.text[:300]
    assert "over 200,000 characters" in response.json()["message"]
    assert len(model_server.requests) == 2  # the reply and its repair


def test_request_size_limits_give_clear_4xx_and_send_nothing(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    """Over-long questions, control characters, oversized or deeply nested schemas, regular
    expressions (ReDoS on the reply), ``uniqueItems`` (quadratic checking of a long reply) and unknown
    fields. Defence: each is refused with a clear 4xx before anything is decrypted or sent."""
    configure(env, model_server, clinical="allowed")
    deep = (
        '{"engine":"claude","task":"extract","schema":{"type":"object","properties":{"a":'
        + '{"not":' * 3000
        + "{}"
        + "}" * 3000
        + "}}}"
    )
    cases: list[tuple[Any, int, str]] = [
        ({"engine": "claude", "task": "ask", "question": "x" * 2001}, 422, "question"),
        ({"engine": "claude", "task": "ask", "question": "why\x1b[2J"}, 400, "control characters"),
        (
            {
                "engine": "claude",
                "task": "extract",
                "schema": {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a+)+$"}}},
            },
            400,
            "pattern",
        ),
        (
            {
                "engine": "claude",
                "task": "extract",
                "schema": {
                    "type": "object",
                    "patternProperties": {"^(a+)+$": {"type": "string"}},
                    "properties": {},
                },
            },
            400,
            "patternProperties",
        ),
        (
            {
                "engine": "claude",
                "task": "extract",
                "schema": {
                    "type": "object",
                    "properties": {
                        "rows": {"type": "array", "uniqueItems": True, "items": {"type": "object"}}
                    },
                },
            },
            400,
            "uniqueItems",
        ),
        (
            {
                "engine": "claude",
                "task": "extract",
                "schema": {
                    "type": "object",
                    "properties": {f"p{i}": {"type": "string"} for i in range(1400)},
                },
            },
            400,
            "over the limit",
        ),
        (
            {
                "engine": "claude",
                "task": "extract",
                "schema": {"type": "object", "properties": {"a": {"enum": ["x" * 60] * 1200}}},
            },
            413,
            "over the limit",
        ),
        ({"engine": "claude", "task": "describe", "temperature": 2}, 422, "temperature"),
        (deep, 400, ""),
    ]
    with TestClient(create_app(env.workspace, sweep=False)) as client:
        headers = login(client, env, "sam")
        for payload, code, words in cases:
            if isinstance(payload, str):
                response = client.post(
                    f"/api/v1/images/{lab_image}/analyses",
                    content=payload,
                    headers={**headers, "content-type": "application/json"},
                )
            else:
                response = client.post(f"/api/v1/images/{lab_image}/analyses", json=payload, headers=headers)
            assert response.status_code == code, (
                payload if not isinstance(payload, str) else "deep",
                response.text[:300],
            )
            assert words in response.text
    assert model_server.requests == []


# =====================================================================================================
# 7. What failures say, and to whom
# =====================================================================================================


def test_an_endpoints_error_text_cannot_drive_the_cli_users_terminal(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The provider's error message is copied into the ``AnalysisError`` message, and ``sealroom
    analyze`` prints it: an endpoint (a self-hosted server, a gateway, anything answering at
    ``base_url``) answers with escape sequences that would retitle the window and clear the operator's
    screen. Defence: control characters are stripped from endpoint error text, and nothing printed
    carries an escape sequence."""
    configure(env, model_server, clinical="allowed", max_retries=0)
    model_server.queue(status(400, message="bad image \x1b]0;sealroom: all clear\x1b\\\x1b[2J\x1b[1;1H"))
    with pytest.raises(AnalysisError) as caught:
        env.workspace.analysis.analyze(env.session("pat"), lab_image, "claude", build_task("describe"))

    @handle_errors
    def command() -> None:
        raise caught.value

    with pytest.raises(Exception):  # noqa: B017 - typer.Exit
        command()
    printed = capsys.readouterr().err
    assert "bad image" in caught.value.message
    assert "\x1b" not in caught.value.message and "\x1b" not in printed


@pytest.mark.parametrize(
    ("behaviour", "http", "code"),
    [("timeout", 504, "engine_timeout"), ("auth", 503, "engine_unavailable")],
)
def test_failure_codes_match_the_documented_ones(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str, behaviour: str, http: int, code: str
) -> None:
    """A client keys on the JSON ``error`` code to decide between retrying later and calling the
    operator; a generic ``analysis_failed`` for both would hide which. Defence: a timeout is 504
    ``engine_timeout`` and a rejected credential 503 ``engine_unavailable``, as docs/engines.md says,
    and the key appears nowhere in the response."""
    configure(env, model_server, clinical="allowed", timeout_seconds=0.5, max_retries=0)
    model_server.queue(delay(3) if behaviour == "timeout" else status(401, message="invalid x-api-key"))
    response = post_analysis(env, "pat", lab_image, {"engine": "claude", "task": "describe"})
    assert response.status_code == http
    assert response.json()["error"] == code, response.json()
    assert API_KEY not in response.text


def test_the_engine_listing_never_shows_a_credential(
    env: Env, model_server: ModelServer, claude_key: str
) -> None:
    """An auditor lists the engines, one of them with a key file others can read. Defence:
    ``GET /api/v1/engines`` names where credentials come from and whether they are present, never a
    value, also when a key file is refused for its mode."""
    configure(env, model_server, clinical="allowed")
    secret_file_key = "sk-file-key-that-must-not-show-0001"
    (env.root / "secrets").mkdir(mode=0o700)
    key_file = env.root / "secrets" / "vlm.key"
    key_file.write_text(secret_file_key)
    key_file.chmod(0o644)
    edit_config(
        env,
        append=(
            f'\n[engines.filekey]\nkind = "openai-compatible"\nmodel = "m"\n'
            f'base_url = "{model_server.base_url("openai")}"\napi_key_file = "secrets/vlm.key"\n'
        ),
    )
    with TestClient(create_app(env.workspace, sweep=False)) as client:
        headers = login(client, env, "kim")  # the auditor: no image access at all
        response = client.get("/api/v1/engines", headers=headers)
    assert response.status_code == 200
    listing = {e["name"]: e for e in response.json()["engines"]}
    assert listing["filekey"]["ready"] is False and "chmod 600" in listing["filekey"]["problem"]
    assert API_KEY not in response.text and secret_file_key not in response.text
    assert model_server.requests == []


def test_model_text_with_terminal_and_bidi_controls_is_cleaned_before_delivery(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    """A reply carries an OSC 8 hyperlink and a right-to-left override that disguises a file name.
    Defence: escape sequences and bidi overrides in a reply never reach the caller."""
    configure(env, model_server, clinical="allowed")
    model_server.queue(
        reply(json.dumps({"answer": "ok \x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\ \u202egnp.exe"}))
    )
    result = env.workspace.analysis.analyze(
        env.session("pat"), lab_image, "claude", build_task("ask", question="?")
    )
    assert "\x1b" not in result["answer"] and "\u202e" not in result["answer"]
