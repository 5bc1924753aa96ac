"""Access requests through the real API: submit, approve (never one's own), deny, expire, history."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from sealroom.api.app import create_app
from sealroom.api.requests import router
from sealroom.cli import requests_cmd
from sealroom.db.models import AccessRequest, AuditEvent, Grant, RoleElevation
from sealroom.demo.documents import render_id_card, render_lab_report
from sealroom.sessions import new_id
from sealroom.vault.service import IngestRequest
from sealroom.workspace import Workspace
from tests.conftest import CLINICAL_CASE, PASSWORD, Env, login

CASE = "ENC-REQ-0007"
REASON = "Covering the ward round for Dr Okafor on Tuesday"


@pytest.fixture
def api(env: Env) -> Iterator[TestClient]:
    """The real app, with the requests router added if app.py does not mount it yet."""
    app = create_app(env.workspace, sweep=False)
    if not any(getattr(route, "path", "").startswith("/api/v1/requests") for route in app.routes):
        app.include_router(router)
    with TestClient(app) as test_client:
        yield test_client


def _events(env: Env, after: int = 0) -> list[AuditEvent]:
    with env.workspace.db() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq)))


def _last_seq(env: Env) -> int:
    return _events(env)[-1].seq


def _ingest_lab(env: Env, case_id: str = CASE) -> str:
    """A lab report in clinical-records (confidential, clinical: within sam's role), filed by nora."""
    intake = env.session("nora")
    meta = env.workspace.vault.ingest(
        intake, render_lab_report(), IngestRequest("clinical-records", case_id, "clinical")
    )
    env.workspace.sessions.end(intake.id, "logout")
    return str(meta["id"])


def _submit(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    payload = {"kind": "case", "reason": REASON, "duration_minutes": 60, **body}
    if payload["kind"] == "case":
        payload.setdefault("dataset", "clinical-records")
        payload.setdefault("case_id", CASE)
    response = client.post("/api/v1/requests", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _approve(client: TestClient, headers: dict[str, str], request_id: str, note: str = "") -> Any:
    return client.post(f"/api/v1/requests/{request_id}/approve", json={"note": note}, headers=headers)


def test_requester_cannot_approve_own_request(env: Env, api: TestClient) -> None:
    sam = login(api, env, "sam")
    req = _submit(api, sam)
    assert req["status"] == "pending" and req["approvals_required"] == 1 and req["approvals"] == 0
    before = _last_seq(env)

    response = _approve(api, sam, req["id"])

    assert response.status_code == 403
    assert response.json()["reason"] == "own_request"
    denial = [e for e in _events(env, before) if e.action == "access.decision"]
    assert len(denial) == 1 and denial[0].outcome == "deny" and denial[0].reason == "own_request"
    assert denial[0].actor == "sam" and denial[0].details["request_id"] == req["id"]
    assert api.get(f"/api/v1/requests/{req['id']}", headers=sam).json()["status"] == "pending"


def test_identity_docs_need_two_distinct_approvers(env: Env, api: TestClient) -> None:
    sam = login(api, env, "sam")
    req = _submit(
        api, sam, kind="dataset", dataset="identity-docs", role="privacy-officer", duration_minutes=120
    )
    assert req["approvals_required"] == 2
    ada = login(api, env, "ada")
    ben = login(api, env, "ben")

    first = _approve(api, ada, req["id"], "known colleague")
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "pending" and first.json()["approvals"] == 1
    again = _approve(api, ada, req["id"])
    assert again.status_code == 409 and "already reviewed" in again.json()["message"]
    waiting = api.get("/api/v1/requests", params={"view": "review"}, headers=ben).json()["requests"]
    assert [item["id"] for item in waiting] == [req["id"]]
    assert api.get("/api/v1/requests", params={"view": "review"}, headers=ada).json()["requests"] == []

    env.clock.advance(seconds=1)  # reviews are listed in the order they were made
    second = _approve(api, ben, req["id"])

    assert second.status_code == 200, second.text
    done = second.json()
    assert done["status"] == "approved" and done["approvals"] == 2
    assert [(r["reviewer"], r["decision"]) for r in done["reviews"]] == [
        ("ada", "approve"),
        ("ben", "approve"),
    ]
    assert done["reviews"][0]["note"] == "known colleague"
    with env.workspace.db() as db:
        elevation = db.scalars(select(RoleElevation)).one()
    assert (elevation.role, elevation.dataset) == ("privacy-officer", "identity-docs")
    assert elevation.expires_at.isoformat() == done["access_expires_at"]
    granted = [e for e in _events(env) if e.action == "access.elevation.grant"]
    assert len(granted) == 1 and granted[0].actor == "ben"
    assert granted[0].details["request_id"] == req["id"] and granted[0].details["role"] == "privacy-officer"


def test_approved_case_request_opens_the_case_until_it_ends_by_itself(env: Env, api: TestClient) -> None:
    image_id = _ingest_lab(env)
    sam = login(api, env, "sam")
    assert api.get(f"/api/v1/images/{image_id}", headers=sam).status_code == 404
    start = _last_seq(env)
    req = _submit(api, sam)
    assert api.get(f"/api/v1/images/{image_id}", headers=sam).status_code == 404

    ada = login(api, env, "ada")
    approved = _approve(api, ada, req["id"], "ok for the ward round")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert api.get(f"/api/v1/images/{image_id}", headers=sam).status_code == 200
    assert api.get(f"/api/v1/images/{image_id}", headers=sam).status_code == 200

    with env.workspace.db() as db:
        grant = db.scalars(select(Grant).where(Grant.case_id == CASE)).one()
    assert grant.source == "request" and grant.request_id == req["id"] and grant.granted_by == "ada"
    assert grant.purpose == f"request {req['id']}"  # the reason stays with the request's readers

    env.clock.advance(minutes=61)
    sam = login(api, env, "sam")
    assert api.get(f"/api/v1/images/{image_id}", headers=sam).status_code == 404
    assert env.workspace.requests.expire_due() == 1
    assert env.workspace.requests.expire_due() == 0

    trail = [
        (e.action, e.actor, e.outcome)
        for e in _events(env, start)
        if e.action.startswith(("access.request", "admin.grant", "access.elevation"))
        or (e.action == "access.decision" and e.details.get("requested") == "request:approve")
    ]
    assert trail == [
        ("access.request.submit", "sam", "success"),
        ("access.decision", "ada", "allow"),
        ("access.request.approve", "ada", "success"),
        ("admin.grant.create", "ada", "success"),
        ("access.request.use", "sam", "success"),
        ("access.request.expire", "system", "success"),
    ]
    expire = next(e for e in _events(env, start) if e.action == "access.request.expire")
    assert expire.details == {
        "request_id": req["id"],
        "kind": "case",
        "phase": "access_ended",
        "requester": "sam",
    }
    submit = next(e for e in _events(env, start) if e.action == "access.request.submit")
    assert submit.case_id == CASE and submit.details["reason_chars"] == len(REASON)
    assert all(REASON not in str(e.details) and e.reason != REASON for e in _events(env))
    assert api.get(f"/api/v1/requests/{req['id']}", headers=sam).json()["status"] == "expired"


def test_approver_needs_request_approve_on_the_data_set(env: Env, api: TestClient) -> None:
    sam = login(api, env, "sam")
    req = _submit(api, sam)
    pat = login(api, env, "pat")
    before = _last_seq(env)

    # Pat may not even see the request: deciding it answers exactly as an unknown id does.
    response = _approve(api, pat, req["id"])
    unknown = _approve(api, pat, "0" * 32)

    assert response.status_code == unknown.status_code == 404
    assert response.json() == unknown.json()
    assert "clinical-records" not in response.text
    decision = next(e for e in _events(env, before) if e.action == "access.decision")
    assert (decision.actor, decision.outcome, decision.details["requested"]) == (
        "pat",
        "deny",
        "request:approve",
    )
    assert api.get(f"/api/v1/requests/{req['id']}", headers=pat).status_code == 404

    # The auditor sees every request, so she is told what she lacks.
    seen = _approve(api, login(api, env, "kim"), req["id"])
    assert seen.status_code == 403
    assert "request:approve" in seen.json()["message"] and "clinical-records" in seen.json()["message"]
    assert api.get(f"/api/v1/requests/{req['id']}", headers=sam).json()["status"] == "pending"


def test_a_case_request_needs_approvers_for_every_data_set_the_case_is_in(env: Env, api: TestClient) -> None:
    _ingest_lab(env)
    intake = env.session("nora")
    env.workspace.vault.ingest(
        intake, render_id_card(), IngestRequest("identity-docs", CASE, "identity", "restricted")
    )
    pat = login(api, env, "pat")

    # Named under clinical-records (one approval), the case also holds an identity document (two).
    req = _submit(api, pat, dataset="clinical-records")
    assert req["approvals_required"] == 2
    # A supervisor limited to clinical-records may not decide it.
    clinical_only = _submit(
        api, login(api, env, "sam"), kind="dataset", role="supervisor", dataset="clinical-records"
    )
    assert _approve(api, login(api, env, "ada"), clinical_only["id"]).json()["status"] == "approved"
    refused = _approve(api, login(api, env, "sam"), req["id"])
    assert refused.status_code == 404  # sam cannot see it either

    ada, ben = login(api, env, "ada"), login(api, env, "ben")
    assert _approve(api, ada, req["id"]).json()["status"] == "pending"
    env.clock.advance(seconds=1)
    assert _approve(api, ben, req["id"]).json()["status"] == "approved"
    scopes = {
        e.details["dataset"]
        for e in _events(env)
        if e.action == "access.decision"
        and e.actor == "ben"
        and e.details.get("requested") == "request:approve"
    }
    assert scopes == {"clinical-records", "identity-docs"}


def test_a_case_that_grows_into_a_stricter_data_set_needs_its_approvals(env: Env, api: TestClient) -> None:
    req = _submit(api, login(api, env, "sam"))
    assert req["approvals_required"] == 1
    intake = env.session("nora")  # an identity document joins the case while the request waits
    env.workspace.vault.ingest(
        intake, render_id_card(), IngestRequest("identity-docs", CASE, "identity", "restricted")
    )

    first = _approve(api, login(api, env, "ada"), req["id"])

    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["approvals_required"]) == ("pending", 2)
    approve = [e for e in _events(env) if e.action == "access.request.approve"][-1]
    assert (approve.details["approvals_required"], approve.details["approvals_required_before"]) == (2, 1)
    env.clock.advance(seconds=1)
    assert _approve(api, login(api, env, "ben"), req["id"]).json()["status"] == "approved"


def test_lowering_the_approval_rule_does_not_lower_a_pending_request(env: Env) -> None:
    with TestClient(create_app(env.workspace, sweep=False)) as client:
        req = _submit(
            client, login(client, env, "sam"), kind="dataset", dataset="identity-docs", role="privacy-officer"
        )
    assert req["approvals_required"] == 2
    config = env.root / "sealroom.toml"
    text = config.read_text(encoding="utf-8")
    old = "approvals_required = 2           # restricted data: two approvers"
    assert text.count(old) == 1
    config.write_text(text.replace(old, "approvals_required = 1"), encoding="utf-8")
    workspace = env.reopen()
    with TestClient(create_app(workspace, sweep=False)) as client:
        first = _approve(client, login(client, env, "ada"), req["id"])
        assert (first.json()["status"], first.json()["approvals_required"]) == ("pending", 2)


def test_denied_request_gives_no_access_and_ends_the_request(env: Env, api: TestClient) -> None:
    image_id = _ingest_lab(env)
    sam = login(api, env, "sam")
    req = _submit(api, sam)
    ada = login(api, env, "ada")
    ben = login(api, env, "ben")
    assert api.post(f"/api/v1/requests/{req['id']}/deny", json={"note": ""}, headers=ada).status_code == 422

    denied = api.post(
        f"/api/v1/requests/{req['id']}/deny", json={"note": "ask the attending first"}, headers=ada
    )

    assert denied.status_code == 200, denied.text
    assert denied.json()["status"] == "denied" and denied.json()["decided_at"]
    assert api.get(f"/api/v1/images/{image_id}", headers=sam).status_code == 404
    late = _approve(api, ben, req["id"])
    assert late.status_code == 409 and "denied" in late.json()["message"]
    shown = api.get(f"/api/v1/requests/{req['id']}", headers=sam).json()
    assert shown["reviews"] == [
        {
            "reviewer": "ada",
            "decision": "deny",
            "note": "ask the attending first",
            "decided_at": shown["decided_at"],
        }
    ]
    assert [e.outcome for e in _events(env) if e.action == "access.request.deny"] == ["success"]


def test_undecided_requests_expire(env: Env, api: TestClient) -> None:
    sam = login(api, env, "sam")
    swept = _submit(api, sam)
    lazy = _submit(api, sam, case_id="ENC-REQ-0008")
    before = _last_seq(env)
    env.clock.advance(hours=env.workspace.settings.access.request_pending_hours, seconds=1)

    ada = login(api, env, "ada")
    late = _approve(api, ada, lazy["id"])
    assert late.status_code == 410
    assert env.workspace.requests.expire_due() == 1

    expired = [e for e in _events(env, before) if e.action == "access.request.expire"]
    assert [(e.details["request_id"], e.details["phase"]) for e in expired] == [
        (lazy["id"], "undecided"),
        (swept["id"], "undecided"),
    ]
    sam = login(api, env, "sam")
    mine = api.get("/api/v1/requests", params={"status": "expired"}, headers=sam).json()["requests"]
    assert {item["id"] for item in mine} == {swept["id"], lazy["id"]}
    assert all(item["access_expires_at"] is None for item in mine)


def test_history_stays_readable_by_those_involved_only(env: Env, api: TestClient) -> None:
    sam = login(api, env, "sam")
    req = _submit(api, sam)
    ada = login(api, env, "ada")
    assert _approve(api, ada, req["id"], "fine").status_code == 200
    env.clock.advance(hours=2)
    env.workspace.requests.expire_due()

    for name in ("sam", "ada", "ben", "kim"):
        shown = api.get(f"/api/v1/requests/{req['id']}", headers=login(api, env, name))
        assert shown.status_code == 200, (name, shown.text)
        assert shown.json()["status"] == "expired"
        assert [(r["reviewer"], r["decision"], r["note"]) for r in shown.json()["reviews"]] == [
            ("ada", "approve", "fine")
        ]
    for name in ("pat", "nora"):
        headers = login(api, env, name)
        hidden = api.get(f"/api/v1/requests/{req['id']}", headers=headers)
        missing = api.get(f"/api/v1/requests/{'0' * 32}", headers=headers)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json() == missing.json()
    kim = login(api, env, "kim")
    everything = api.get("/api/v1/requests", params={"view": "all"}, headers=kim)
    assert [item["id"] for item in everything.json()["requests"]] == [req["id"]]
    refused = api.get("/api/v1/requests", params={"view": "all"}, headers=login(api, env, "sam"))
    assert refused.status_code == 403


def test_submissions_are_checked_and_refusals_audited(env: Env, api: TestClient) -> None:
    sam = login(api, env, "sam")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"kind": "role", "role": "wizard"}, "privacy-officer"),
        ({"kind": "case", "dataset": "clinical-records", "case_id": "ENC-*"}, "wildcard"),
        ({"kind": "case", "dataset": "nowhere", "case_id": CASE}, "clinical-records"),
        (
            {"kind": "case", "dataset": "clinical-records", "case_id": CASE, "duration_minutes": 73 * 60},
            "4320",
        ),
        ({"kind": "case", "dataset": "clinical-records", "case_id": CASE, "reason": "   "}, "reason"),
        ({"kind": "dataset", "dataset": "finance-records", "role": "clinician"}, "does not cover"),
        ({"kind": "role", "role": "auditor"}, "no data sets"),
        ({"kind": "role", "role": "clinician"}, "already hold"),
    ]
    before = _last_seq(env)
    for body, expected in cases:
        payload = {"reason": REASON, "duration_minutes": 60, **body}
        response = api.post("/api/v1/requests", json=payload, headers=sam)
        assert response.status_code == 400, (body, response.text)
        assert expected in response.json()["message"], (body, response.json())

    refusals = [e for e in _events(env, before) if e.action == "access.request.submit"]
    assert [e.outcome for e in refusals] == ["failure"] * len(cases)
    assert refusals[0].reason == "unknown_role" and refusals[1].reason == "bad_case_id"
    assert all(REASON not in str(e.details) for e in refusals)
    first = _submit(api, sam)
    duplicate = api.post(
        "/api/v1/requests",
        json={
            "kind": "case",
            "dataset": "clinical-records",
            "case_id": CASE,
            "reason": "again",
            "duration_minutes": 5,
        },
        headers=sam,
    )
    assert duplicate.status_code == 409 and first["id"] in duplicate.json()["message"]


