"""A role held for a while through an approved data-set request: it widens scope on that data set only,
its first use is recorded, and it ends by itself. Metadata only (no OCR), through the real API."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from sealroom.db.models import AuditEvent
from sealroom.demo.documents import demo_documents
from sealroom.vault.service import IngestRequest
from tests.conftest import CLINICAL_CASE, Env, login


def _ingest(env: Env, document_type: str, dataset: str) -> str:
    document = next(d for d in demo_documents() if d.document_type == document_type)
    intake = env.session("nora")
    meta = env.workspace.vault.ingest(
        intake, document.data, IngestRequest(dataset, CLINICAL_CASE, document_type, document.classification)
    )
    env.workspace.sessions.end(intake.id, "logout")
    return str(meta["id"])


def _actions(env: Env, name: str) -> list[AuditEvent]:
    with env.workspace.db() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == name).order_by(AuditEvent.seq)))


def test_a_data_set_elevation_widens_scope_there_only_and_ends_by_itself(
    env: Env, client: TestClient
) -> None:
    identity = _ingest(env, "identity", "identity-docs")
    statement = _ingest(env, "financial", "finance-records")
    sam = login(client, env, "sam")  # a clinician: clinical-records only, but a grant on the case
    assert client.get(f"/api/v1/images/{identity}", headers=sam).status_code == 404

    asked = client.post(
        "/api/v1/requests",
        json={"kind": "dataset", "dataset": "identity-docs", "role": "privacy-officer",
              "reason": "verify the patient's identity for a transfusion", "duration_minutes": 60},
        headers=sam,
    )  # fmt: skip
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    for approver in ("ada", "ben"):  # identity-docs needs two
        headers = login(client, env, approver)
        decided = client.post(f"/api/v1/requests/{request_id}/approve", json={"note": "ok"}, headers=headers)
        assert decided.status_code == 200, decided.text
        env.clock.advance(seconds=1)

    assert client.get(f"/api/v1/images/{identity}", headers=sam).status_code == 200
    assert client.get(f"/api/v1/images/{identity}", headers=sam).status_code == 200
    held = client.get("/api/v1/session", headers=sam).json()
    assert [(e["role"], e["dataset"]) for e in held["elevations"]] == [("privacy-officer", "identity-docs")]
    assert [g["case_id"] for g in held["grants"]] == [CLINICAL_CASE]
    listed = [image["id"] for image in client.get("/api/v1/images", headers=sam).json()["images"]]
    assert identity in listed and statement not in listed
    # The same role elsewhere would cover finance-records; the elevation is limited to identity-docs.
    assert client.get(f"/api/v1/images/{statement}", headers=sam).status_code == 404
    uses = _actions(env, "access.request.use")
    assert len(uses) == 1 and uses[0].actor == "sam" and uses[0].details["request_id"] == request_id

    env.clock.advance(minutes=61)
    sam = login(client, env, "sam")
    assert client.get(f"/api/v1/images/{identity}", headers=sam).status_code == 404
    env.workspace.maintain()
    ended = [e for e in _actions(env, "access.request.expire") if e.details["request_id"] == request_id]
    assert len(ended) == 1 and ended[0].details["phase"] == "access_ended"
