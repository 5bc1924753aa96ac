"""Step-up MFA and grant expiry inside an open session, through the real API.

Opening an image of a classification listed under ``[step_up]`` needs a TOTP check recent enough; the
offline engine's pre-scan raises an image whose content turns out to be more sensitive (an identity
document, a card number) and then holds the result back until the second factor is fresh. A case
grant that ends stops access at once, even in a session that already opened the image.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sealroom.db.models import AuditEvent, Image
from sealroom.demo.documents import demo_documents
from sealroom.vault.service import IngestRequest
from tests.conftest import CLINICAL_CASE, Env, login


def _document(kind: str) -> bytes:
    return next(document.data for document in demo_documents() if document.document_type == kind)


def _ingest(env: Env, data: bytes, dataset: str, case_id: str, document_type: str, level: str) -> str:
    intake = env.session("nora")
    meta = env.workspace.vault.ingest(intake, data, IngestRequest(dataset, case_id, document_type, level))
    env.workspace.sessions.end(intake.id, "logout")
    return str(meta["id"])


def _events(env: Env, after: int = 0) -> list[AuditEvent]:
    with env.workspace.db() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq)))


def _last_seq(env: Env) -> int:
    return _events(env)[-1].seq


def _step_up(client: TestClient, env: Env, headers: dict[str, str], username: str) -> None:
    response = client.post(
        "/api/v1/session/step-up", json={"totp": env.fresh_code(username)}, headers=headers
    )
    assert response.status_code == 200, response.text


@pytest.mark.slow
def test_a_restricted_image_needs_a_recent_second_factor_and_opens_after_step_up(
    env: Env, client: TestClient
) -> None:
    image_id = _ingest(env, _document("identity"), "identity-docs", CLINICAL_CASE, "identity", "restricted")
    headers = login(client, env, "pat")
    env.clock.advance(minutes=11)  # the template asks for a check within 10 minutes for restricted
    before = _last_seq(env)

    refused = client.post(f"/api/v1/images/{image_id}/analyses", json={}, headers=headers)

    assert refused.status_code == 401
    body = refused.json()
    assert body["error"] == "step_up_required" and body["max_age_minutes"] == 10
    assert "restricted" in body["message"] and "/api/v1/session/step-up" in body["message"]
    events = _events(env, before)
    assert [(e.action, e.outcome, e.reason) for e in events] == [
        ("access.decision", "deny", "step_up_required")
    ]
    assert events[0].details["step_up_minutes"] == 10
    assert env.workspace.sessions.material.sessions() == []  # nothing was decrypted

    wrong = client.post("/api/v1/session/step-up", json={"totp": "000000"}, headers=headers)
    assert wrong.status_code == 401
    _step_up(client, env, headers, "pat")

    opened = client.post(f"/api/v1/images/{image_id}/analyses", json={}, headers=headers)
    assert opened.status_code == 200, opened.text
    actions = [(e.action, e.outcome) for e in _events(env, before)]
    assert ("auth.mfa.verify", "failure") in actions and ("auth.mfa.verify", "success") in actions
    assert actions.index(("auth.mfa.verify", "success")) < actions.index(("image.open", "success"))


@pytest.mark.slow
def test_a_pre_scan_that_finds_an_identity_document_raises_it_and_holds_the_result_for_step_up(
    env: Env, client: TestClient
) -> None:
    # Filed as an ordinary confidential clinical document, but it is an identity card.
    image_id = _ingest(
        env, _document("identity"), "clinical-records", CLINICAL_CASE, "clinical", "confidential"
    )
    headers = login(client, env, "pat")
    env.clock.advance(minutes=11)
    before = _last_seq(env)

    held = client.post(f"/api/v1/images/{image_id}/analyses", json={}, headers=headers)

    assert held.status_code == 401 and held.json()["error"] == "step_up_required", held.text
    assert client.get(f"/api/v1/images/{image_id}", headers=headers).json()["classification"] == "restricted"
    events = _events(env, before)
    reclassified = [e for e in events if e.action == "image.reclassify"]
    assert len(reclassified) == 1
    assert reclassified[0].details["from"] == "confidential" and reclassified[0].details["to"] == "restricted"
    assert "doc:identity" in reclassified[0].details["triggers"]
    assert not [e for e in events if e.action == "result.deliver"]

    _step_up(client, env, headers, "pat")
    delivered = client.post(f"/api/v1/images/{image_id}/analyses", json={}, headers=headers)
    assert delivered.status_code == 200, delivered.text
    scans = [e for e in _events(env, before) if e.action == "analysis.run"]
    assert len(scans) == 1, "the pre-scan's result is the analysis: the image is read once"

    # A clinician cleared only to confidential no longer reaches it.
    sam = login(client, env, "sam")
    assert client.post(f"/api/v1/images/{image_id}/analyses", json={}, headers=sam).status_code == 404


@pytest.mark.slow
def test_a_grant_that_expires_ends_access_inside_the_open_session_and_destroys_what_it_opened(
    env: Env, client: TestClient
) -> None:
    case = "ENC-2026-0099"
    lab = next(d for d in demo_documents() if d.document_type == "clinical")
    image_id = _ingest(env, lab.data, "clinical-records", case, "clinical", "confidential")
    env.workspace.grants.create_grant(
        "sam", case, purpose="short consult", duration=timedelta(minutes=20), granted_by="operator:test"
    )
    headers = login(client, env, "sam")
    session_id = client.get("/api/v1/session", headers=headers).json()["session_id"]
    assert client.post(f"/api/v1/images/{image_id}/analyses", json={}, headers=headers).status_code == 200
    assert env.workspace.sessions.material.held_ids(session_id) == [image_id]

    # Confidential needs no step-up: still served well after the sign-in's second factor.
    env.clock.advance(minutes=14)
    assert client.post(f"/api/v1/images/{image_id}/analyses", json={}, headers=headers).status_code == 200
    before = _last_seq(env)

    env.clock.advance(minutes=7)  # the grant has run out; the session has not
    refused = client.post(f"/api/v1/images/{image_id}/analyses", json={}, headers=headers)

    assert refused.status_code == 404
    assert env.workspace.sessions.material.held_ids(session_id) == []
    assert client.get("/api/v1/session", headers=headers).status_code == 200, "the session itself goes on"
    assert image_id not in [i["id"] for i in client.get("/api/v1/images", headers=headers).json()["images"]]
    events = [(e.action, e.outcome, e.reason) for e in _events(env, before)]
    assert events[:2] == [
        ("access.decision", "deny", "grant_expired"),
        ("session.purge", "success", "grant_expired"),
    ]

    env.workspace.maintain()
    env.workspace.maintain()
    expiries = [e for e in _events(env, before) if e.action == "access.grant.expire"]
    assert len(expiries) == 1 and expiries[0].case_id == case


def test_the_maintenance_pass_destroys_material_a_revoked_grant_left_in_a_session(env: Env) -> None:
    case = "ENC-2026-0100"
    lab = next(d for d in demo_documents() if d.document_type == "clinical")
    image_id = _ingest(env, lab.data, "clinical-records", case, "clinical", "confidential")
    grant = env.workspace.grants.create_grant(
        "sam", case, purpose="consult", duration=timedelta(hours=1), granted_by="operator:test"
    )
    sam = env.session("sam")
    with env.workspace.db() as db:
        image = db.get(Image, image_id)
        assert image is not None
        env.workspace.gate.require(db, sam, "image:analyze", image=image)
        env.workspace.vault.open_into_session(db, sam, image)
        db.commit()
    assert env.workspace.sessions.material.held_ids(sam.id) == [image_id]
    before = _last_seq(env)

    env.workspace.grants.revoke_grant(grant.id, revoked_by="operator:test")
    env.workspace.maintain()

    assert env.workspace.sessions.material.held_ids(sam.id) == []
    purges = [e for e in _events(env, before) if e.action == "session.purge"]
    assert len(purges) == 1 and purges[0].reason == "grant_revoked" and purges[0].session_id == sam.id
    assert not [e for e in _events(env, before) if e.action == "access.grant.expire"], "revoked, not expired"
