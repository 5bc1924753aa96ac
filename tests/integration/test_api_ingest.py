"""Ingest through the HTTP API: good files are stored encrypted, bad ones refused with nothing stored."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy import func, select

from sealroom.audit.verify import verify_chain
from sealroom.db.models import AuditEvent, Image
from sealroom.demo.documents import render_lab_report
from tests.conftest import CLINICAL_CASE, Env, login
from tests.hostile_files import HOSTILE_FILES

UPLOAD = f"/api/v1/images?dataset=clinical-records&case_id={CLINICAL_CASE}&document_type=clinical"


def _stored(env: Env) -> tuple[int, list[Path]]:
    with env.workspace.db() as db:
        rows = db.scalar(select(func.count()).select_from(Image)) or 0
    blobs = [p for p in (env.root / "blobs").rglob("*") if p.is_file()]
    return rows, blobs


def test_upload_stores_ciphertext_only(env: Env, client: TestClient) -> None:
    headers = login(client, env, "nora")
    data = render_lab_report()
    response = client.post(UPLOAD, content=data, headers=headers)
    assert response.status_code == 201, response.text
    meta = response.json()
    assert meta["media_type"] == "image/png"
    assert meta["case_id"] == CLINICAL_CASE
    rows, blobs = _stored(env)
    assert rows == 1 and len(blobs) == 1
    stored = blobs[0].read_bytes()
    assert data not in stored and data[:64] not in stored
    assert blobs[0].stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("case", HOSTILE_FILES, ids=lambda case: case.name)
def test_bad_file_gets_clear_error_and_nothing_is_stored(env: Env, client: TestClient, case: object) -> None:
    headers = login(client, env, "nora")
    response = client.post(UPLOAD, content=case.data, headers=headers)  # type: ignore[attr-defined]
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert case.message.lower() in body["message"].lower()  # type: ignore[attr-defined]
    assert _stored(env) == (0, [])
    with env.workspace.db() as db:
        assert verify_chain(db, env.workspace.keys.audit_key).ok
        refused = db.scalars(select(AuditEvent).where(AuditEvent.action == "image.ingest")).all()
    assert refused and refused[-1].outcome == "failure"


def test_upload_over_the_size_limit_is_refused_before_reading_it_all(env: Env, client: TestClient) -> None:
    headers = login(client, env, "nora")
    limit = env.workspace.settings.limits.max_file_bytes
    response = client.post(UPLOAD, content=b"\x89PNG" + bytes(limit), headers=headers)
    assert response.status_code == 413
    assert "limit" in response.json()["message"]
    assert _stored(env) == (0, [])


def test_upload_without_ingest_permission_is_denied_and_audited(env: Env, client: TestClient) -> None:
    headers = login(client, env, "sam")
    response = client.post(UPLOAD, content=render_lab_report(), headers=headers)
    assert response.status_code == 403
    assert _stored(env) == (0, [])
    with env.workspace.db() as db:
        last = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "access.decision").order_by(AuditEvent.seq.desc())
        ).first()
    assert last is not None and last.outcome == "deny" and last.actor == "sam"
    assert last.reason == "no_role_permits_action"


def test_unknown_dataset_is_denied_by_policy_and_audited(env: Env, client: TestClient) -> None:
    headers = login(client, env, "nora")
    response = client.post(
        "/api/v1/images?dataset=nope&case_id=C1&document_type=clinical", content=b"x", headers=headers
    )
    assert response.status_code == 403
    assert "does not allow image:ingest" in response.json()["message"]
    assert "clinical-records" not in response.text


def test_classification_below_the_dataset_floor_is_refused(env: Env, client: TestClient) -> None:
    headers = login(client, env, "nora")
    response = client.post(f"{UPLOAD}&classification=internal", content=render_lab_report(), headers=headers)
    assert response.status_code == 400
    assert "below the data set's floor" in response.json()["message"]
    assert _stored(env) == (0, [])


def test_classification_above_the_default_is_kept(env: Env, client: TestClient) -> None:
    headers = login(client, env, "nora")
    response = client.post(
        f"{UPLOAD}&classification=restricted", content=render_lab_report(), headers=headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["classification"] == "restricted"


def test_tiff_is_accepted_by_content_whatever_its_name(env: Env, client: TestClient) -> None:
    headers = login(client, env, "nora")
    buffer = io.BytesIO()
    PILImage.new("RGB", (200, 100), "white").save(buffer, format="TIFF")
    response = client.post(UPLOAD, content=buffer.getvalue(), headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["media_type"] == "image/tiff"


def test_a_store_that_cannot_be_written_is_a_clear_503_and_audited(env: Env, client: TestClient) -> None:
    headers = login(client, env, "nora")
    # A file where the store's folder should be: the write fails whoever the server runs as.
    blobs = env.root / "blobs"
    blobs.rmdir()
    blobs.write_bytes(b"")
    response = client.post(UPLOAD, content=render_lab_report(), headers=headers)
    assert response.status_code == 503
    assert "nothing was stored" in response.json()["message"]
    with env.workspace.db() as db:
        assert db.scalar(select(func.count()).select_from(Image)) == 0
        last = db.scalars(select(AuditEvent).where(AuditEvent.action == "image.ingest")).all()[-1]
    assert last.outcome == "failure" and last.reason == "storage_unavailable"
