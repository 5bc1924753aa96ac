"""The main job through the real API and the real offline engine.

Ingest → sign-in with TOTP → analyse → masked delivery, with the audit trail in order, nothing in
clear on disk, and no response carrying image bytes.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from sealroom.audit.verify import verify_chain
from sealroom.db.models import AuditEvent
from sealroom.demo.documents import LAB_PATIENT, demo_documents
from sealroom.vault.service import IngestRequest
from tests.conftest import Env, login

pytestmark = pytest.mark.slow


def _ingest_all(env: Env) -> dict[str, str]:
    intake = env.session("nora")
    ids = {}
    for document in demo_documents():
        meta = env.workspace.vault.ingest(
            intake,
            document.data,
            IngestRequest(
                document.dataset, document.case_id, document.document_type, document.classification
            ),
        )
        ids[document.document_type] = meta["id"]
    env.workspace.sessions.end(intake.id, "logout")
    return ids


def _analyze(client: TestClient, headers: dict[str, str], image_id: str) -> dict[str, Any]:
    response = client.post(f"/api/v1/images/{image_id}/analyses", json={"engine": "local"}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _events(env: Env, after: int = 0) -> list[AuditEvent]:
    with env.workspace.db() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq)))


def test_masked_analysis_is_audited_in_order_and_leaves_nothing_in_clear(
    env: Env, client: TestClient
) -> None:
    ids = _ingest_all(env)
    headers = login(client, env, "sam")
    before = _events(env)[-1].seq

    result = _analyze(client, headers, ids["clinical"])

    assert result["masked"] is True
    assert result["document_type"] == "clinical"
    found = {entity["type"] for entity in result["entities"]}
    assert {"PERSON", "SSN", "DATE_OF_BIRTH", "MRN"} <= found
    delivered = str(result)
    for secret in (LAB_PATIENT["SSN"], LAB_PATIENT["MRN"], "Whitfield", LAB_PATIENT["Email"]):
        assert secret not in delivered
    assert "***-**-4471" in delivered

    trail = [(e.action, e.outcome) for e in _events(env, before) if e.session_id is not None]
    assert trail[:3] == [("access.decision", "allow"), ("image.open", "success"), ("analysis.run", "success")]
    assert trail[-1] == ("result.deliver", "success")
    deliver = _events(env, before)[-1]
    assert deliver.details["masked"] is True and len(deliver.details["content_hmac"]) == 64

    # Nothing under the workspace holds the image or a detected value in clear.
    lab = next(d for d in demo_documents() if d.document_type == "clinical")
    needles = [lab.data[:256], lab.data[-256:], base64.b64encode(lab.data[:300])[:200]]
    values = [
        entity["text"] for entity in _analyze(client, login(client, env, "pat"), ids["clinical"])["entities"]
    ]
    # The case id is printed on the form and is also the metadata intake filed the image under.
    needles += [value.encode() for value in values if len(value) >= 6 and value != lab.case_id]
    for path in env.root.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for needle in needles:
                assert needle not in content, f"{needle[:20]!r} found in clear in {path.name}"


def test_unmasked_role_sees_values_and_masking_differs_by_role(env: Env, client: TestClient) -> None:
    ids = _ingest_all(env)
    masked = _analyze(client, login(client, env, "sam"), ids["clinical"])
    clear = _analyze(client, login(client, env, "pat"), ids["clinical"])
    assert clear["masked"] is False
    assert LAB_PATIENT["SSN"] in clear["text"]
    assert LAB_PATIENT["SSN"] not in masked["text"]
    assert len(masked["entities"]) == len(clear["entities"])


def test_out_of_scope_image_is_denied_like_a_missing_one_and_audited(env: Env, client: TestClient) -> None:
    ids = _ingest_all(env)
    headers = login(client, env, "sam")
    denied = client.post(f"/api/v1/images/{ids['identity']}/analyses", json={}, headers=headers)
    missing = client.post(f"/api/v1/images/{'0' * 32}/analyses", json={}, headers=headers)
    assert denied.status_code == missing.status_code == 404
    assert denied.json() == missing.json()
    decisions = [e for e in _events(env) if e.action == "access.decision" and e.outcome == "deny"]
    assert [d.reason for d in decisions[-2:]] == ["dataset_out_of_scope", "not_found"]
    assert decisions[-2].image_id == ids["identity"]
    listing = client.get("/api/v1/images", headers=headers).json()["images"]
    assert [image["id"] for image in listing] == [ids["clinical"]]


def test_no_response_ever_carries_image_bytes(env: Env, client: TestClient) -> None:
    ids = _ingest_all(env)
    documents = demo_documents()
    headers = login(client, env, "pat")
    # Every route the app has, called with each method it takes, for every stored image.
    routes = [route for route in client.app.routes if isinstance(route, APIRoute)]  # type: ignore[attr-defined]
    assert routes
    every_route = [
        client.request(method, route.path.replace("{image_id}", image_id), headers=headers, json={})
        for route in routes
        for method in sorted(route.methods - {"HEAD"})
        for image_id in ids.values()
        if route.path != "/api/v1/logout"
    ]
    responses = [
        *every_route,
        client.get("/api/v1/images", headers=headers),
        client.get("/api/v1/session", headers=headers),
        *[client.get(f"/api/v1/images/{image_id}", headers=headers) for image_id in ids.values()],
        *[
            client.post(f"/api/v1/images/{image_id}/analyses", json={}, headers=headers)
            for image_id in ids.values()
        ],
        client.get(f"/api/v1/images/{ids['clinical']}/download", headers=headers),
        client.get(f"/api/v1/images/{ids['clinical']}/pages/0", headers=headers),
    ]
    for response in responses:
        assert not response.headers.get("content-type", "").startswith("image/")
        assert response.headers["cache-control"] == "no-store"
        for document in documents:
            assert document.data[:128] not in response.content
            assert base64.b64encode(document.data[:96]) not in response.content
    with env.workspace.db() as db:
        assert verify_chain(db, env.workspace.keys.audit_key).ok
