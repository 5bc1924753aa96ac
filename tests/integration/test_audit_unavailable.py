"""If the audit log cannot be written, the action is refused and leaves nothing behind."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from sealroom.db.models import Image
from sealroom.demo.documents import render_lab_report
from tests.conftest import CLINICAL_CASE, Env, login

UPLOAD = f"/api/v1/images?dataset=clinical-records&case_id={CLINICAL_CASE}&document_type=clinical"


def _break_audit(env: Env) -> None:
    # What a full disk or a revoked grant on the audit table looks like to the application.
    with env.workspace.engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END"
            )
        )


def test_ingest_is_refused_and_nothing_is_stored(env: Env, client: TestClient) -> None:
    headers = login(client, env, "nora")
    _break_audit(env)
    response = client.post(UPLOAD, content=render_lab_report(), headers=headers)
    assert response.status_code == 503
    assert "audit" in response.json()["message"]
    with env.workspace.db() as db:
        assert db.scalar(select(func.count()).select_from(Image)) == 0
    assert [p for p in (env.root / "blobs").rglob("*") if p.is_file()] == []


def test_sign_in_is_refused_when_it_cannot_be_recorded(env: Env, client: TestClient) -> None:
    _break_audit(env)
    response = client.post(
        "/api/v1/login",
        json={"username": "sam", "password": "correct-Horse-battery-9", "totp": env.fresh_code("sam")},
    )
    assert response.status_code == 503
    assert "sealroom_session" not in response.headers.get("set-cookie", "")