def test_reasons_and_notes_must_say_something_visible(env: Env, api: TestClient) -> None:
    sam = login(api, env, "sam")
    for invisible in ("\u200b" * 30, "\x00\x07\x1b" * 5, "\u202e\u2066 \ufeff"):
        refused = api.post(
            "/api/v1/requests",
            json={"kind": "case", "dataset": "clinical-records", "case_id": CASE, "reason": invisible,
                  "duration_minutes": 60},
            headers=sam,
        )  # fmt: skip
        assert refused.status_code == 400 and "say why" in refused.json()["message"], refused.text
        assert [e for e in _events(env) if e.action == "access.request.submit"][-1].reason == "reason_missing"
    # Display-steering characters are dropped from what approvers will read.
    req = _submit(api, sam, reason="Ward\u202e round \u200bcover\n\tplease")
    assert req["reason"] == "Ward round cover please"

    ada = login(api, env, "ada")
    blank = api.post(f"/api/v1/requests/{req['id']}/deny", json={"note": "\u200b\u2060 "}, headers=ada)
    assert blank.status_code == 400 and "denial needs a note" in blank.json()["message"]
    assert api.get(f"/api/v1/requests/{req['id']}", headers=sam).json()["status"] == "pending"
    approved = _approve(api, ada, req["id"], "\u200b")  # an approval's note is optional
    assert approved.status_code == 200 and approved.json()["reviews"][0]["note"] == ""


