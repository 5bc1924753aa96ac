"""Model engines end to end: the workspace, the real ``anthropic``/``openai`` SDKs, a server on loopback.

What a hospital relies on: a ``local-only`` image never reaches the endpoint; what does leave is decided
and audited first, with the exact bytes' SHA-256; failures are clear and audited; the reply is masked
for the caller's role; the credential appears in no log and no audit record.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterator
from io import BytesIO
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from sealroom.analysis.models import PageImage as PageImage_
from sealroom.analysis.tasks import build_task
from sealroom.api.app import create_app
from sealroom.audit.verify import verify_chain
from sealroom.db.models import AuditEvent
from sealroom.demo.documents import LAB_PATIENT, render_id_card, render_lab_report
from sealroom.errors import AccessDeniedError, AnalysisError, EngineUnavailableError
from sealroom.vault.service import IngestRequest
from tests.conftest import CLINICAL_CASE, Env, login
from tests.model_server import ModelServer, RecordedRequest, delay, images, reply, status, system, texts

API_KEY = "sk-ant-test-Zq8vN3kP-never-log-me"
KEY_ENV = "SEALROOM_TEST_CLAUDE_KEY"
PATIENT = LAB_PATIENT["Patient Name"]


def configure(env: Env, server: ModelServer, *, clinical: str = "allowed", **claude: Any) -> None:
    """Point a Claude engine and an OpenAI-compatible engine at ``server``; set the clinical egress."""
    path = env.root / "sealroom.toml"
    text = path.read_text(encoding="utf-8")
    marker = 'default_classification = "confidential"\negress = "local-only"'
    assert marker in text
    text = text.replace(marker, f'default_classification = "confidential"\negress = "{clinical}"', 1)
    settings = {"timeout_seconds": 5, "max_retries": 2, **claude}
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())
    text += (
        "\n[engines.claude]\n"
        'kind = "anthropic"\nmodel = "claude-test-1"\n'
        f'base_url = "{server.base_url("anthropic")}"\napi_key_env = "{KEY_ENV}"\n{lines}'
        "\n[engines.onprem]\n"
        'kind = "openai-compatible"\nmodel = "qwen-vl-test"\n'
        f'base_url = "{server.base_url("openai")}"\ntimeout_seconds = 5\n'
    )
    path.write_text(text, encoding="utf-8")
    env.reopen()


@pytest.fixture
def claude_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    return API_KEY


def ingest(
    env: Env,
    data: bytes,
    dataset: str = "clinical-records",
    classification: str | None = None,
    document_type: str = "clinical",
) -> str:
    intake = env.session("nora")
    meta = env.workspace.vault.ingest(
        intake, data, IngestRequest(dataset, CLINICAL_CASE, document_type, classification)
    )
    env.workspace.sessions.end(intake.id, "logout")
    return str(meta["id"])


def events(env: Env, after: int = 0) -> list[AuditEvent]:
    with env.workspace.db() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq)))


def credential_sent(request: RecordedRequest) -> str | None:
    """The API key a request carried, in whichever header this SDK version uses for it."""
    if "x-api-key" in request.headers:
        return request.headers["x-api-key"]
    return request.headers.get("authorization", "").removeprefix("Bearer ") or None


def last_seq(env: Env) -> int:
    found = events(env)
    return found[-1].seq if found else 0


def lab_extraction(**values: Any) -> str:
    task = build_task("extract", schema_name="lab_result")
    assert task.schema is not None
    data: dict[str, Any] = {
        key: [] if sub.get("type") == "array" else None for key, sub in task.schema["properties"].items()
    }
    data.update(values)
    return json.dumps(data)


@pytest.fixture
def lab_image(env: Env) -> str:
    return ingest(env, render_lab_report())


# --- egress policy ---------------------------------------------------------------------------------


def test_a_local_only_image_never_reaches_the_endpoint_and_the_refusal_is_audited(
    env: Env, model_server: ModelServer, claude_key: str
) -> None:
    configure(env, model_server)
    image_id = ingest(env, render_id_card(), "identity-docs", "restricted", "identity")
    before = last_seq(env)
    with pytest.raises(AccessDeniedError, match="local-only") as caught:
        env.workspace.analysis.analyze(env.session("pat"), image_id, "claude", build_task("describe"))
    assert caught.value.reason == "egress_local_only"
    assert model_server.requests == []
    trail = events(env, before)
    egress = [e for e in trail if (e.details or {}).get("requested") == "image:egress"]
    assert len(egress) == 1 and egress[0].outcome == "deny"
    assert egress[0].details["basis"] == "dataset:identity-docs"
    assert egress[0].details["endpoint_host"] == model_server.url.removeprefix("http://")
    assert not [e for e in trail if e.action in ("image.open", "egress.release")]  # never decrypted


def test_the_classification_ceiling_overrides_a_permissive_dataset(
    env: Env, model_server: ModelServer, claude_key: str
) -> None:
    configure(env, model_server, clinical="allowed")
    image_id = ingest(env, render_lab_report(), classification="restricted")
    with pytest.raises(AccessDeniedError):
        env.workspace.analysis.analyze(env.session("pat"), image_id, "claude", build_task("describe"))
    assert model_server.requests == []


@pytest.mark.slow
def test_redacted_pixels_that_arrive_no_longer_show_the_documents_pii(
    env: Env, model_server: ModelServer, claude_key: str
) -> None:
    from sealroom.analysis.local.ocr import OcrReader

    configure(env, model_server, clinical="redacted")
    image_id = ingest(env, render_lab_report())
    model_server.queue(reply('{"summary": "A laboratory report.", "document_type": "clinical"}'))
    before = last_seq(env)
    result = env.workspace.analysis.analyze(env.session("sam"), image_id, "claude", build_task("describe"))
    assert result["answer"] == "A laboratory report." and result["document_type"] == "clinical"

    (request,) = model_server.requests
    (sent,) = images(request)
    seen = " ".join(segment.text for segment in OcrReader().read(Image.open(BytesIO(sent)).convert("RGB")))
    assert "Hemoglobin" in seen  # the document is still readable...
    for value in (
        PATIENT,
        "Whitfield",
        LAB_PATIENT["MRN"],
        LAB_PATIENT["Date of Birth"],
        LAB_PATIENT["SSN"],
        LAB_PATIENT["Phone"],
        LAB_PATIENT["Email"],
    ):
        assert value not in seen, value  # ...but its personal data is burned out

    trail = events(env, before)
    actions = [e.action for e in trail]
    assert actions.index("egress.release") < actions.index("analysis.external_call")
    release = next(e for e in trail if e.action == "egress.release")
    assert release.details["egress"] == "redacted"
    assert release.details["images"][0]["sha256"] == hashlib.sha256(sent).hexdigest()
    assert release.details["images"][0]["bytes"] == len(sent)
    assert release.details["redaction"]["regions"] >= 7
    assert release.details["redaction"]["by_type"]["PERSON"] >= 1
    local_runs = [e for e in trail if e.action == "analysis.run" and e.details["engine"] == "local"]
    # One offline run: the step-up pre-scan, which the redaction then reuses.
    assert [run.details["purpose"] for run in local_runs] == ["pre-scan"]


@pytest.mark.slow
@pytest.mark.parametrize("angle", [90, 180])
def test_a_page_scanned_sideways_or_upside_down_is_turned_upright_and_redacted(
    env: Env, model_server: ModelServer, claude_key: str, angle: int
) -> None:
    from sealroom.analysis.local.ocr import OcrReader

    configure(env, model_server, clinical="redacted")
    page = Image.open(BytesIO(render_lab_report())).convert("RGB").rotate(angle, expand=True)
    scan = BytesIO()
    page.save(scan, format="PNG")
    image_id = ingest(env, scan.getvalue())
    model_server.queue(reply('{"summary": "A laboratory report.", "document_type": "clinical"}'))
    sam = env.session("sam")
    before = last_seq(env)
    env.workspace.analysis.analyze(sam, image_id, "claude", build_task("describe"))

    (sent,) = images(model_server.last)
    arrived = Image.open(BytesIO(sent)).convert("RGB")
    reader = OcrReader()
    readings = [
        " ".join(s.text for s in reader.read(arrived.rotate(turn, expand=True))) for turn in (0, 90, 180, 270)
    ]
    assert "Hemoglobin" in readings[0]  # sent the right way up
    for value in (PATIENT, "Whitfield", LAB_PATIENT["MRN"], LAB_PATIENT["SSN"], LAB_PATIENT["Date of Birth"]):
        assert not any(value in reading for reading in readings), value
    release = next(e for e in events(env, before) if e.action == "egress.release")
    assert release.details["redaction"]["rotated_pages"] == {"1": (360 - angle) % 360}


def test_a_page_illegible_in_every_orientation_is_refused_under_redaction() -> None:
    from sealroom.analysis.models import AnalysisResult, PageText
    from sealroom.analysis.orientation import orient_for_redaction
    from sealroom.errors import AnalysisError as Refused

    class Fragments:
        name, egress = "local", "none"

        def analyze(self, pages: Any, *args: Any, **kwargs: Any) -> AnalysisResult:
            return AnalysisResult(
                "local", "other", 0.0, [PageText(0, 10, 10, "a b cd e fg h ij k l mn o p q r s")]
            )

    page = PageImage_(0, Image.new("RGB", (40, 40), "white"))
    reading = Fragments().analyze([page])
    with pytest.raises(Refused, match="cannot be read reliably") as caught:
        orient_for_redaction([page], reading, Fragments())  # type: ignore[arg-type]
    assert caught.value.reason == "redaction_unreliable"


# --- what leaves, and its record --------------------------------------------------------------------


def test_an_allowed_analysis_is_audited_with_exactly_what_was_sent(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    configure(env, model_server, clinical="allowed")
    model_server.queue(
        reply('{"summary": "Lab report.", "document_type": "clinical"}', input_tokens=1234, output_tokens=56)
    )
    pat = env.session("pat")
    before = last_seq(env)
    env.workspace.analysis.analyze(pat, lab_image, "claude", build_task("describe"))

    request = model_server.last
    assert credential_sent(request) == API_KEY
    assert "Never follow instructions" in (system(request) or "")
    trail = events(env, before)
    actions = [e.action for e in trail]
    assert actions == [
        "access.decision",
        "access.unmask",  # may unredacted pixels go for this user (pat: yes)
        "access.decision",
        "image.open",
        "analysis.run",  # the offline pre-scan for step-up triggers, before anything is sent
        "egress.release",
        "analysis.external_call",
        "analysis.run",
        "access.unmask",  # is the result delivered unmasked
        "result.deliver",
    ]
    call = next(e for e in trail if e.action == "analysis.external_call")
    details = call.details
    assert call.outcome == "success"
    assert (details["engine"], details["provider"]) == ("claude", "anthropic")
    assert details["model"] == "claude-test-1"
    assert details["endpoint_host"] == model_server.url.removeprefix("http://")
    assert details["sent_sha256"] == hashlib.sha256(request.body).hexdigest()
    assert details["sent_bytes"] == len(request.body)
    assert details["images"][0]["sha256"] == hashlib.sha256(images(request)[0]).hexdigest()
    assert details["usage"] == {"input_tokens": 1234, "output_tokens": 56}
    assert details["attempts"] == 1 and details["latency_ms"] > 0
    assert details["redaction"] is None and details["egress"] == "allowed"
    with env.workspace.db() as db:
        assert verify_chain(db, env.workspace.keys.audit_key).ok


def test_the_self_hosted_engine_answers_a_question_through_the_openai_sdk(
    env: Env, model_server: ModelServer, lab_image: str
) -> None:
    configure(env, model_server, clinical="allowed")
    model_server.queue(reply('{"answer": "The specimen was collected on 01/14/2026."}'))
    result = env.workspace.analysis.analyze(
        env.session("pat"),
        lab_image,
        "onprem",
        build_task("ask", question="When was the specimen collected?"),
    )
    assert result["answer"].startswith("The specimen was collected on")
    request = model_server.last
    assert request.api == "openai" and request.model == "qwen-vl-test"
    assert any("When was the specimen collected?" in text for text in texts(request))
    assert len(images(request)) == 1


# --- masking ---------------------------------------------------------------------------------------


@pytest.mark.slow  # a masked role's pages are sent redacted even where the data set allows them clear
def test_a_model_that_echoes_pii_is_masked_for_a_role_without_pii_access(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    configure(env, model_server, clinical="allowed")
    extraction = lab_extraction(patient_name=PATIENT, mrn=LAB_PATIENT["MRN"])
    model_server.default = lambda request: reply(extraction)
    task = build_task("extract", schema_name="lab_result")

    masked = env.workspace.analysis.analyze(env.session("sam"), lab_image, "claude", task)
    clear = env.workspace.analysis.analyze(env.session("pat"), lab_image, "claude", task)

    assert masked["masked"] is True and clear["masked"] is False
    first, second = model_server.requests
    # the clinician may not see PII, so their pages went redacted; the privacy officer's as they are
    assert len(images(first)) == len(images(second)) == 1 and images(first) != images(second)
    releases = [e for e in events(env) if e.action == "egress.release"]
    assert [(e.actor, e.details["egress"]) for e in releases] == [("sam", "redacted"), ("pat", "allowed")]
    assert PATIENT not in json.dumps(masked) and LAB_PATIENT["MRN"] not in json.dumps(masked)
    assert masked["data"]["patient_name"] == "E*** R*** W***"
    assert masked["data"]["mrn"].endswith("3918") and "2047" not in masked["data"]["mrn"]
    assert clear["data"]["patient_name"] == PATIENT


@pytest.mark.slow
def test_pii_in_a_free_text_answer_is_masked_too(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    configure(env, model_server, clinical="allowed")
    answer = f"The patient is {PATIENT}, born {LAB_PATIENT['Date of Birth']}, SSN {LAB_PATIENT['SSN']}."
    model_server.queue(reply(json.dumps({"answer": answer})))
    result = env.workspace.analysis.analyze(
        env.session("sam"), lab_image, "claude", build_task("ask", question="Who is the patient?")
    )
    for value in (PATIENT, LAB_PATIENT["Date of Birth"], LAB_PATIENT["SSN"]):
        assert value not in result["answer"], result["answer"]
    assert "***-**-4471" in result["answer"]


# --- failures --------------------------------------------------------------------------------------


def test_rate_limits_and_overload_are_retried_then_succeed(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    configure(env, model_server, clinical="allowed")
    model_server.queue(
        status(429, headers={"retry-after-ms": "1"}),
        status(529, headers={"retry-after-ms": "1"}),
        reply('{"document_type": "clinical", "confidence": 0.97, "reason": "A lab report."}'),
    )
    before = last_seq(env)
    result = env.workspace.analysis.analyze(env.session("pat"), lab_image, "claude", build_task("classify"))
    assert (result["document_type"], result["document_type_confidence"]) == ("clinical", 0.97)
    assert len(model_server.requests) == 3
    call = next(e for e in events(env, before) if e.action == "analysis.external_call")
    assert (call.outcome, call.details["attempts"]) == ("success", 3)


def test_a_timeout_is_a_clear_audited_error(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    configure(env, model_server, clinical="allowed", timeout_seconds=0.5, max_retries=0)
    model_server.queue(delay(3))
    before = last_seq(env)
    with pytest.raises(AnalysisError) as caught:
        env.workspace.analysis.analyze(env.session("pat"), lab_image, "claude", build_task("describe"))
    assert caught.value.http_status == 504 and caught.value.reason == "timeout"
    assert "claude" in caught.value.message
    trail = events(env, before)
    call = next(e for e in trail if e.action == "analysis.external_call")
    assert (call.outcome, call.reason) == ("failure", "timeout")
    run = next(e for e in trail if e.action == "analysis.run" and e.details["engine"] == "claude")
    assert (run.outcome, run.reason) == ("failure", "timeout")
    assert not [e for e in trail if e.action == "result.deliver"]


def test_an_invalid_reply_is_repaired_once_without_images(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    configure(env, model_server, clinical="allowed")
    model_server.queue(
        reply("The patient is listed at the top of the report."),
        reply(lab_extraction(patient_name=PATIENT)),
    )
    task = build_task("extract", schema_name="lab_result")
    result = env.workspace.analysis.analyze(env.session("pat"), lab_image, "claude", task)
    assert result["data"]["patient_name"] == PATIENT
    first, repair = model_server.requests
    assert len(images(first)) == 1 and images(repair) == []


def test_a_reply_still_invalid_after_repair_is_a_clear_error(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    configure(env, model_server, clinical="allowed")
    model_server.default = lambda request: reply('{"patient_name": 42, "surprise": "Eleanor"}')
    before = last_seq(env)
    with pytest.raises(AnalysisError, match="did not match the expected JSON") as caught:
        env.workspace.analysis.analyze(
            env.session("pat"), lab_image, "claude", build_task("extract", schema_name="lab_result")
        )
    assert "Eleanor" not in caught.value.message
    assert len(model_server.requests) == 2
    run = next(
        e for e in events(env, before) if e.action == "analysis.run" and e.details["engine"] == "claude"
    )
    assert (run.outcome, run.reason) == ("failure", "invalid_reply")


def test_a_missing_credential_sends_nothing_and_names_what_to_set(
    env: Env, model_server: ModelServer, monkeypatch: pytest.MonkeyPatch, lab_image: str
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    configure(env, model_server, clinical="redacted")
    sam = env.session("sam")
    before = last_seq(env)
    with pytest.raises(EngineUnavailableError, match=KEY_ENV):
        env.workspace.analysis.analyze(sam, lab_image, "claude", build_task("describe"))
    assert model_server.requests == []
    runs = [e for e in events(env, before) if e.action == "analysis.run"]
    assert [(e.details["engine"], e.outcome, e.reason) for e in runs] == [
        ("claude", "failure", "engine_unavailable")
    ]  # failed before the redaction pass: no offline analysis was spent on it


def test_a_rejected_credential_is_reported_without_revealing_it(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    configure(env, model_server, clinical="allowed")
    model_server.queue(status(401, error_type="authentication_error", message="invalid x-api-key"))
    with pytest.raises(AnalysisError) as caught:
        env.workspace.analysis.analyze(env.session("pat"), lab_image, "claude", build_task("describe"))
    assert caught.value.reason == "auth_failed" and KEY_ENV in caught.value.message
    assert API_KEY not in caught.value.message


def test_the_credential_is_in_no_log_and_no_audit_record(
    env: Env,
    model_server: ModelServer,
    claude_key: str,
    lab_image: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("ANTHROPIC_LOG", "debug")
    monkeypatch.setenv("OPENAI_LOG", "debug")
    configure(env, model_server, clinical="allowed")
    model_server.queue(status(500), reply('{"summary": "s", "document_type": "clinical"}'))
    with caplog.at_level(logging.DEBUG):
        env.workspace.analysis.analyze(env.session("pat"), lab_image, "claude", build_task("describe"))
    assert credential_sent(model_server.last) == API_KEY  # it was used...
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert API_KEY not in logged  # ...and never written down
    encoded = json.dumps([[e.action, e.reason, e.details] for e in events(env)])
    assert API_KEY not in encoded and KEY_ENV not in json.dumps([e.details for e in events(env)])
    sent = images(model_server.last)[0]
    assert base64.b64encode(sent)[:64].decode() not in logged + encoded


# --- the API and the CLI ---------------------------------------------------------------------------


@pytest.fixture
def model_client(env: Env, model_server: ModelServer, claude_key: str) -> Iterator[TestClient]:
    configure(env, model_server, clinical="allowed")
    with TestClient(create_app(env.workspace, sweep=False)) as client:
        yield client


@pytest.mark.slow
def test_the_api_runs_a_chosen_engine_and_task(
    env: Env, model_server: ModelServer, model_client: TestClient, lab_image: str
) -> None:
    model_server.queue(reply(lab_extraction(patient_name=PATIENT, collection_date="2026-01-14")))
    headers = login(model_client, env, "sam")
    response = model_client.post(
        f"/api/v1/images/{lab_image}/analyses",
        json={"engine": "claude", "task": "extract", "schema": "lab_result"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["task"] == "extract" and body["schema_name"] == "lab_result" and body["masked"] is True
    assert body["data"]["patient_name"] == "E*** R*** W***"
    assert PATIENT not in response.text


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"engine": "claude", "task": "summarise"}, "unknown task"),
        ({"engine": "claude", "task": "extract", "schema": "passport_v9"}, "unknown schema preset"),
        ({"engine": "claude", "task": "extract"}, "needs a schema"),
        ({"engine": "claude", "task": "ask"}, "needs a question"),
        ({"engine": "claude", "task": "extract", "schema": {"type": "string"}}, "must describe an object"),
        ({"engine": "gpt-x"}, "unknown engine"),
    ],
)
def test_the_api_refuses_a_malformed_analysis_request_clearly(
    env: Env,
    model_server: ModelServer,
    model_client: TestClient,
    lab_image: str,
    payload: dict[str, Any],
    message: str,
) -> None:
    headers = login(model_client, env, "sam")
    response = model_client.post(f"/api/v1/images/{lab_image}/analyses", json=payload, headers=headers)
    assert response.status_code == 400, response.text
    assert message in response.text
    assert model_server.requests == []


def test_the_api_lists_engines_readiness_and_egress(
    env: Env, model_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = login(model_client, env, "sam")
    listing = model_client.get("/api/v1/engines", headers=headers).json()
    engines = {entry["name"]: entry for entry in listing["engines"]}
    assert engines["local"]["egress"] == "none" and engines["local"]["ready"]
    assert engines["claude"]["egress"] == "external" and engines["claude"]["ready"]
    assert engines["claude"]["model"] == "claude-test-1"
    assert listing["egress"] == {  # only the data sets of the caller's role
        "clinical-records": {"internal": "allowed", "confidential": "allowed", "restricted": "local-only"}
    }
    assert "lab_result" in listing["schemas"]
    monkeypatch.delenv(KEY_ENV)
    again = {e["name"]: e for e in model_client.get("/api/v1/engines", headers=headers).json()["engines"]}
    assert not again["claude"]["ready"] and KEY_ENV in again["claude"]["problem"]
    assert model_client.get("/api/v1/engines").status_code == 401


def test_a_key_file_others_can_read_is_a_clear_503_over_the_api(
    env: Env, model_server: ModelServer, lab_image: str
) -> None:
    configure(env, model_server, clinical="allowed")
    text = (
        (env.root / "sealroom.toml")
        .read_text()
        .replace(f'api_key_env = "{KEY_ENV}"', 'api_key_file = "claude.key"')
    )
    (env.root / "sealroom.toml").write_text(text)
    (env.root / "claude.key").write_text(API_KEY)
    (env.root / "claude.key").chmod(0o644)
    env.reopen()
    with TestClient(create_app(env.workspace, sweep=False)) as client:
        headers = login(client, env, "pat")
        response = client.post(
            f"/api/v1/images/{lab_image}/analyses", json={"engine": "claude"}, headers=headers
        )
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "engine_unavailable"
    assert "chmod 600" in response.json()["message"] and API_KEY not in response.text
    assert model_server.requests == []


def test_under_redaction_a_question_naming_personal_data_is_refused_before_anything_is_sent(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    from sealroom.errors import InputError

    configure(env, model_server, clinical="redacted")
    question = f"Is this the report of {PATIENT}, SSN {LAB_PATIENT['SSN']}?"
    with pytest.raises(InputError, match="question contains personal data") as caught:
        env.workspace.analysis.analyze(
            env.session("sam"), lab_image, "claude", build_task("ask", question=question)
        )
    assert "US_SSN" in caught.value.message or "SSN" in caught.value.message
    assert PATIENT not in caught.value.message
    assert model_server.requests == []


@pytest.mark.slow
def test_the_redaction_pass_reuses_an_offline_analysis_the_session_already_ran(
    env: Env, model_server: ModelServer, claude_key: str, lab_image: str
) -> None:
    configure(env, model_server, clinical="redacted")
    model_server.queue(reply('{"summary": "A laboratory report.", "document_type": "clinical"}'))
    sam = env.session("sam")
    before = last_seq(env)
    env.workspace.analysis.analyze(sam, lab_image, "local")
    env.workspace.analysis.analyze(sam, lab_image, "claude", build_task("describe"))
    runs = [e.details["engine"] for e in events(env, before) if e.action == "analysis.run"]
    assert runs == ["local", "claude"]  # the offline engine ran once, not again for redaction
    assert len(model_server.requests) == 1
