"""The server-backed mode: the same workspace on PostgreSQL (skipped, with the reason, when it is absent)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import psycopg
import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sealroom.api.app import create_app
from sealroom.audit.verify import verify_chain
from sealroom.db.models import LoginThrottle
from sealroom.demo.documents import render_lab_report
from sealroom.errors import SealroomError
from sealroom.workspace import Workspace, default_config_text, init_workspace
from tests.conftest import PASSWORD

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty database on the local server, dropped afterwards."""
    name = f"sealroom_it_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({exc.__class__.__name__})")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_whole_flow_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    config = default_config_text().replace(
        'database_url = "sqlite:///sealroom.db"', f'database_url = "{pg_url}"'
    )
    root = init_workspace(tmp_path / "ws", config)
    assert not (root / "sealroom.db").exists()
    workspace = Workspace.open(root)
    workspace.identity.add_user("nora", PASSWORD, ["intake"])
    workspace.identity.add_user("sam", PASSWORD, ["clinician"])
    nora = workspace.identity.enroll_mfa("nora").secret
    sam = workspace.identity.enroll_mfa("sam").secret
    workspace.grants.create_grant("sam", "ENC-9", purpose="care", duration=timedelta(hours=1), granted_by="t")

    with TestClient(create_app(workspace, sweep=False)) as client:

        def login(user: str, secret: str) -> dict[str, str]:
            body = {"username": user, "password": PASSWORD, "totp": pyotp.TOTP(secret).now()}
            response = client.post("/api/v1/login", json=body)
            assert response.status_code == 200, response.text
            client.cookies.clear()
            return {"Authorization": f"Bearer {response.json()['token']}"}

        intake = login("nora", nora)
        url = "/api/v1/images?dataset=clinical-records&case_id=ENC-9&document_type=clinical"
        upload = client.post(url, content=render_lab_report(), headers=intake)
        assert upload.status_code == 201, upload.text
        disguised = client.post(url, content=b"PK\x03\x04" + bytes(200), headers=intake)
        assert disguised.status_code == 422 and "ZIP" in disguised.json()["message"]
        listing = client.get("/api/v1/images", headers=login("sam", sam))
        assert [image["id"] for image in listing.json()["images"]] == [upload.json()["id"]]

    with workspace.db() as db:
        report = verify_chain(db, workspace.keys.audit_key)
    assert report.ok and report.checked > 10
    workspace.close()


def test_concurrent_first_failures_of_one_name_are_all_counted(tmp_path: Path, pg_url: str) -> None:
    config = default_config_text().replace(
        'database_url = "sqlite:///sealroom.db"', f'database_url = "{pg_url}"'
    )
    workspace = Workspace.open(init_workspace(tmp_path / "ws", config))
    barrier = threading.Barrier(4)

    def attempt() -> str:
        barrier.wait()
        try:
            workspace.identity.authenticate("nobody.here", "wrong-password-123", "123456")
        except SealroomError as exc:
            return exc.code
        return "signed-in"

    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda _: attempt(), range(4)))
    assert sorted(set(codes)) == ["authentication_failed"]
    with workspace.db() as db:
        row = db.scalars(select(LoginThrottle)).one()
    assert row.failures == 4
    workspace.close()