def test_a_duration_must_be_a_whole_number(env: Env, api: TestClient) -> None:
    sam = login(api, env, "sam")
    base = {"kind": "case", "reason": REASON, "dataset": "clinical-records", "case_id": CASE}
    for duration in (True, "60", 60.0):
        response = api.post("/api/v1/requests", json={**base, "duration_minutes": duration}, headers=sam)
        assert response.status_code == 422, (duration, response.text)
    with env.workspace.db() as db:
        assert db.scalars(select(AccessRequest)).all() == []


def test_only_the_requester_cancels_and_only_while_pending(env: Env, api: TestClient) -> None:
    sam = login(api, env, "sam")
    req = _submit(api, sam)
    ada = login(api, env, "ada")
    assert api.post(f"/api/v1/requests/{req['id']}/cancel", headers=ada).status_code == 403
    assert api.post(f"/api/v1/requests/{req['id']}/cancel", headers=login(api, env, "pat")).status_code == 404

    cancelled = api.post(f"/api/v1/requests/{req['id']}/cancel", headers=sam)

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.post(f"/api/v1/requests/{req['id']}/cancel", headers=sam).status_code == 409
    assert _approve(api, ada, req["id"]).status_code == 409
    outcomes = [(e.actor, e.outcome) for e in _events(env) if e.action == "access.request.cancel"]
    assert outcomes == [("ada", "failure"), ("sam", "success"), ("sam", "failure")]


