"""Break-glass through the real API (and once through the CLI): emergency access is immediate and
time-boxed, the alert reaches real receivers without the justification, the audit log flags it, and
the use waits in the review queue for someone other than the user who took it."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from sealroom.api.app import create_app
from sealroom.api.breakglass import router
from sealroom.cli.breakglass_cmd import breakglass_app
from sealroom.db.models import AuditEvent, BreakGlass, Grant
from sealroom.demo.documents import render_lab_report
from sealroom.vault.service import IngestRequest
from tests.conftest import CLINICAL_CASE, PASSWORD, Env, login
from tests.receivers import SyslogReceiver, WebhookReceiver, parse_rfc5424

CASE = "ENC-2026-0099"
JUSTIFICATION = "Patient unresponsive in the ED; prior lab results needed for treatment now"
SECRET_ENV = "SEALROOM_TEST_BREAKGLASS_HOOK_KEY"
SECRET = "break-glass-webhook-signing-key"
FLUSH = 20.0


def _ingest(env: Env, case_id: str = CASE, dataset: str = "clinical-records") -> str:
    intake = env.session("nora")
    document_type = "clinical" if dataset == "clinical-records" else "financial"
    meta = env.workspace.vault.ingest(
        intake, render_lab_report(), IngestRequest(dataset, case_id, document_type, None)
    )
    env.workspace.sessions.end(intake.id, "logout")
    return str(meta["id"])


def _configure_alerts(env: Env, **alerts: str | float) -> None:
    """Replace the template's [alerts] table and reopen the workspace, as a restart would."""
    path = env.root / "sealroom.toml"
    text = path.read_text(encoding="utf-8")
    start = text.index("\n[alerts]\n")
    end = text.index("\n[", start + 1)
    table = "".join(f"{key} = {json.dumps(value)}\n" for key, value in alerts.items())
    path.write_text(text[:start] + "\n[alerts]\n" + table + text[end:], encoding="utf-8")
    env.reopen()


def _client(env: Env) -> TestClient:
    app = create_app(env.workspace, sweep=False)
    if not any(getattr(route, "path", "").startswith(router.prefix) for route in app.routes):
        app.include_router(router)  # until the router is registered in create_app
    return TestClient(app)


@pytest.fixture
def api(env: Env) -> Iterator[TestClient]:
    """A client for the workspace as it is (no alert sink configured)."""
    with _client(env) as client:
        yield client


