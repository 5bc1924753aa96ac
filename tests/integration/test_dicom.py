"""DICOM end to end: ingest (API and CLI), header and burned-in PHI, redacted egress, ``dcm`` export.

The files are built in the tests (``tests/dicom_files.py``): a 12-bit CT with header PHI, a private
block, nested sequences and the patient's name and ID burned into the pixels.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pyotp
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydicom.uid import MPEG4HP41

from sealroom.analysis.local.ocr import OcrReader
from sealroom.analysis.tasks import build_task
from sealroom.api.app import create_app
from sealroom.api.exports import router as exports_router
from sealroom.config import LimitSettings
from sealroom.vault.decode import decode_document
from tests.conftest import CLINICAL_CASE, PASSWORD, Env, login
from tests.dicom_files import BURNED_ID, BURNED_NAME, Built, build, with_syntax
from tests.integration.test_cli import _add_user, sealroom
from tests.integration.test_model_analysis import KEY_ENV, configure, ingest
from tests.model_server import ModelServer, images, reply

UPLOAD = f"/api/v1/images?dataset=clinical-records&case_id={CLINICAL_CASE}&document_type=clinical"
EXPORTS = "/api/v1/exports"
BURNED = ("QUINLAN", "THADDEUS", "48213977")


def _ocr(data: bytes) -> str:
    """All text the offline OCR reads on every frame of a DICOM file."""
    reader = OcrReader()
    pages = decode_document(data, LimitSettings()).pages
    return " ".join(segment.text for page in pages for segment in reader.read(page)).upper()


@pytest.fixture(scope="module")
def scan() -> Built:
    """Two frames: the name and ID burned into the second one only."""
    return build(frames=[["SERIES 2 AXIAL"], [BURNED_NAME, BURNED_ID]])


@pytest.fixture
def api(env: Env) -> Iterator[TestClient]:
    app = create_app(env.workspace, sweep=False)
    if not any(getattr(route, "path", "").startswith(EXPORTS) for route in app.routes):
        app.include_router(exports_router)
    with TestClient(app) as test_client:
        yield test_client


def test_a_dicom_named_png_is_ingested_as_dicom_and_stored_encrypted(
    env: Env, client: TestClient, scan: Built
) -> None:
    headers = login(client, env, "nora")
    response = client.post(UPLOAD, content=scan.data, headers=headers)  # the name plays no part
    assert response.status_code == 201, response.text
    meta = response.json()
    assert (meta["media_type"], meta["pages"], meta["width"], meta["height"]) == (
        "application/dicom",
        2,
        512,
        512,
    )
    blobs = [p for p in (env.root / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1
    stored = blobs[0].read_bytes()
    assert b"DICM" not in stored and b"QUINLAN" not in stored and scan.data[132:196] not in stored


def test_an_unsupported_syntax_is_a_clear_422_and_nothing_is_stored(
    env: Env, client: TestClient, scan: Built
) -> None:
    headers = login(client, env, "nora")
    data = with_syntax(build(rows=64, columns=64).data, MPEG4HP41, b"\x00\x00\x01\xb3" + bytes(60))
    response = client.post(UPLOAD, content=data, headers=headers)
    assert response.status_code == 422
    assert "MPEG-4" in response.json()["message"] and "supported" in response.json()["message"]
    assert not [p for p in (env.root / "blobs").rglob("*") if p.is_file()]


@pytest.mark.slow
def test_every_header_phi_item_and_the_burned_in_name_and_id_are_found(env: Env, scan: Built) -> None:
    image_id = ingest(env, scan.data)
    result = env.workspace.analysis.analyze(env.session("pat"), image_id, "local", build_task("describe"))
    assert result["masked"] is False
    reported = {(e["source"].rsplit(" ", 1)[-1], e["text"], e["type"]) for e in result["entities"]}
    for item in scan.phi:
        assert (item.keyword, item.value, item.entity_type) in reported, item
    private = sorted(e["source"].split()[2] for e in result["entities"] if e["type"] == "DICOM_PRIVATE")
    assert private == scan.private_tags
    in_pixels = [e for e in result["entities"] if e["bbox"] is not None]
    name = [e for e in in_pixels if e["type"] == "PERSON" and "QUINLAN" in e["text"].upper()]
    mrn = [e for e in in_pixels if "48213977" in e["text"]]
    assert name and mrn
    assert {e["page"] for e in name + mrn} == {1}  # on the second frame, where they were burned in
    for entity in name + mrn:
        x0, y0, x1, y1 = entity["bbox"]
        assert 0 <= x0 < x1 <= 300 and 0 <= y0 < y1 <= 120  # top left, where the text was drawn

    masked = env.workspace.analysis.analyze(env.session("sam"), image_id, "local", build_task("describe"))
    assert masked["masked"] is True
    text = str(masked)
    for item in scan.phi:
        assert item.value not in text, item
    assert "QUINLAN" not in text.upper() and "48213977" not in text


@pytest.mark.slow
def test_redacted_egress_sends_the_de_identified_derivatives_pixels(
    env: Env, model_server: ModelServer, monkeypatch: pytest.MonkeyPatch, scan: Built
) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-ant-test-dicom")
    configure(env, model_server, clinical="redacted")
    image_id = ingest(env, scan.data)
    for _ in range(2):
        model_server.queue(reply('{"summary": "A CT image.", "document_type": "clinical"}'))
    env.workspace.analysis.analyze(env.session("sam"), image_id, "claude", build_task("describe"))
    (request,) = model_server.requests
    sent = images(request)
    assert len(sent) == 2
    seen = " ".join(
        segment.text
        for data in sent
        for segment in OcrReader().read(Image.open(io.BytesIO(data)).convert("RGB"))
    ).upper()
    for value in BURNED:
        assert value not in seen, value


@pytest.mark.slow
def test_an_approved_dcm_export_is_the_de_identified_derivative(
    env: Env, api: TestClient, scan: Built
) -> None:
    image_id = ingest(env, scan.data)
    pat = login(api, env, "pat")
    response = api.post(
        EXPORTS, headers=pat,
        json={"image_id": image_id, "format": "dcm", "variant": "redacted", "reason": "tumour board"},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    request_id = response.json()["id"]
    approver = env.session("ada")
    env.workspace.requests.approve(approver, request_id, "ok")
    download = api.post(f"{EXPORTS}/{request_id}/download", headers=pat)
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("application/dicom")
    data = download.content

    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.PatientIdentityRemoved == "YES"
    assert not any(elem.tag.is_private for elem in ds.iterall())
    for item in scan.phi:
        assert item.value.encode() not in data, item
    original = pydicom.dcmread(io.BytesIO(scan.data))
    assert ds.StudyInstanceUID != original.StudyInstanceUID
    seen = _ocr(data)
    for value in BURNED:
        assert value not in seen, value
    assert "SEALROOM EXPORT PAT" in seen
    # The request id is random hex, which the OCR misreads here and there (f as T, 0 as O): the
    # watermark must carry a 32-character id that agrees with the request's in most places.
    match = re.search(r"REQUEST\s*([0-9A-Z]{32})", seen.upper())
    assert match is not None, seen
    agree = sum(a == b for a, b in zip(match.group(1), request_id.upper(), strict=True))
    assert agree >= 24, (seen, request_id)


def test_a_dcm_export_of_a_non_dicom_image_is_refused_clearly(env: Env, api: TestClient) -> None:
    from sealroom.demo.documents import render_lab_report

    image_id = ingest(env, render_lab_report())
    pat = login(api, env, "pat")
    response = api.post(
        EXPORTS, json={"image_id": image_id, "format": "dcm", "variant": "redacted", "reason": "referral"},
        headers=pat,
    )  # fmt: skip
    assert response.status_code == 400
    assert "only from DICOM images" in response.json()["message"]


def test_the_cli_ingests_a_dicom_file(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    code, out = sealroom(root, "init", str(root))
    assert code == 0, out
    nora = _add_user(root, "nora", "intake")
    path = tmp_path / "scan.dcm"
    path.write_bytes(build(rows=128, columns=128).data)
    code, out = sealroom(
        root, "ingest", str(path), "--user", "nora", "--dataset", "clinical-records", "--case", "ENC-1",
        "--type", "clinical", env={"SEALROOM_PASSWORD": PASSWORD, "SEALROOM_TOTP": pyotp.TOTP(nora).now()},
    )  # fmt: skip
    assert code == 0, out
    assert "1 stored" in out and re.search(r"\b[0-9a-f]{32}\b", out)
    for file in root.rglob("*"):
        if file.is_file():
            assert b"QUINLAN" not in file.read_bytes(), file