def test_a_disabled_requester_is_not_approved(env: Env, api: TestClient) -> None:
    sam = login(api, env, "sam")
    req = _submit(api, sam)
    env.workspace.identity.disable_user("sam", actor="operator:test")
    ada = login(api, env, "ada")

    response = _approve(api, ada, req["id"])

    assert response.status_code == 409 and "disabled" in response.json()["message"]
    with env.workspace.db() as db:
        assert db.scalars(select(Grant).where(Grant.case_id == CASE)).all() == []


def test_export_request_is_decided_on_its_image_and_lapses_if_never_delivered(
    env: Env, api: TestClient
) -> None:
    image_id = _ingest_lab(env)
    now = env.clock.now()
    request_id = new_id()
    with env.workspace.db() as db:  # as the export service files one
        db.add(
            AccessRequest(
                id=request_id, kind="export", requester_id=env.session("sam").user_id, requester="sam",
                dataset="clinical-records", case_id=CASE, image_id=image_id, export_format="pdf",
                export_variant="redacted", reason="for the referral letter", duration_minutes=15,
                approvals_required=1, status="pending", created_at=now, expires_at=now + timedelta(hours=72),
            )
        )  # fmt: skip
        db.commit()
    ada = login(api, env, "ada")
    before = _last_seq(env)

    approved = _approve(api, ada, request_id)

    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["image_id"] == image_id
    decision = next(e for e in _events(env, before) if e.action == "access.decision")
    assert decision.details["dataset"] == "clinical-records"
    assert decision.details["classification"] == "confidential"
    with env.workspace.db() as db:
        assert db.scalars(select(Grant).where(Grant.case_id == CASE)).all() == []
        assert db.scalars(select(RoleElevation)).all() == []
    env.clock.advance(minutes=16)
    assert env.workspace.requests.expire_due() == 1
    expired = [e for e in _events(env, before) if e.action == "access.request.expire"]
    assert [e.details["phase"] for e in expired] == ["delivery_window_passed"]


