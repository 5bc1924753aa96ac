"""Ending a session — logout, idle or absolute timeout, restart — destroys the material it held."""

from __future__ import annotations

import io
from datetime import timedelta

from fastapi.testclient import TestClient
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont
from sqlalchemy import select

from sealroom.api.app import create_app
from sealroom.db.models import AuditEvent, SessionImage
from sealroom.vault.service import IngestRequest
from tests.conftest import CLINICAL_CASE, Env, login


def small_note() -> bytes:
    """A small scanned note with a name and an MRN (read in about a second)."""
    image = PILImage.new("RGB", (640, 160), "white")
    ImageDraw.Draw(image).text(
        (20, 50), "Patient: Jane Doe  MRN 55123", fill="black", font=ImageFont.load_default(size=30)
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _ingest_note(env: Env) -> str:
    intake = env.session("nora")
    meta = env.workspace.vault.ingest(
        intake, small_note(), IngestRequest("clinical-records", CLINICAL_CASE, "clinical")
    )
    env.workspace.sessions.end(intake.id, "logout")
    return str(meta["id"])


def _purge_record(env: Env, session_id: str) -> AuditEvent:
    with env.workspace.db() as db:
        record = db.scalars(
            select(AuditEvent).where(
                AuditEvent.session_id == session_id, AuditEvent.action == "session.purge"
            )
        ).one()
        opened = db.scalars(select(SessionImage).where(SessionImage.session_id == session_id)).all()
    assert opened and all(row.purged_at is not None for row in opened)
    return record


def _open(client: TestClient, headers: dict[str, str], image_id: str) -> str:
    response = client.post(f"/api/v1/images/{image_id}/analyses", json={}, headers=headers)
    assert response.status_code == 200, response.text
    return client.get("/api/v1/session", headers=headers).json()["session_id"]


def test_logout_purges_material_and_the_token_is_dead(env: Env, client: TestClient) -> None:
    image_id = _ingest_note(env)
    headers = login(client, env, "sam")
    session_id = _open(client, headers, image_id)
    assert env.workspace.sessions.material.held_ids(session_id) == [image_id]

    response = client.post("/api/v1/logout", headers=headers)

    assert response.status_code == 200 and response.json()["images_purged"] == 1
    assert "cookies" in response.headers["clear-site-data"]
    assert env.workspace.sessions.material.held_ids(session_id) == []
    assert _purge_record(env, session_id).details["images_purged"] == [image_id]
    after = client.post(f"/api/v1/images/{image_id}/analyses", json={}, headers=headers)
    assert after.status_code == 401


def test_idle_timeout_ends_the_session_and_purges(env: Env, client: TestClient) -> None:
    image_id = _ingest_note(env)
    headers = login(client, env, "sam")
    session_id = _open(client, headers, image_id)
    env.clock.advance(minutes=env.workspace.settings.session.idle_timeout_minutes + 1)

    response = client.get("/api/v1/session", headers=headers)

    assert response.status_code == 401
    assert "idle timeout" in response.json()["message"]
    assert env.workspace.sessions.material.held_ids(session_id) == []
    assert _purge_record(env, session_id).reason == "idle_timeout"


def test_activity_keeps_a_session_alive_until_the_absolute_limit(env: Env, client: TestClient) -> None:
    headers = login(client, env, "sam")
    started = env.clock.now()
    idle = env.workspace.settings.session.idle_timeout_minutes
    absolute = env.workspace.settings.session.absolute_timeout_minutes
    response = client.get("/api/v1/session", headers=headers)
    while response.status_code == 200 and env.clock.now() - started < timedelta(minutes=absolute + idle):
        env.clock.advance(minutes=idle - 1)
        response = client.get("/api/v1/session", headers=headers)
    assert response.status_code == 401
    assert "absolute timeout" in response.json()["message"]
    assert env.clock.now() - started >= timedelta(minutes=absolute)


def test_the_sweeper_ends_abandoned_sessions(env: Env, client: TestClient) -> None:
    image_id = _ingest_note(env)
    session_id = _open(client, login(client, env, "sam"), image_id)
    env.clock.advance(hours=1)
    assert env.workspace.sessions.end_expired() == [session_id]
    assert env.workspace.sessions.material.held_ids(session_id) == []


def test_restart_purges_sessions_left_open(env: Env, client: TestClient) -> None:
    image_id = _ingest_note(env)
    headers = login(client, env, "sam")
    session_id = _open(client, headers, image_id)
    # A crash: the process dies without ending the session; memory is gone with it.
    workspace = env.reopen()
    with TestClient(create_app(workspace, sweep=False)) as restarted:
        assert restarted.get("/api/v1/session", headers=headers).status_code == 401
    record = _purge_record(env, session_id)
    assert record.reason == "restart" and record.details["images_purged"] == [image_id]
