"""Attacks on access requests, grants, step-up, break-glass, export and retention, by a malicious
insider or a compromised account.

Each test is one attack. Where the attack succeeds (a defect), the test states what should happen
and is marked ``xfail(strict=True)`` with the defect, so the suite stays green until it is fixed and
then tells us to drop the mark. The other tests pin defences that hold and are not covered elsewhere.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sealroom.api.app import create_app
from sealroom.db.models import (
    AccessRequest,
    AuditEvent,
    BreakGlass,
    Grant,
    Image,
    LegalHold,
    RequestReview,
    RoleElevation,
)
from sealroom.demo.documents import demo_documents, render_id_card, render_lab_report
from sealroom.errors import SealroomError
from sealroom.retention import ORPHAN_GRACE
from sealroom.vault.keystore import FileDataKeyStore
from sealroom.vault.service import IngestRequest
from sealroom.workspace import Workspace
from tests.conftest import CLINICAL_CASE, Env, login

REASON = "Covering the ward round for Dr Okafor on Tuesday"
KYC_CASE = "KYC-ATTACK-0001"
EXPORTS = "/api/v1/exports"


# --- helpers -----------------------------------------------------------------------------------------


@pytest.fixture
def api(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(env.workspace, sweep=False)) as test_client:
        yield test_client


def _ingest(
    env: Env,
    data: bytes,
    dataset: str = "clinical-records",
    case_id: str = CLINICAL_CASE,
    document_type: str = "clinical",
    classification: str | None = None,
) -> str:
    intake = env.session("nora")
    meta = env.workspace.vault.ingest(
        intake, data, IngestRequest(dataset, case_id, document_type, classification)
    )
    env.workspace.sessions.end(intake.id, "logout")
    return str(meta["id"])


def _events(env: Env, action: str | None = None, after: int = 0) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    with env.workspace.db() as db:
        return list(db.scalars(query))


def _last_seq(env: Env) -> int:
    return _events(env)[-1].seq


def _count(env: Env, model: type[Any]) -> int:
    with env.workspace.db() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _submit(api: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    payload = {"kind": "case", "reason": REASON, "duration_minutes": 60, **body}
    response = api.post("/api/v1/requests", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _approve(api: TestClient, headers: dict[str, str], request_id: str) -> Any:
    return api.post(f"/api/v1/requests/{request_id}/approve", json={"note": "ok"}, headers=headers)


def _approve_as(env: Env, request_id: str, approver: str) -> None:
    active = env.session(approver)
    env.workspace.requests.approve(active, request_id, "ok")
    env.workspace.sessions.end(active.id, "logout")


def _edit_config(env: Env, old: str, new: str) -> Workspace:
    config = env.root / "sealroom.toml"
    text = config.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    config.write_text(text.replace(old, new), encoding="utf-8")
    return env.reopen()


def _set_clinical_retention(env: Env, days: int) -> Workspace:
    return _edit_config(env, "retention_days = 2555            # seven years\n", f"retention_days = {days}\n")


def _export(api: TestClient, headers: dict[str, str], image_id: str, variant: str = "redacted") -> Any:
    body = {"image_id": image_id, "format": "png", "variant": variant, "reason": "referral letter"}
    return api.post(EXPORTS, json=body, headers=headers)


def _integration(env: Env, name: str = "adt-feed") -> dict[str, str]:
    _row, token = env.workspace.integrations.create(name, created_by="operator:test")
    return {"Authorization": f"Bearer {token}"}


# --- approvals ----------------------------------------------------------------------------------------


def test_a_case_request_naming_a_laxer_data_set_skips_the_two_approver_rule(
    env: Env, api: TestClient
) -> None:
    # An identity document of a KYC case: identity-docs needs two approvers.
    image_id = _ingest(env, render_id_card(), "identity-docs", KYC_CASE, "identity", "restricted")
    pat = login(api, env, "pat")  # privacy officer: role covers identity-docs, no grant for the case
    assert api.get(f"/api/v1/images/{image_id}", headers=pat).status_code == 404

    # The attacker files the KYC case under clinical-records, which needs one approval.
    req = _submit(api, pat, dataset="clinical-records", case_id=KYC_CASE)
    approved = _approve(api, login(api, env, "ada"), req["id"])
    assert approved.status_code == 200, approved.text

    # Expected: the request needs identity-docs' two approvals (or is refused as naming the wrong
    # data set); one approval must not open an identity document.
    assert approved.json()["status"] == "pending"
    assert api.get(f"/api/v1/images/{image_id}", headers=pat).status_code == 404


def test_a_pending_request_is_decided_under_the_current_approval_rule(env: Env) -> None:
    with TestClient(create_app(env.workspace, sweep=False)) as api:
        req = _submit(api, login(api, env, "pat"), dataset="clinical-records", case_id="ENC-2026-0107")
        assert req["approvals_required"] == 1
    # The data set is tightened (two approvers) while the request waits.
    workspace = _edit_config(
        env,
        "approvals_required = 1\nbreak_glass = true",
        "approvals_required = 2\nbreak_glass = true",
    )
    with TestClient(create_app(workspace, sweep=False)) as api:
        approved = _approve(api, login(api, env, "ada"), req["id"])
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "pending", "one approval is no longer enough"


def test_approving_a_request_you_may_not_see_says_no_more_than_reading_it(env: Env, api: TestClient) -> None:
    sam = login(api, env, "sam")
    req = _submit(api, sam, kind="dataset", dataset="identity-docs", role="privacy-officer")
    nora = login(api, env, "nora")  # intake: neither approver nor auditor
    assert api.get(f"/api/v1/requests/{req['id']}", headers=nora).status_code == 404
    unknown = _approve(api, nora, "0" * 32)
    assert unknown.status_code == 404

    real = _approve(api, nora, req["id"])

    assert "identity-docs" not in real.text
    assert (real.status_code, real.json()) == (unknown.status_code, unknown.json())


def test_an_approver_made_by_elevation_still_cannot_approve_their_own_request(
    env: Env, api: TestClient
) -> None:
    sam = login(api, env, "sam")
    mine = _submit(api, sam, dataset="clinical-records", case_id="ENC-2026-0107")
    # Sam asks for the supervisor role (request:approve, breakglass:review) and gets it from two people.
    elevation = _submit(api, sam, kind="role", role="supervisor", duration_minutes=120)
    assert elevation["approvals_required"] == 2  # the role covers identity-docs
    assert _approve(api, login(api, env, "ada"), elevation["id"]).json()["status"] == "pending"
    assert _approve(api, login(api, env, "ben"), elevation["id"]).json()["status"] == "approved"

    # Now an approver, sam sees others' requests to review, but never decides his own.
    sam = login(api, env, "sam")
    review = api.get("/api/v1/requests", params={"view": "review"}, headers=sam).json()["requests"]
    assert mine["id"] not in {item["id"] for item in review}
    refused = _approve(api, sam, mine["id"])
    assert refused.status_code == 403 and refused.json()["reason"] == "own_request"
    denied = api.post(f"/api/v1/requests/{mine['id']}/deny", json={"note": "x"}, headers=sam)
    assert denied.status_code == 403 and denied.json()["reason"] == "own_request"
    assert api.get(f"/api/v1/requests/{mine['id']}", headers=sam).json()["status"] == "pending"
    with env.workspace.db() as db:
        assert db.scalars(select(RequestReview).where(RequestReview.request_id == mine["id"])).all() == []
        assert db.scalars(select(Grant).where(Grant.case_id == "ENC-2026-0107")).all() == []


def test_a_data_set_limited_supervisor_elevation_gives_no_workspace_actions(
    env: Env, api: TestClient
) -> None:
    sam = login(api, env, "sam")
    req = _submit(api, sam, kind="dataset", dataset="clinical-records", role="supervisor")
    assert _approve(api, login(api, env, "ada"), req["id"]).json()["status"] == "approved"
    sam = login(api, env, "sam")
    # Elevated on clinical-records only: no break-glass review queue (a workspace-wide action).
    queue = api.get("/api/v1/break-glass", headers=sam)
    assert queue.status_code == 403 and queue.json()["reason"] == "dataset_out_of_scope"
    # ... and no approving for other data sets.
    nora = login(api, env, "nora")
    kyc = _submit(api, nora, kind="dataset", dataset="identity-docs", role="privacy-officer")
    refused = _approve(api, sam, kyc["id"])
    assert refused.status_code == 404  # not his to decide, nor to see: the answer of an unknown id
    assert api.get(f"/api/v1/requests/{kyc['id']}", headers=nora).json()["approvals"] == 0


def test_no_decision_on_a_request_that_has_ended(env: Env, api: TestClient) -> None:
    sam = login(api, env, "sam")
    ada, ben = login(api, env, "ada"), login(api, env, "ben")
    cancelled = _submit(api, sam, dataset="clinical-records", case_id="ENC-2026-0107")
    assert api.post(f"/api/v1/requests/{cancelled['id']}/cancel", headers=sam).status_code == 200
    approved = _submit(api, sam, dataset="clinical-records", case_id="ENC-2026-0108")
    assert _approve(api, ada, approved["id"]).json()["status"] == "approved"
    before = _last_seq(env)

    after_cancel = _approve(api, ada, cancelled["id"])
    deny_after_approval = api.post(
        f"/api/v1/requests/{approved['id']}/deny", json={"note": "no"}, headers=ben
    )
    cancel_after_approval = api.post(f"/api/v1/requests/{approved['id']}/cancel", headers=sam)

    assert after_cancel.status_code == 409 and "cancelled" in after_cancel.json()["message"]
    assert deny_after_approval.status_code == 409
    assert cancel_after_approval.status_code == 409
    with env.workspace.db() as db:
        assert db.get(AccessRequest, approved["id"]).status == "approved"  # type: ignore[union-attr]
        grants = db.scalars(select(Grant).where(Grant.case_id.in_(["ENC-2026-0107", "ENC-2026-0108"]))).all()
        assert [(g.case_id, g.revoked_at) for g in grants] == [("ENC-2026-0108", None)]
    refusals = [e for e in _events(env, after=before) if e.action.startswith("access.request.")]
    assert [(e.action, e.outcome, e.reason) for e in refusals] == [
        ("access.request.approve", "failure", "not_pending"),
        ("access.request.deny", "failure", "not_pending"),
        ("access.request.cancel", "failure", "not_pending"),
    ]


def _race(calls: list[Callable[[], object]]) -> list[object]:
    """Run the calls at once in threads; returns each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except Exception as exc:  # the loser's error is part of the outcome
            results[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_racing_approvals_give_one_grant_and_one_review_per_approver(env: Env) -> None:
    requests = env.workspace.requests
    sam = env.session("sam")
    one = requests.submit(sam, "case", reason=REASON, duration_minutes=60, dataset="clinical-records",
                          case_id="ENC-2026-0107")  # fmt: skip
    two = requests.submit(sam, "dataset", reason=REASON, duration_minutes=60, dataset="identity-docs",
                          role="privacy-officer")  # fmt: skip
    ada, ben = env.session("ada"), env.session("ben")

    # Two approvers race on a one-approval request; one approver races herself on a two-approval one.
    outcomes = _race([lambda: requests.approve(ada, one.id), lambda: requests.approve(ben, one.id)])
    doubled = _race([lambda: requests.approve(ada, two.id), lambda: requests.approve(ada, two.id)])

    for outcome in (*outcomes, *doubled):
        assert isinstance(outcome, (AccessRequest, SealroomError)), repr(outcome)
    with env.workspace.db() as db:
        assert db.get(AccessRequest, one.id).status == "approved"  # type: ignore[union-attr]
        assert len(db.scalars(select(Grant).where(Grant.request_id == one.id)).all()) == 1
        assert len(db.scalars(select(RequestReview).where(RequestReview.request_id == one.id)).all()) == 1
        reviews = db.scalars(select(RequestReview).where(RequestReview.request_id == two.id)).all()
        assert [r.reviewer for r in reviews] == ["ada"]
        assert db.get(AccessRequest, two.id).status == "pending"  # type: ignore[union-attr]
        assert db.scalars(select(RoleElevation)).all() == []


# --- what the request's free text reaches -------------------------------------------------------------


def test_a_request_reason_does_not_reach_people_who_may_not_see_the_request(
    env: Env, api: TestClient
) -> None:
    secret = "Patient Marguerite Okonkwo-Delacroix disclosed HIV status; family asks for a review"
    req = _submit(
        api, login(api, env, "sam"), dataset="clinical-records", case_id="ENC-2026-0107", reason=secret
    )
    assert _approve(api, login(api, env, "ada"), req["id"]).json()["status"] == "approved"
    alex = login(api, env, "alex")
    assert api.get(f"/api/v1/requests/{req['id']}", headers=alex).status_code == 404  # not theirs to read

    for caller in (alex, _integration(env)):
        listed = api.get("/api/v1/grants", params={"username": "sam"}, headers=caller)
        assert listed.status_code == 200
        assert "Okonkwo" not in listed.text


def test_no_reason_note_justification_or_purpose_text_reaches_the_audit_log_or_logs(
    env: Env, api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    marks = {
        "reason": "Zq7-REASON-Whitfield-bereavement",
        "deny": "Zq7-DENYNOTE-Whitfield-history",
        "approve": "Zq7-APPROVENOTE-Whitfield",
        "justification": "Zq7-JUSTIFICATION unconscious patient Whitfield in resus",
        "review": "Zq7-REVIEWNOTE-confirmed with ED",
        "hold": "Zq7-HOLDREASON matter Whitfield v Trust",
        "export": "Zq7-EXPORTREASON referral Whitfield",
        "purpose": "Zq7-PURPOSE admitted Whitfield ward 4",
    }
    image_id = _ingest(env, render_lab_report())
    sam, ada, ben = login(api, env, "sam"), login(api, env, "ada"), login(api, env, "ben")
    one = _submit(api, sam, dataset="clinical-records", case_id="ENC-2026-0107", reason=marks["reason"])
    two = _submit(api, sam, dataset="clinical-records", case_id="ENC-2026-0108", reason=marks["reason"])
    api.post(f"/api/v1/requests/{one['id']}/approve", json={"note": marks["approve"]}, headers=ada)
    api.post(f"/api/v1/requests/{two['id']}/deny", json={"note": marks["deny"]}, headers=ada)
    taken = api.post(
        "/api/v1/break-glass",
        json={
            "case_id": "ENC-2026-0199",
            "dataset": "clinical-records",
            "justification": marks["justification"],
        },
        headers=sam,
    )
    assert taken.status_code == 201, taken.text
    body = {"outcome": "justified", "note": marks["review"]}
    assert (
        api.post(f"/api/v1/break-glass/{taken.json()['id']}/review", json=body, headers=ben).status_code
        == 200
    )
    exported = api.post(
        EXPORTS, json={"image_id": image_id, "format": "png", "reason": marks["export"]}, headers=sam
    )
    assert exported.status_code == 201
    alex = login(api, env, "alex")
    hold = api.post(
        "/api/v1/legal-holds", json={"case_id": CLINICAL_CASE, "reason": marks["hold"]}, headers=alex
    )
    assert hold.status_code == 201
    granted = api.post(
        "/api/v1/grants",
        json={
            "username": "pat",
            "case_ids": ["ENC-2026-0300"],
            "purpose": marks["purpose"],
            "duration_minutes": 60,
        },
        headers=alex,
    )
    assert granted.status_code == 201
    env.workspace.alerts.flush(5)

    audit_text = "\n".join(f"{e.actor} {e.action} {e.reason} {e.details}" for e in _events(env))
    for kind, mark in marks.items():
        assert "Zq7" not in audit_text, kind
        assert mark not in caplog.text, kind
    # The lengths are what the log keeps.
    submit = [e for e in _events(env, "access.request.submit") if e.details.get("request_id") == one["id"]]
    assert submit[0].details["reason_chars"] == len(marks["reason"])
    (use,) = _events(env, "access.break_glass")
    assert use.details["justification_chars"] == len(marks["justification"])


# --- break-glass ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["\u200b" * 25, "\x00\x07\x1b" * 9, "\u200b\u200c\u200d\u2060\ufeff" * 5],
    ids=["zero-width", "control", "mixed-invisible"],
)
def test_an_invisible_justification_is_refused(env: Env, api: TestClient, text: str) -> None:
    sam = login(api, env, "sam")
    taken = api.post(
        "/api/v1/break-glass",
        json={"case_id": "ENC-2026-0199", "dataset": "clinical-records", "justification": text},
        headers=sam,
    )
    submitted = api.post(
        "/api/v1/requests",
        json={"kind": "case", "dataset": "clinical-records", "case_id": "ENC-2026-0107", "reason": text,
              "duration_minutes": 60},
        headers=sam,
    )  # fmt: skip
    assert (taken.status_code, submitted.status_code) == (400, 400)
    assert _count(env, BreakGlass) == 0 and _count(env, AccessRequest) == 0


def test_break_glass_cannot_reach_a_case_of_another_data_set_through_a_lookalike_case_id(
    env: Env, api: TestClient
) -> None:
    kyc = _ingest(env, render_id_card(), "identity-docs", KYC_CASE, "identity", "restricted")
    pat = login(api, env, "pat")  # covers both data sets
    for variant in (f" {KYC_CASE} ", f"{KYC_CASE}\n", KYC_CASE.lower()):
        taken = api.post(
            "/api/v1/break-glass",
            json={"case_id": variant, "dataset": "clinical-records", "justification": "x" * 30},
            headers=pat,
        )
        if taken.status_code == 201:
            # Whatever the variant grants, it is not the KYC case's identity document.
            assert taken.json()["case_id"] != KYC_CASE, variant
        else:
            assert taken.status_code in (400, 403), taken.text
    assert api.get(f"/api/v1/images/{kyc}", headers=pat).status_code == 404


def test_break_glass_refusals_on_roles_and_data_sets_are_audited(env: Env, api: TestClient) -> None:
    nora_body = {"case_id": "ENC-2026-0199", "dataset": "finance-records", "justification": "y" * 30}
    sam = login(api, env, "sam")
    kim = login(api, env, "kim")
    before = _last_seq(env)
    for headers, body, reason in (
        (sam, {**nora_body, "dataset": "no-such-set"}, "break_glass_not_enabled"),
        (sam, nora_body, "break_glass_not_enabled"),
        (kim, {**nora_body, "dataset": "clinical-records"}, "no_role_permits_action"),
    ):
        refused = api.post("/api/v1/break-glass", json=body, headers=headers)
        assert refused.status_code == 403 and refused.json()["reason"] == reason
    denials = [e for e in _events(env, "access.decision", before) if e.outcome == "deny"]
    assert [e.reason for e in denials] == [
        "break_glass_not_enabled",
        "break_glass_not_enabled",
        "no_role_permits_action",
    ]
    assert _count(env, BreakGlass) == 0
    with env.workspace.db() as db:
        assert db.scalars(select(Grant).where(Grant.source == "break_glass")).all() == []


# --- step-up --------------------------------------------------------------------------------------------


def test_step_up_refuses_the_sign_in_code_again_and_another_users_code(env: Env, api: TestClient) -> None:
    code = env.fresh_code("pat")
    signed_in = api.post("/api/v1/login", json={"username": "pat", "password": "correct-Horse-battery-9",
                                               "totp": code})  # fmt: skip
    assert signed_in.status_code == 200
    api.cookies.clear()
    pat = {"Authorization": f"Bearer {signed_in.json()['token']}"}
    env.clock.advance(minutes=11)
    stale = api.get("/api/v1/session", headers=pat).json()["mfa_verified_at"]

    replayed = api.post("/api/v1/session/step-up", json={"totp": code}, headers=pat)
    borrowed = api.post("/api/v1/session/step-up", json={"totp": env.code("sam")}, headers=pat)

    assert replayed.status_code == 401 and borrowed.status_code == 401
    assert api.get("/api/v1/session", headers=pat).json()["mfa_verified_at"] == stale
    failures = [e for e in _events(env, "auth.mfa.verify") if e.outcome == "failure"]
    assert len(failures) == 2 and {e.actor for e in failures} == {"pat"}


def test_an_original_export_is_delivered_only_after_a_fresh_second_factor(env: Env) -> None:
    workspace = _edit_config(env, "export_original = false", "export_original = true")
    data = render_lab_report()
    image_id = _ingest(env, data, classification="restricted")
    with TestClient(create_app(workspace, sweep=False)) as api:
        pat = login(api, env, "pat")
        req = _export(api, pat, image_id, "original")
        assert req.status_code == 201, req.text
        _approve_as(env, req.json()["id"], "ada")
        _approve_as(env, req.json()["id"], "ben")
        env.clock.advance(minutes=11)  # the window is 15 minutes; restricted needs a check within 10
        before = _last_seq(env)

        held = api.post(f"{EXPORTS}/{req.json()['id']}/download", headers=pat)

        assert held.status_code == 401 and held.json()["error"] == "step_up_required"
        assert data not in held.content
        assert [e.action for e in _events(env, after=before) if e.action == "image.open"] == []
        refusal = _events(env, "delivery.export", before)
        assert [(e.outcome, e.reason) for e in refusal] == [("failure", "step_up_required")]
        step = api.post("/api/v1/session/step-up", json={"totp": env.fresh_code("pat")}, headers=pat)
        assert step.status_code == 200
        delivered = api.post(f"{EXPORTS}/{req.json()['id']}/download", headers=pat)
        assert delivered.status_code == 200 and delivered.content == data


@pytest.mark.slow
def test_an_original_export_does_not_bypass_step_up_by_content(env: Env) -> None:
    """An identity card filed as a confidential clinical note is exported as the original. Defence: a
    clinician (masked view) may not ask for originals at all; a privacy officer's original is pre-scanned
    like an analysis, raised to restricted, and waits for a fresh second factor."""
    workspace = _edit_config(env, "export_original = false", "export_original = true")
    card = render_id_card()
    image_id = _ingest(env, card, classification="confidential")  # filed as a clinical note
    with TestClient(create_app(workspace, sweep=False)) as api:
        sam = login(api, env, "sam")
        refused = _export(api, sam, image_id, "original")
        assert refused.status_code == 403 and refused.json()["reason"] == "original_needs_unmasked_view"

        pat = login(api, env, "pat")
        req = _export(api, pat, image_id, "original")
        assert req.status_code == 201, req.text
        _approve_as(env, req.json()["id"], "ada")
        _approve_as(env, req.json()["id"], "ben")
        env.clock.advance(minutes=11)  # pat's second factor is older than restricted images allow

        held = api.post(f"{EXPORTS}/{req.json()['id']}/download", headers=pat)

        assert held.status_code == 401 and held.json()["error"] == "step_up_required", held.text[:300]
        assert card not in held.content
        assert api.get(f"/api/v1/images/{image_id}", headers=pat).json()["classification"] == "restricted"


# --- export ---------------------------------------------------------------------------------------------


def test_an_approved_export_is_not_delivered_after_the_grant_is_revoked(env: Env, api: TestClient) -> None:
    image_id = _ingest(env, render_lab_report())
    sam = login(api, env, "sam")
    req = _export(api, sam, image_id)
    assert req.status_code == 201
    own = _approve(api, sam, req.json()["id"])
    assert own.status_code == 403 and own.json()["reason"] == "own_request"
    _approve_as(env, req.json()["id"], "ada")
    with env.workspace.db() as db:
        grant = db.scalars(select(Grant).where(Grant.case_id == CLINICAL_CASE)).all()
    (sams,) = [g for g in grant if g.user_id == env.session("sam").user_id]
    env.workspace.grants.revoke_grant(sams.id, revoked_by="operator:test")
    before = _last_seq(env)

    refused = api.post(f"{EXPORTS}/{req.json()['id']}/download", headers=sam)

    assert refused.status_code == 404
    refusal = _events(env, "delivery.export", before)
    assert [(e.outcome, e.reason) for e in refusal] == [("failure", "grant_revoked")]
    assert [e for e in _events(env, after=before) if e.action == "image.open"] == []
    with env.workspace.db() as db:
        assert db.get(AccessRequest, req.json()["id"]).status == "approved"  # type: ignore[union-attr]


def test_an_export_cannot_be_asked_for_an_image_outside_scope_nor_cancelled_by_others(
    env: Env, api: TestClient
) -> None:
    kyc = _ingest(env, render_id_card(), "identity-docs", KYC_CASE, "identity", "restricted")
    lab = _ingest(env, render_lab_report())
    sam, pat = login(api, env, "sam"), login(api, env, "pat")
    outside = _export(api, sam, kyc)
    missing = _export(api, sam, "f" * 32)
    assert (outside.status_code, missing.status_code) == (404, 404)
    assert outside.json() == missing.json()
    req = _export(api, sam, lab).json()
    assert api.post(f"/api/v1/requests/{req['id']}/cancel", headers=pat).status_code == 404
    assert api.post(f"{EXPORTS}/{req['id']}/download", headers=pat).status_code == 404
    with env.workspace.db() as db:
        assert [r.image_id for r in db.scalars(select(AccessRequest))] == [lab]


def _scan_for(data: bytes, needles: list[bytes]) -> list[bytes]:
    return [needle for needle in needles if needle in data]


def test_no_route_but_the_export_download_returns_image_bytes(env: Env, api: TestClient) -> None:
    lab = render_lab_report()
    image_id = _ingest(env, lab)
    # Distinctive slices of the file: header, middle and tail.
    needles = [lab[:64], lab[len(lab) // 2 : len(lab) // 2 + 64], lab[-64:]]
    sam, ada, alex, kim = (login(api, env, name) for name in ("sam", "ada", "alex", "kim"))
    req = _export(api, sam, image_id)
    responses = [
        req,
        api.get("/api/v1/images", headers=sam),
        api.get(f"/api/v1/images/{image_id}", headers=sam),
        api.get(f"/api/v1/requests/{req.json()['id']}", headers=sam),
        api.get("/api/v1/requests", params={"view": "review"}, headers=ada),
        _approve(api, ada, req.json()["id"]),
        api.get("/api/v1/grants", headers=alex),
        api.get("/api/v1/legal-holds", headers=alex),
        api.get("/api/v1/audit/events", params={"limit": 1000}, headers=kim),
        api.get("/api/v1/requests", params={"view": "all"}, headers=kim),
        api.get("/api/v1/break-glass", params={"status": "all"}, headers=ada),
        api.get("/api/v1/engines", headers=sam),
        api.get("/api/v1/session", headers=sam),
    ]
    for response in responses:
        assert response.status_code < 400, (response.request.url, response.text)
        assert _scan_for(response.content, needles) == [], response.request.url
        assert response.headers["cache-control"] == "no-store"
        assert not response.headers["content-type"].startswith(("image/", "application/pdf"))


# --- grants API -----------------------------------------------------------------------------------------


def test_an_administrator_cannot_self_grant_through_name_variants_or_an_integration_cookie(
    env: Env, api: TestClient
) -> None:
    alex = login(api, env, "alex")
    body = {"case_ids": ["ENC-2026-0300"], "purpose": "audit support", "duration_minutes": 60}
    for name in (" ALEX ", "Alex", "alex\t"):
        refused = api.post("/api/v1/grants", json={**body, "username": name}, headers=alex)
        assert refused.status_code == 403, (name, refused.text)
    # An integration token is admitted only as a bearer: as a cookie, or behind another scheme, it is nothing.
    token = _integration(env)["Authorization"].split(" ", 1)[1]
    as_cookie = api.post(
        "/api/v1/grants", json={**body, "username": "sam"}, cookies={"sealroom_session": token}
    )
    api.cookies.clear()
    as_basic = api.post(
        "/api/v1/grants", json={**body, "username": "sam"}, headers={"Authorization": f"Basic {token}"}
    )
    forged = api.post(
        "/api/v1/grants", json={**body, "username": "sam"}, headers={"Authorization": "Bearer srint_forged"}
    )
    assert (as_cookie.status_code, as_basic.status_code, forged.status_code) == (401, 401, 401)
    assert _count(env, Grant) == 2  # the template's two


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/requests"),
        ("GET", "/api/v1/requests"),
        ("POST", "/api/v1/break-glass"),
        ("GET", "/api/v1/break-glass"),
        ("POST", EXPORTS),
        ("POST", f"{EXPORTS}/{'a' * 32}/download"),
        ("POST", "/api/v1/legal-holds"),
        ("POST", "/api/v1/retention/run"),
        ("POST", "/api/v1/session/step-up"),
    ],
)
def test_an_integration_token_is_not_a_session_on_the_new_routes(
    env: Env, api: TestClient, method: str, path: str
) -> None:
    feed = _integration(env)
    response = api.request(method, path, json={}, headers=feed)
    assert response.status_code == 401, response.text


def test_a_disabled_user_gets_no_grant_approval_or_break_glass(env: Env, api: TestClient) -> None:
    sam = login(api, env, "sam")
    req = _submit(api, sam, dataset="clinical-records", case_id="ENC-2026-0107")
    env.workspace.identity.disable_user("sam", actor="operator:test")
    assert api.get("/api/v1/session", headers=sam).status_code == 401  # the open session is gone
    taken = api.post(
        "/api/v1/break-glass",
        json={"case_id": "ENC-2026-0199", "dataset": "clinical-records", "justification": "z" * 30},
        headers=sam,
    )
    assert taken.status_code == 401
    refused = _approve(api, login(api, env, "ada"), req["id"])
    assert refused.status_code == 409 and "disabled" in refused.json()["message"]
    assert _events(env, "access.request.approve")[-1].reason == "requester_disabled"
    granted = api.post(
        "/api/v1/grants",
        json={"username": "sam", "case_ids": ["ENC-2026-0300"], "purpose": "x", "duration_minutes": 5},
        headers=_integration(env),
    )
    assert granted.status_code == 400
    assert _count(env, BreakGlass) == 0 and _count(env, Grant) == 2


# --- malformed input on every new endpoint ---------------------------------------------------------------


BAD_BODIES: dict[str, Any] = {
    "not-json": b"{not json",
    "array": b"[]",
    "null": b"null",
    "extra-field": None,  # filled per route: a valid-looking body plus an unknown key
    "huge-string": None,  # filled per route: a field of 70 KB
}
ROUTES: dict[str, tuple[str, dict[str, Any]]] = {
    "request-submit": ("/api/v1/requests", {"kind": "case", "reason": "r", "duration_minutes": 5,
                                            "dataset": "clinical-records", "case_id": "ENC-1"}),
    "request-deny": (f"/api/v1/requests/{'a' * 32}/deny", {"note": "n"}),
    "break-glass": ("/api/v1/break-glass", {"case_id": "ENC-1", "dataset": "clinical-records",
                                            "justification": "j" * 30}),
    "break-glass-review": (f"/api/v1/break-glass/{'a' * 32}/review", {"outcome": "justified", "note": "n"}),
    "export": (EXPORTS, {"image_id": "a" * 32, "reason": "r"}),
    "hold": ("/api/v1/legal-holds", {"case_id": "ENC-1", "reason": "r"}),
    "retention-run": ("/api/v1/retention/run", {"dry_run": True}),
    "grants": ("/api/v1/grants", {"username": "sam", "case_ids": ["ENC-1"], "purpose": "p",
                                  "duration_minutes": 5}),
}  # fmt: skip
BAD_IDS = ["not-an-id", "A" * 32, "a" * 31, "..%2F..%2Fetc", "a" * 32 + "%0A"]


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("kind", sorted(BAD_BODIES))
def test_malformed_bodies_are_a_clean_4xx_and_store_nothing(
    env: Env, api: TestClient, route: str, kind: str
) -> None:
    path, valid = ROUTES[route]
    headers = login(api, env, "alex" if route in ("hold", "retention-run", "grants") else "sam")
    if kind == "extra-field":
        content = json.dumps({**valid, "is_admin": True}).encode()
    elif kind == "huge-string":
        field = next((key for key, value in valid.items() if isinstance(value, str)), "dry_run")
        content = json.dumps({**valid, field: "x" * 70_000}).encode()
    else:
        content = BAD_BODIES[kind]
    counts = [_count(env, model) for model in (AccessRequest, BreakGlass, LegalHold, Grant, RequestReview)]
    before = _last_seq(env)

    response = api.post(path, content=content, headers={**headers, "Content-Type": "application/json"})

    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert set(body) >= {"error", "message"}
    assert "x" * 100 not in response.text and "is_admin" not in body["message"]
    assert [
        _count(env, model) for model in (AccessRequest, BreakGlass, LegalHold, Grant, RequestReview)
    ] == counts
    assert not [
        e for e in _events(env, after=before) if e.outcome == "success" and e.action != "session.open"
    ]


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_malformed_ids_in_paths_are_refused_before_anything_is_looked_up(
    env: Env, api: TestClient, bad_id: str
) -> None:
    sam = login(api, env, "sam")
    alex = login(api, env, "alex")
    before = _last_seq(env)
    for method, path, headers, body in (
        ("GET", f"/api/v1/requests/{bad_id}", sam, None),
        ("POST", f"/api/v1/requests/{bad_id}/approve", sam, {}),
        ("POST", f"/api/v1/requests/{bad_id}/cancel", sam, None),
        ("POST", f"/api/v1/break-glass/{bad_id}/review", sam, {"outcome": "justified", "note": "n"}),
        ("POST", f"{EXPORTS}/{bad_id}/download", sam, None),
        ("POST", f"/api/v1/legal-holds/{bad_id}/release", alex, None),
        ("DELETE", f"/api/v1/grants/{bad_id}", alex, None),
    ):
        response = api.request(method, path, json=body, headers=headers)
        assert response.status_code in (404, 405, 422), (path, response.status_code, response.text)
    # Nothing reached a service: only the grants route's admission of alex may be on record.
    later = _events(env, after=before)
    assert {(e.action, e.details.get("requested")) for e in later} <= {("access.decision", "workspace:admin")}


def test_out_of_range_numbers_are_refused_cleanly(env: Env, api: TestClient) -> None:
    sam = login(api, env, "sam")
    base = {"kind": "case", "reason": "r", "dataset": "clinical-records", "case_id": "ENC-1"}
    for duration, status in ((10**30, 422), (2**31, 400), (0, 400), (-1, 400), (1.5, 422)):
        response = api.post("/api/v1/requests", json={**base, "duration_minutes": duration}, headers=sam)
        assert response.status_code == status, (duration, response.text)
    glass = {"case_id": "ENC-1", "dataset": "clinical-records", "justification": "j" * 30}
    for minutes, status in ((0, 422), (61, 400), (10**20, 422)):
        response = api.post("/api/v1/break-glass", json={**glass, "minutes": minutes}, headers=sam)
        assert response.status_code == status, (minutes, response.text)
    assert _count(env, AccessRequest) == 0 and _count(env, BreakGlass) == 0
    refusals = _events(env, "access.request.submit")
    assert {e.reason for e in refusals} == {"duration_out_of_range"}


# --- retention and legal hold ---------------------------------------------------------------------------


def test_a_legal_hold_with_a_trailing_newline_does_not_silently_cover_nothing(env: Env) -> None:
    image_id = _ingest(env, render_lab_report())
    workspace = _set_clinical_retention(env, 1)
    env.clock.advance(days=2)
    with TestClient(create_app(workspace, sweep=False)) as api:
        alex = login(api, env, "alex")
        placed = api.post(
            "/api/v1/legal-holds", json={"case_id": f"{CLINICAL_CASE}\n", "reason": "Matter 17"}, headers=alex
        )
        if placed.status_code == 201:  # accepted: then it must hold the case
            run = api.post("/api/v1/retention/run", json={}, headers=alex)
            assert run.status_code == 200, run.text
            assert image_id not in run.json()["deleted"]
        else:
            assert placed.status_code in (400, 422)


def test_an_image_filed_under_a_lookalike_case_id_cannot_escape_the_case_hold(env: Env) -> None:
    workspace = _set_clinical_retention(env, 1)
    with TestClient(create_app(workspace, sweep=False)) as api:
        nora = login(api, env, "nora")
        filed = api.post(
            "/api/v1/images",
            params={
                "dataset": "clinical-records",
                "case_id": f"{CLINICAL_CASE}\n",
                "document_type": "clinical",
            },
            content=render_lab_report(),
            headers=nora,
        )
        if filed.status_code != 201:
            assert filed.status_code in (400, 422)
            return
        image_id = filed.json()["id"]
        alex = login(api, env, "alex")
        hold = {"case_id": CLINICAL_CASE, "reason": "Matter 17: litigation hold on the encounter"}
        assert api.post("/api/v1/legal-holds", json=hold, headers=alex).status_code == 201
        env.clock.advance(days=2)
        run = api.post("/api/v1/retention/run", json={}, headers=login(api, env, "alex"))
        assert run.status_code == 200, run.text
        assert image_id not in run.json()["deleted"], "an image of the held case was shredded"


def _age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_restoring_an_older_database_does_not_shred_images_ingested_since(env: Env, tmp_path: Path) -> None:
    backup = tmp_path / "sealroom.db"
    with sqlite3.connect(env.root / "sealroom.db") as live, sqlite3.connect(backup) as copy:
        live.backup(copy)
    later = _ingest(env, render_lab_report())  # ingested after the backup
    store = FileDataKeyStore(env.root / "keys" / "data-keys")
    _age(store.folder / f"{later}.key", ORPHAN_GRACE.total_seconds() + 60)
    _age(env.root / "blobs" / later[:2] / later, ORPHAN_GRACE.total_seconds() + 60)

    # The operator restores the database (only) from the backup, and the server starts again.
    env.workspace.close()
    for suffix in ("", "-wal", "-shm"):
        (env.root / f"sealroom.db{suffix}").unlink(missing_ok=True)
    shutil.copy2(backup, env.root / "sealroom.db")
    env.workspace = Workspace.open(env.root, clock=env.clock, engines=env.workspace.engines)
    report = env.workspace.retention.run()

    # Expected: a key whose image no retention pass deleted is reported, not destroyed.
    assert later in store.list_ids(), f"key destroyed as an orphan ({report.orphan_keys_removed} removed)"


def test_a_hold_placed_on_the_image_survives_a_case_hold_release(env: Env) -> None:
    image_id = _ingest(env, render_lab_report())
    workspace = _set_clinical_retention(env, 1)
    env.clock.advance(days=2)
    with TestClient(create_app(workspace, sweep=False)) as api:
        alex = login(api, env, "alex")
        case_hold = api.post(
            "/api/v1/legal-holds", json={"case_id": CLINICAL_CASE, "reason": "A"}, headers=alex
        )
        image_hold = api.post("/api/v1/legal-holds", json={"image_id": image_id, "reason": "B"}, headers=alex)
        assert (case_hold.status_code, image_hold.status_code) == (201, 201)
        released = api.post(f"/api/v1/legal-holds/{case_hold.json()['id']}/release", headers=alex)
        assert released.status_code == 200
        again = api.post(f"/api/v1/legal-holds/{case_hold.json()['id']}/release", headers=alex)
        assert again.status_code == 409
        # A dry run by a non-administrator is refused; the real pass keeps the image.
        sam = login(api, env, "sam")
        assert api.post("/api/v1/retention/run", json={"dry_run": True}, headers=sam).status_code == 403
        run = api.post("/api/v1/retention/run", json={}, headers=alex).json()
        assert image_id in run["held"] and image_id not in run["deleted"]
    with env.workspace.db() as db:
        assert db.get(Image, image_id) is not None


def test_shredding_leaves_no_plaintext_or_key_material_in_the_workspace(env: Env) -> None:
    documents = {d.document_type: d for d in demo_documents()}
    data = documents["clinical"].data
    image_id = _ingest(env, data)
    store = FileDataKeyStore(env.root / "keys" / "data-keys")
    wrapped = store.get(image_id)
    workspace = _set_clinical_retention(env, 1)
    env.clock.advance(days=2)

    report = workspace.retention.run()

    assert image_id in report.deleted
    needles = [wrapped, data[:64], data[len(data) // 2 : len(data) // 2 + 64], data[-64:]]
    for path in env.root.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert _scan_for(content, needles) == [], path
            assert not re.search(rb"\.tmp-", path.name.encode()), path