def test_export_of_a_vanished_image_cannot_be_approved(env: Env, api: TestClient) -> None:
    now = env.clock.now()
    request_id = new_id()
    with env.workspace.db() as db:
        db.add(
            AccessRequest(
                id=request_id, kind="export", requester_id=env.session("sam").user_id, requester="sam",
                dataset="clinical-records", case_id=CASE, image_id=new_id(), export_format="pdf",
                export_variant="redacted", reason="referral", duration_minutes=15, approvals_required=1,
                status="pending", created_at=now, expires_at=now + timedelta(hours=72),
            )
        )  # fmt: skip
        db.commit()

    assert _approve(api, login(api, env, "pat"), request_id).status_code == 404  # not theirs to see
    gone = _approve(api, login(api, env, "ada"), request_id)

    assert gone.status_code == 409 and "no longer exists" in gone.json()["message"]
    refused = [e for e in _events(env) if e.action == "access.request.approve"]
    assert [(e.actor, e.outcome, e.reason) for e in refused] == [("ada", "failure", "image_gone")]


# --- the command line -------------------------------------------------------------------------------

runner = CliRunner()


def _cli(env: Env, monkeypatch: pytest.MonkeyPatch, user: str, *args: str) -> tuple[int, str]:
    """Run ``sealroom request …`` as ``user`` against ``env``'s workspace (and its clock)."""

    def opened(_path: Path) -> Workspace:
        return env.workspace

    monkeypatch.setattr(requests_cmd, "open_workspace", opened)
    result = runner.invoke(
        requests_cmd.request_app,
        [*args, "--user", user],
        env={
            "SEALROOM_WORKSPACE": str(env.root),
            "SEALROOM_PASSWORD": PASSWORD,
            "SEALROOM_TOTP": env.fresh_code(user),
        },
    )
    return result.exit_code, result.output


