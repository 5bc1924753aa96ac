"""Controlled export through the real API: request, approval, one delivery, watermark, redaction.

Approval goes through the request service (``RequestService.approve``), as an approver would.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

import sealroom.cli.common as common
import sealroom.cli.exports_cmd as exports_cmd
from sealroom.analysis.models import PageImage
from sealroom.analysis.prescan import FULL_ANALYSIS_KEY
from sealroom.api.app import create_app
from sealroom.api.exports import SHA256_HEADER
from sealroom.api.exports import router as exports_router
from sealroom.db.models import AccessRequest, AuditEvent
from sealroom.demo.documents import LAB_PATIENT, demo_documents
from sealroom.vault.service import IngestRequest
from sealroom.workspace import Workspace
from tests.conftest import CLINICAL_CASE, Env, login

EXPORTS = "/api/v1/exports"


def _app_client(workspace: Workspace) -> TestClient:
    app = create_app(workspace, sweep=False)
    if not any(getattr(route, "path", "").startswith(EXPORTS) for route in app.routes):
        app.include_router(exports_router)  # until the router is registered in app.py
    return TestClient(app)


@pytest.fixture
def api(env: Env) -> Iterator[TestClient]:
    with _app_client(env.workspace) as test_client:
        yield test_client


def _document(document_type: str) -> bytes:
    return next(d for d in demo_documents() if d.document_type == document_type).data


def _ingest(env: Env, data: bytes) -> str:
    """Ingest into the clinical case sam and pat hold grants for."""
    intake = env.session("nora")
    meta = env.workspace.vault.ingest(
        intake, data, IngestRequest("clinical-records", CLINICAL_CASE, "clinical")
    )
    env.workspace.sessions.end(intake.id, "logout")
    return str(meta["id"])


def _request(
    api: TestClient, headers: dict[str, str], image_id: str, fmt: str = "png", variant: str = "redacted"
) -> dict[str, object]:
    response = api.post(
        EXPORTS,
        json={"image_id": image_id, "format": fmt, "variant": variant, "reason": "referral letter"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def _approve(env: Env, request_id: str, approver: str = "ada") -> None:
    active = env.session(approver)
    env.workspace.requests.approve(active, request_id, "ok")
    env.workspace.sessions.end(active.id, "logout")


def _download(api: TestClient, headers: dict[str, str], request_id: object) -> Response:
    return api.post(f"{EXPORTS}/{request_id}/download", headers=headers)


def _events(env: Env, action: str) -> list[AuditEvent]:
    with env.workspace.db() as db:
        return list(
            db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
        )


def _allow_original_exports(env: Env) -> Workspace:
    config = env.root / "sealroom.toml"
    text = config.read_text(encoding="utf-8")
    assert text.count("export_original = false") == 1
    config.write_text(text.replace("export_original = false", "export_original = true"), encoding="utf-8")
    return env.reopen()


# --- requests and refusals (no rendering) -------------------------------------------------------------


def test_an_export_waits_for_approval(env: Env, api: TestClient) -> None:
    image_id = _ingest(env, _document("clinical"))
    headers = login(api, env, "sam")
    request = _request(api, headers, image_id)
    assert request["status"] == "pending" and request["approvals_required"] == 1
    assert request["format"] == "png" and request["variant"] == "redacted"

    response = _download(api, headers, request["id"])
    assert response.status_code == 409
    assert "awaiting approval: 0 of 1" in response.json()["message"]
    (submitted,) = _events(env, "access.request.submit")
    assert submitted.details["request_id"] == request["id"] and submitted.details["reason_chars"] == 15
    refusal = _events(env, "delivery.export")[-1]
    assert (refusal.outcome, refusal.reason) == ("failure", "awaiting_approval")


def test_bad_requests_are_refused_with_the_choices(env: Env, api: TestClient) -> None:
    image_id = _ingest(env, _document("clinical"))
    headers = login(api, env, "sam")
    for body, expected in [
        ({"format": "tiff"}, "png, pdf"),
        ({"variant": "blurred"}, "redacted, original"),
        ({"reason": "   "}, "reason"),
    ]:
        payload = {"image_id": image_id, "format": "png", "variant": "redacted", "reason": "x", **body}
        response = api.post(EXPORTS, json=payload, headers=headers)
        assert response.status_code == 400, response.text
        assert expected in response.json()["message"]
    missing = api.post(EXPORTS, json={"image_id": "0" * 32, "reason": "x"}, headers=headers)
    assert missing.status_code == 404


def test_png_is_refused_for_a_multi_page_document(env: Env, api: TestClient) -> None:
    image_id = _ingest(env, _document("financial"))  # the two-page statement, filed in the clinical case
    headers = login(api, env, "sam")
    response = api.post(EXPORTS, json={"image_id": image_id, "format": "png", "reason": "x"}, headers=headers)
    assert response.status_code == 400
    assert "this image has 2 pages; export it as pdf" in response.json()["message"]
    assert _request(api, headers, image_id, fmt="pdf")["status"] == "pending"


def test_the_original_is_refused_where_the_data_set_does_not_allow_it(env: Env, api: TestClient) -> None:
    image_id = _ingest(env, _document("clinical"))
    headers = login(api, env, "pat")
    response = api.post(
        EXPORTS,
        json={"image_id": image_id, "format": "png", "variant": "original", "reason": "court order"},
        headers=headers,
    )
    assert response.status_code == 403
    assert response.json()["reason"] == "original_export_not_allowed"
    denial = _events(env, "access.decision")[-1]
    assert (denial.outcome, denial.reason, denial.image_id) == (
        "deny",
        "original_export_not_allowed",
        image_id,
    )
    assert _events(env, "access.request.submit") == []


def test_delivery_after_the_window_is_gone(env: Env, api: TestClient) -> None:
    image_id = _ingest(env, _document("clinical"))
    request = _request(api, login(api, env, "sam"), image_id)
    _approve(env, str(request["id"]))
    env.clock.advance(minutes=env.workspace.settings.export.window_minutes + 1)

    response = _download(api, login(api, env, "sam"), request["id"])
    assert response.status_code == 410
    with env.workspace.db() as db:
        stored = db.get(AccessRequest, request["id"])
        assert stored is not None and stored.status == "expired" and stored.used_at is None
    assert _events(env, "delivery.export")[-1].reason == "window_passed"
    assert _events(env, "access.request.expire")[-1].details["phase"] == "delivery_window_passed"


@pytest.mark.slow  # an original is pre-scanned too (OCR)
def test_an_original_export_needs_two_approvals_and_is_the_file_exactly(env: Env) -> None:
    workspace = _allow_original_exports(env)
    data = _document("clinical")
    image_id = _ingest(env, data)
    with _app_client(workspace) as api:
        # The original shows everything unmasked: a role that sees masked results may not take it.
        sam = login(api, env, "sam")
        refused = api.post(
            "/api/v1/exports",
            json={"image_id": image_id, "format": "png", "variant": "original", "reason": "transfer"},
            headers=sam,
        )
        assert refused.status_code == 403 and refused.json()["reason"] == "original_needs_unmasked_view"
        headers = login(api, env, "pat")
        request = _request(api, headers, image_id, variant="original")
        assert request["approvals_required"] == 2
        _approve(env, str(request["id"]), "ada")
        response = _download(api, headers, request["id"])
        assert response.status_code == 409
        assert "awaiting approval: 1 of 2" in response.json()["message"]
        _approve(env, str(request["id"]), "ben")

        # An approver is not the requester: the export does not exist for them.
        assert _download(api, login(api, env, "ada"), request["id"]).status_code == 404

        response = _download(api, headers, request["id"])
        assert response.status_code == 200
        assert response.content == data
        assert response.headers["content-type"] == "image/png"
        assert response.headers["content-disposition"] == (
            f'attachment; filename="sealroom-export-{request["id"]}.png"'
        )
        assert response.headers["cache-control"] == "no-store"
        assert response.headers[SHA256_HEADER] == hashlib.sha256(data).hexdigest()

        again = _download(api, headers, request["id"])
        assert again.status_code == 410
        assert "exports are delivered once" in again.json()["message"]

    delivered = [e for e in _events(env, "delivery.export") if e.outcome == "success"]
    assert len(delivered) == 1
    assert delivered[0].details["sha256"] == hashlib.sha256(data).hexdigest()
    assert delivered[0].details["watermark"] is False and delivered[0].details["variant"] == "original"
    reasons = [e.reason for e in _events(env, "delivery.export") if e.outcome == "failure"]
    assert reasons == ["awaiting_approval", "not_requester", "already_delivered"]


@pytest.mark.slow  # an original is pre-scanned too (OCR)
def test_cli_requests_and_downloads_into_a_new_private_file(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = _allow_original_exports(env)
    data = _document("clinical")
    image_id = _ingest(env, data)
    monkeypatch.setattr(exports_cmd, "open_workspace", lambda _path: workspace)
    monkeypatch.setattr(common, "sign_in", lambda _workspace, name: env.session(name))
    runner = CliRunner()

    result = runner.invoke(
        exports_cmd.export_app,
        ["request", image_id, "--user", "pat", "--format", "png", "--variant", "original",
         "--reason", "transfer"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with workspace.db() as db:
        (request_id,) = db.scalars(select(AccessRequest.id)).all()
    assert request_id in result.output and "needs 2 approvals" in result.output
    _approve(env, request_id, "ada")
    _approve(env, request_id, "ben")

    taken = tmp_path / "taken.png"
    taken.write_bytes(b"keep me")
    result = runner.invoke(
        exports_cmd.export_app, ["download", request_id, "--user", "pat", "--out", str(taken)]
    )
    assert result.exit_code == 9 and "exists already" in result.output
    assert taken.read_bytes() == b"keep me"

    out = tmp_path / "export.png"
    result = runner.invoke(
        exports_cmd.export_app, ["download", request_id, "--user", "pat", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == data and os.stat(out).st_mode & 0o777 == 0o600
    assert f"sha256 {hashlib.sha256(data).hexdigest()}" in result.output

    second = tmp_path / "second.png"
    result = runner.invoke(
        exports_cmd.export_app, ["download", request_id, "--user", "pat", "--out", str(second)]
    )
    assert result.exit_code == 13 and "delivered once" in result.output
    assert not second.exists()


# --- the redacted rendering (runs the offline OCR) ----------------------------------------------------


def _page(data: bytes) -> PageImage:
    return PageImage(0, Image.open(io.BytesIO(data)).convert("RGB"))


def _png_chunks(data: bytes) -> list[bytes]:
    chunks, offset = [], 8
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        chunks.append(data[offset + 4 : offset + 8])
        offset += 12 + length
    return chunks


@pytest.mark.slow
def test_a_redacted_export_is_watermarked_free_of_personal_data_and_delivered_once(
    env: Env, api: TestClient
) -> None:
    from sealroom.redaction import redact

    data = _document("clinical")
    image_id = _ingest(env, data)
    pat = login(api, env, "pat")
    request = _request(api, pat, image_id)
    _approve(env, str(request["id"]))

    response = _download(api, pat, request["id"])
    assert response.status_code == 200, response.text
    content: bytes = response.content
    digest = hashlib.sha256(content).hexdigest()
    assert response.headers["content-type"] == "image/png"
    assert response.headers[SHA256_HEADER] == digest
    chunks = _png_chunks(content)
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND" and set(chunks) == {b"IHDR", b"IDAT", b"IEND"}
    (delivered,) = [e for e in _events(env, "delivery.export") if e.outcome == "success"]
    assert delivered.details["sha256"] == digest and delivered.details["bytes"] == len(content)
    assert delivered.details["watermark"] is True and delivered.details["redaction"]["regions"] > 0
    assert delivered.actor == "pat" and delivered.image_id == image_id

    # Once only; and never for someone else.
    assert _download(api, pat, request["id"]).status_code == 410
    assert _download(api, login(api, env, "ada"), request["id"]).status_code == 404

    # The offline analysis of the original that the export was redacted from, kept in pat's session
    # (running it again here would cost another OCR pass).
    active = env.workspace.sessions.resolve(pat["Authorization"].removeprefix("Bearer "))
    opened = env.workspace.sessions.material.get(active.id, image_id)
    assert opened is not None
    original = opened.results[FULL_ANALYSIS_KEY]
    engine = env.workspace.engines.get("local")
    exported = _page(content)
    read = engine.analyze([exported]).text
    flat = " ".join(read.split())
    assert "SEALROOM EXPORT" in flat.upper()
    band = [line for line in read.splitlines() if "SEALROOM" in line.upper() and "pat" in line]
    assert band, read
    # The request id is random hex, which the OCR may misread here and there: most of it must be there.
    wanted, compact = str(request["id"])[:12].lower(), read.replace(" ", "").lower()
    windows = (compact[i : i + 12] for i in range(len(compact) - 11))
    assert any(sum(a == b for a, b in zip(w, wanted, strict=True)) >= 10 for w in windows), read

    placed = [entity for entity in original.entities if entity.bbox is not None]
    assert {"PERSON", "MRN", "DATE_OF_BIRTH", "SSN"} <= {entity.type for entity in placed}
    for value in [entity.text for entity in placed] + [
        LAB_PATIENT["MRN"],
        LAB_PATIENT["Date of Birth"],
        LAB_PATIENT["SSN"],
        "Whitfield",
    ]:
        assert value not in read, value

    # The band is added below the page, so the regions sit where they were planned; each is solid black.
    pixels = np.asarray(exported.image)
    regions = redact([_page(data)], original).regions
    assert regions
    for region in regions:
        x0, y0, x1, y1 = region.bbox
        assert not pixels[y0:y1, x0:x1].any(), region