def _take(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    payload = {"case_id": CASE, "dataset": "clinical-records", "justification": JUSTIFICATION, **body}
    return client.post("/api/v1/break-glass", json=payload, headers=headers)


def _events(env: Env, action: str | None = None) -> list[AuditEvent]:
    with env.workspace.db() as db:
        query = select(AuditEvent).order_by(AuditEvent.seq)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list(db.scalars(query))


def _audit_text(env: Env) -> str:
    return json.dumps(
        [[e.action, e.reason, e.actor, e.case_id, e.details] for e in _events(env)], ensure_ascii=False
    )


def _record(env: Env, record_id: str) -> BreakGlass:
    with env.workspace.db() as db:
        record = db.get(BreakGlass, record_id)
        assert record is not None
        return record


def test_break_glass_opens_the_case_at_once_and_alerts_webhook_and_syslog(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_id = _ingest(env)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with WebhookReceiver() as hook, SyslogReceiver("udp") as syslog:
        _configure_alerts(env, webhook_url=hook.url, webhook_secret_env=SECRET_ENV, syslog=syslog.target)
        with _client(env) as client:
            sam = login(client, env, "sam")
            assert client.get(f"/api/v1/images/{image_id}", headers=sam).status_code == 404

            response = _take(client, sam)
            assert response.status_code == 201, response.text
            taken = response.json()
            assert client.get(f"/api/v1/images/{image_id}", headers=sam).status_code == 200

            assert env.workspace.alerts.flush(FLUSH)
            [raw] = syslog.wait_for(1)
            queue = client.get("/api/v1/break-glass", headers=login(client, env, "ada")).json()["items"]

    [item] = queue
    assert (item["id"], item["user"], item["case_id"]) == (taken["id"], "sam", CASE)
    assert item["justification"] == JUSTIFICATION  # reviewers need it
    assert item["alert_status"] == "delivered"
    assert taken["expires_at"] == item["expires_at"]

    [request] = hook.requests
    signature = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-sealroom-signature"], signature)
    alert = request.json
    assert (alert["kind"], alert["severity"], alert["id"]) == ("break_glass", "alert", taken["id"])
    fields = alert["fields"]
    assert (fields["user"], fields["dataset"], fields["case_id"]) == ("sam", "clinical-records", CASE)
    assert fields["expires_at"] == taken["expires_at"] and fields["session_id"]
    assert "break-glass review" in fields["review"]

    message = parse_rfc5424(raw)
    assert (message.facility, message.severity, message.app_name, message.msgid) == (
        10,
        1,
        "sealroom",
        "break_glass",
    )
    params = message.structured_data["sealroom@32473"]
    assert (params["break_glass_id"], params["user"], params["case_id"]) == (taken["id"], "sam", CASE)

    # The justification reaches neither the alert nor the audit log; the use is flagged there.
    for sent in (request.body, raw):
        assert JUSTIFICATION.encode() not in sent and b"unresponsive" not in sent
    assert "unresponsive" not in _audit_text(env)
    [flagged] = _events(env, "access.break_glass")
    assert (flagged.category, flagged.outcome, flagged.actor, flagged.case_id) == (
        "access",
        "allow",
        "sam",
        CASE,
    )
    assert flagged.details["break_glass"] is True
    assert flagged.details["break_glass_id"] == taken["id"]
    assert flagged.details["justification_chars"] == len(JUSTIFICATION)
    assert SECRET not in _audit_text(env)
    sinks = {e.details["sink"]: e.outcome for e in _events(env, "alert.deliver")}
    assert sinks == {"webhook": "success", "syslog": "success"}


def test_syslog_over_tcp_gets_the_alert(env: Env) -> None:
    with SyslogReceiver("tcp") as syslog:
        _configure_alerts(env, syslog=syslog.target)
        with _client(env) as client:
            taken = _take(client, login(client, env, "sam")).json()
            assert env.workspace.alerts.flush(FLUSH)
            [raw] = syslog.wait_for(1)
    assert syslog.raw == [b"%d " % len(raw) + raw]
    message = parse_rfc5424(raw)
    assert message.structured_data["sealroom@32473"]["break_glass_id"] == taken["id"]
    assert b"unresponsive" not in raw
    assert _record(env, taken["id"]).alert_status == "delivered"


def test_receiver_down_fails_the_alert_but_not_the_access(env: Env) -> None:
    image_id = _ingest(env)
    hook = WebhookReceiver().start()
    hook.stop()
    _configure_alerts(env, webhook_url=hook.url, timeout_seconds=1.0)
    with _client(env) as client:
        sam = login(client, env, "sam")
        response = _take(client, sam)
        assert response.status_code == 201
        assert client.get(f"/api/v1/images/{image_id}", headers=sam).status_code == 200
        assert env.workspace.alerts.flush(FLUSH)
        [item] = client.get("/api/v1/break-glass", headers=login(client, env, "ben")).json()["items"]
    assert item["alert_status"] == "failed"
    [failure] = _events(env, "alert.deliver")
    assert (failure.category, failure.outcome, failure.reason) == ("admin", "failure", "connection_error")
    assert failure.details["sink"] == "webhook"
    assert failure.details["alert_id"] == response.json()["id"]


def test_without_a_sink_the_use_is_marked_not_configured(env: Env, api: TestClient) -> None:
    response = _take(api, login(api, env, "sam"))
    assert response.status_code == 201
    assert response.json()["alert_status"] == "not_configured"
    assert _record(env, response.json()["id"]).alert_status == "not_configured"
    [event] = _events(env, "alert.deliver")
    assert (event.outcome, event.reason) == ("failure", "no_sink_configured")


def test_access_ends_when_the_minutes_pass(env: Env, api: TestClient) -> None:
    image_id = _ingest(env)
    sam = login(api, env, "sam")
    response = _take(api, sam, minutes=5)
    assert response.status_code == 201
    assert api.get(f"/api/v1/images/{image_id}", headers=sam).status_code == 200
    env.clock.advance(minutes=5, seconds=1)
    assert api.get(f"/api/v1/images/{image_id}", headers=sam).status_code == 404
    with env.workspace.db() as db:
        [grant] = db.scalars(select(Grant).where(Grant.source == "break_glass")).all()
    assert grant.request_id == response.json()["id"]
    assert grant.purpose == f"break-glass {response.json()['id']}"  # not the justification
    # Once it ran out, a new emergency may be declared again.
    assert _take(api, sam).status_code == 201


def test_longer_than_the_data_set_allows_is_refused(env: Env, api: TestClient) -> None:
    response = _take(api, login(api, env, "sam"), minutes=61)
    assert response.status_code == 400
    assert "1-60 minutes" in response.json()["message"]


@pytest.mark.parametrize("minutes", [True, "30", 30.0])
def test_minutes_must_be_a_whole_number(env: Env, api: TestClient, minutes: object) -> None:
    response = _take(api, login(api, env, "sam"), minutes=minutes)
    assert response.status_code == 422, response.text
    assert _events(env, "access.break_glass") == []


def test_data_set_without_break_glass_is_refused(env: Env, api: TestClient) -> None:
    response = _take(api, login(api, env, "pat"), dataset="finance-records")
    assert response.status_code == 403
    assert response.json()["reason"] == "break_glass_not_enabled"
    denial = _events(env, "access.decision")[-1]
    assert (denial.outcome, denial.reason, denial.case_id) == ("deny", "break_glass_not_enabled", CASE)
    assert _events(env, "access.break_glass") == []


@pytest.mark.parametrize("user", ["kim", "nora", "ada"])  # auditor, intake, supervisor
def test_only_staff_who_analyse_the_data_set_may_break_the_glass(
    env: Env, api: TestClient, user: str
) -> None:
    response = _take(api, login(api, env, user))

    assert response.status_code == 403
    assert response.json()["reason"] == "no_role_permits_action"
    assert "do not allow analysing images of data set clinical-records" in response.json()["message"]
    denial = _events(env, "access.decision")[-1]
    assert (denial.actor, denial.outcome, denial.details["requested"]) == (user, "deny", "image:analyze")
    assert _events(env, "access.break_glass") == []


def test_a_role_for_another_data_set_is_not_enough(env: Env) -> None:
    path = env.root / "sealroom.toml"
    text = path.read_text(encoding="utf-8")
    old = "approvals_required = 2           # restricted data: two approvers"
    assert text.count(old) == 1
    path.write_text(text.replace(old, old + "\nbreak_glass = true"), encoding="utf-8")
    env.reopen()
    with _client(env) as client:
        # The clinician analyses clinical records only.
        response = _take(client, login(client, env, "sam"), dataset="identity-docs")
        assert response.status_code == 403 and response.json()["reason"] == "dataset_out_of_scope"
        # The privacy officer analyses identity documents: the same request is granted.
        assert _take(client, login(client, env, "pat"), dataset="identity-docs").status_code == 201


@pytest.mark.parametrize(
    "justification",
    [
        "help",
        "   urgent, need it now    ",
        "",
        "\u200b" * 30,
        "\x00\x07\x1b" * 9,
        "urgent\u202e" + "\u2060" * 30,
    ],
)
def test_a_short_justification_is_refused(env: Env, api: TestClient, justification: str) -> None:
    response = _take(api, login(api, env, "sam"), justification=justification)
    assert response.status_code in (400, 422)
    assert "emergency" in response.json()["message"]
    with env.workspace.db() as db:
        assert db.scalars(select(BreakGlass)).all() == []


def test_a_case_already_held_needs_no_break_glass(env: Env, api: TestClient) -> None:
    response = _take(api, login(api, env, "sam"), case_id=CLINICAL_CASE)
    assert response.status_code == 409


def test_a_case_with_material_in_another_data_set_is_refused(env: Env, api: TestClient) -> None:
    _ingest(env, case_id="ACCT-77", dataset="finance-records")
    response = _take(api, login(api, env, "pat"), case_id="ACCT-77")
    assert response.status_code == 403
    assert response.json()["reason"] == "case_outside_dataset"


def test_the_queue_lists_a_use_until_another_reviewer_closes_it(env: Env, api: TestClient) -> None:
    # A ward supervisor who also treats: she may take emergency access, and review others' uses.
    env.workspace.identity.add_user("cleo", PASSWORD, ["clinician", "supervisor"], actor="operator:test")
    env.secrets["cleo"] = env.workspace.identity.enroll_mfa("cleo", actor="operator:test").secret
    cleo, ben, sam = login(api, env, "cleo"), login(api, env, "ben"), login(api, env, "sam")
    taken = _take(api, cleo).json()

    assert api.get("/api/v1/break-glass", headers=sam).status_code == 403  # no breakglass:review
    [item] = api.get("/api/v1/break-glass", headers=ben).json()["items"]
    assert item["id"] == taken["id"] and item["review_outcome"] is None

    note = "Confirmed with the ED: patient admitted unconscious at 03:10"
    own = api.post(
        f"/api/v1/break-glass/{taken['id']}/review", json={"outcome": "justified", "note": note}, headers=cleo
    )
    assert own.status_code == 403 and own.json()["reason"] == "own_break_glass"
    assert _events(env, "access.break_glass.review")[-1].outcome == "deny"

    blank = api.post(
        f"/api/v1/break-glass/{taken['id']}/review",
        json={"outcome": "justified", "note": "\u200b\u2060\x00"},
        headers=ben,
    )
    assert blank.status_code == 400 and "say what you found" in blank.json()["message"]
    reviewed = api.post(
        f"/api/v1/break-glass/{taken['id']}/review", json={"outcome": "justified", "note": note}, headers=ben
    )
    assert reviewed.status_code == 200, reviewed.text
    assert (reviewed.json()["review_outcome"], reviewed.json()["reviewed_by"]) == ("justified", "ben")
    assert api.get("/api/v1/break-glass", headers=ben).json()["items"] == []
    [closed] = api.get("/api/v1/break-glass?status=closed", headers=ben).json()["items"]
    assert closed["review_note"] == note
    again = api.post(
        f"/api/v1/break-glass/{taken['id']}/review", json={"outcome": "unjustified", "note": "x"}, headers=ben
    )
    assert again.status_code == 409

    review = _events(env, "access.break_glass.review")[-1]
    assert (review.outcome, review.actor, review.details["outcome"]) == ("success", "ben", "justified")
    assert review.details["note_chars"] == len(note)
    assert "unconscious" not in _audit_text(env)


def test_review_input_is_checked(env: Env, api: TestClient) -> None:
    ben = login(api, env, "ben")
    url = "/api/v1/break-glass/" + "0" * 32 + "/review"
    assert api.post(url, json={"outcome": "fine", "note": "x"}, headers=ben).status_code == 422
    assert api.post(url, json={"outcome": "justified", "note": ""}, headers=ben).status_code == 422
    assert api.post(url, json={"outcome": "justified", "note": "ok"}, headers=ben).status_code == 404
    bad_id = "/api/v1/break-glass/nothex/review"
    assert api.post(bad_id, json={"outcome": "justified", "note": "ok"}, headers=ben).status_code == 422


def test_cli_take_queue_review(env: Env) -> None:
    runner = CliRunner()

    def run(user: str, *args: str) -> tuple[int, str]:
        code = pyotp.TOTP(env.secrets[user]).now()  # the CLI opens the workspace with the real clock
        result = runner.invoke(
            breakglass_app,
            [*args, "--user", user, "--workspace", str(Path(env.root))],
            env={"SEALROOM_PASSWORD": PASSWORD, "SEALROOM_TOTP": code},
        )
        return result.exit_code, result.output

    with SyslogReceiver("udp") as syslog:
        _configure_alerts(env, syslog=syslog.target)
        code, out = run(
            "sam", "take", "--case", CASE, "--dataset", "clinical-records", "--justification", JUSTIFICATION
        )
        assert code == 0, out
        assert "Emergency access granted" in out and "The alert went out" in out
        assert syslog.wait_for(1)

    code, out = run("ada", "queue")
    assert code == 0, out
    assert "sam" in out and CASE in out and "delivered" in out
    with env.workspace.db() as db:
        [record] = db.scalars(select(BreakGlass)).all()

    code, out = run("ben", "review", record.id, "--outcome", "justified", "--note", "confirmed with the ED")
    assert code == 0, out
    assert "justified" in out