def test_cli_submit_review_approve_and_show(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _cli(
        env,
        monkeypatch,
        "sam",
        "submit",
        "--kind",
        "case",
        "--dataset",
        "clinical-records",
        "--case",
        CASE,
        "--reason",
        REASON,
        "--hours",
        "2",
    )
    assert code == 0, out
    request_id = re.search(r"request ([0-9a-f]{32})", out).group(1)  # type: ignore[union-attr]
    assert f"sealroom request show {request_id} --user sam" in out

    code, out = _cli(env, monkeypatch, "ada", "list", "--review")
    assert code == 0 and request_id in out and f"case {CASE}" in out and REASON in out, out
    code, out = _cli(env, monkeypatch, "sam", "approve", request_id)
    assert code == 7 and "your own request" in out
    code, out = _cli(env, monkeypatch, "ada", "approve", request_id, "--note", "ok")
    assert code == 0 and "Approved" in out, out

    code, out = _cli(env, monkeypatch, "sam", "show", request_id)
    assert code == 0, out
    assert "approved" in out and "1 of 1" in out and "ada approve: ok" in out and REASON in out
    code, out = _cli(env, monkeypatch, "pat", "show", request_id)
    assert code == 8 and "No access request" in out


def test_cli_deny_needs_a_note_and_duration_needs_one_unit(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["submit", "--kind", "role", "--role", "privacy-officer", "--reason", "audit support"]
    code, out = _cli(env, monkeypatch, "sam", *args)
    assert code == 4 and "--hours or --minutes" in out
    code, out = _cli(env, monkeypatch, "sam", *args, "--minutes", "30")
    assert code == 0, out
    request_id = re.search(r"request ([0-9a-f]{32})", out).group(1)  # type: ignore[union-attr]
    code, out = _cli(env, monkeypatch, "ben", "deny", request_id, "--note", "  ")
    assert code == 4 and "note" in out
    code, out = _cli(env, monkeypatch, "ben", "deny", request_id, "--note", "not needed")
    assert code == 0 and "Denied" in out
    code, out = _cli(env, monkeypatch, "sam", "list", "--status", "denied")
    assert code == 0 and request_id in out and "1 request(s)" in out


def test_cli_review_list_shows_what_an_export_is(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    image_id = _ingest_lab(env, CLINICAL_CASE)  # sam holds a grant on this case
    request = env.workspace.exports.request_export(
        env.session("sam"), image_id, fmt="pdf", variant="redacted", reason="referral letter to cardiology"
    )

    code, out = _cli(env, monkeypatch, "ada", "list", "--review")

    assert code == 0, out
    assert f"export pdf redacted of {image_id[:12]} (case {CLINICAL_CASE})" in out
    assert "referral letter to cardiology" in out and request.id in out
