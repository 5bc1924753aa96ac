"""Attacks on the API, the CLI and ingest, written down as tests.

Two kinds of test live here:

* defences that held when tried by hand and are locked in (throttling by canonical name, logout and
  fixation, no token in the URL, no state change by GET, authz across cases/data sets/classifications,
  malformed ids, security headers on every answer, nothing secret in the audit log, tamper detection,
  key-file mode checks for ``serve``);
* ``test_bug_*`` tests that show a real problem found in the security review. They fail until it is fixed;
  each says what the fix should make true.
"""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from typer.testing import CliRunner

from sealroom.cli.main import app as cli_app
from sealroom.db.models import AuditEvent, Grant, User
from sealroom.demo.documents import render_lab_report
from sealroom.vault.service import IngestRequest
from tests.conftest import CLINICAL_CASE, PASSWORD, Env, login

UPLOAD = "/api/v1/images?dataset={dataset}&case_id={case}&document_type={doc}"
IMAGE_MAGICS = (b"\x89PNG", b"\xff\xd8\xff", b"%PDF", b"II*\x00", b"MM\x00*")


# --- helpers -----------------------------------------------------------------------------------------


def _ingest(
    env: Env,
    data: bytes,
    *,
    dataset: str = "clinical-records",
    case: str = CLINICAL_CASE,
    doc: str = "clinical",
    classification: str | None = None,
) -> str:
    intake = env.session("nora")
    meta = env.workspace.vault.ingest(intake, data, IngestRequest(dataset, case, doc, classification))
    env.workspace.sessions.end(intake.id, "logout")
    return str(meta["id"])


def _assert_safe_response(response: Response) -> None:
    """What every answer must look like: not cacheable, not sniffable, never an image."""
    assert response.headers.get("cache-control") == "no-store", response.request.url
    assert response.headers.get("x-content-type-options") == "nosniff"
    content_type = response.headers.get("content-type", "")
    assert not content_type.startswith(("image/", "application/pdf")), content_type
    assert not response.content.startswith(IMAGE_MAGICS)


def _audit_text(env: Env) -> str:
    with env.workspace.db() as db:
        events = db.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        return "\n".join(
            json.dumps(
                [e.actor, e.action, e.outcome, e.reason, e.case_id, e.image_id, e.details], default=str
            )
            for e in events
        )


# --- hostile PDFs the active-content scan misses ------------------------------------------------------


def _pdf(
    objects: dict[int, bytes], object_stream: tuple[int, dict[int, bytes], list[str]] | None = None
) -> bytes:
    """A one-page PDF 1.7 with a cross-reference stream; optionally some objects packed in an ObjStm.

    ``object_stream`` is (stream object number, {object number: body}, filters outermost first), where a
    filter is "Flate" or "Hex".
    """
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number, body in sorted(objects.items()):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    packed: dict[int, tuple[int, int]] = {}
    if object_stream is not None:
        stream_number, inner, filters = object_stream
        header, payload = b"", b""
        for index, (number, body) in enumerate(sorted(inner.items())):
            packed[number] = (stream_number, index)
            header += b"%d %d " % (number, len(payload))
            payload += body + b"\n"
        encoded, names = header + payload, []
        for name in reversed(filters):
            if name == "Flate":
                encoded, names = zlib.compress(encoded), [b"/FlateDecode", *names]
            else:
                encoded, names = encoded.hex().encode() + b">", [b"/ASCIIHexDecode", *names]
        offsets[stream_number] = len(out)
        out += (
            b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Length %d /Filter [%s] >>\nstream\n"
            % (stream_number, len(inner), len(header), len(encoded), b" ".join(names))
            + encoded
            + b"\nendstream\nendobj\n"
        )
    size = max([*offsets, *packed]) + 2
    xref_number, xref_offset = size - 1, len(out)
    rows = b""
    for number in range(size):
        if number in offsets:
            rows += b"\x01" + offsets[number].to_bytes(4, "big") + b"\x00"
        elif number in packed:
            rows += b"\x02" + packed[number][0].to_bytes(4, "big") + bytes([packed[number][1]])
        elif number == xref_number:
            rows += b"\x01" + xref_offset.to_bytes(4, "big") + b"\x00"
        else:
            rows += b"\x00\x00\x00\x00\x00\xff"
    out += (
        b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 1] /Root 1 0 R /Length %d >>\nstream\n"
        % (xref_number, size, len(rows))
        + rows
        + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_offset
    )
    return bytes(out)


_CONTENT = b"BT /F1 24 Tf 72 700 Td (Lab report) Tj ET"
_JS_ACTION = b"<< /Type /Action /S /JavaScript /JS (app.alert\\(1\\)) >>"


def _page_objects(catalog_extra: bytes = b"") -> dict[int, bytes]:
    return {
        1: b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b">>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>",
        4: b"<< /Length %d >>\nstream\n" % len(_CONTENT) + _CONTENT + b"\nendstream",
    }


def _pdf_js_in_object_stream(filters: list[str]) -> bytes:
    """An /OpenAction JavaScript action packed, with the page tree, into an object stream.

    The page tree sits in the same stream, so a PDF that renders proves PDFium read the stream: the
    JavaScript object beside it is live for any viewer that runs scripts.
    """
    objects = _page_objects(b"/OpenAction 5 0 R")
    pages = objects.pop(2)
    return _pdf(objects, (6, {2: pages, 5: _JS_ACTION}, filters))


# --- authentication and sessions: defences ------------------------------------------------------------


def test_username_case_and_whitespace_variants_share_one_throttle(env: Env, client: TestClient) -> None:
    for variant in ("SAM", " sam", "Sam\t", "sAm ", "sam"):
        response = client.post(
            "/api/v1/login", json={"username": variant, "password": "wrong-password-123", "totp": "000000"}
        )
        assert response.status_code == 401
    response = client.post(
        "/api/v1/login", json={"username": "sam", "password": PASSWORD, "totp": env.fresh_code("sam")}
    )
    assert response.status_code == 429, response.text
    assert response.headers.get("retry-after")


def test_lookalike_unicode_username_does_not_reach_the_account(env: Env, client: TestClient) -> None:
    for lookalike in ("ｓａｍ", "sam\u200b", "\u0455am"):  # fullwidth, zero-width space, Cyrillic dze
        response = client.post(
            "/api/v1/login", json={"username": lookalike, "password": PASSWORD, "totp": env.fresh_code("sam")}
        )
        assert response.status_code == 401, (lookalike, response.text)
        _assert_safe_response(response)


def test_totp_code_of_a_previous_login_is_refused_even_by_a_new_client(env: Env, client: TestClient) -> None:
    code = env.fresh_code("sam")
    first = client.post("/api/v1/login", json={"username": "sam", "password": PASSWORD, "totp": code})
    assert first.status_code == 200
    client.cookies.clear()
    env.clock.advance(seconds=25)  # still within the accepted window of that code
    again = client.post("/api/v1/login", json={"username": " SAM ", "password": PASSWORD, "totp": code})
    assert again.status_code == 401


def test_session_fixation_a_cookie_set_before_login_is_never_adopted(env: Env, client: TestClient) -> None:
    planted = "attacker-chosen-token-value-0123456789abcdef"
    client.cookies.set("sealroom_session", planted)
    response = client.post(
        "/api/v1/login", json={"username": "sam", "password": PASSWORD, "totp": env.fresh_code("sam")}
    )
    assert response.status_code == 200
    assert response.json()["token"] != planted
    assert response.cookies.get("sealroom_session") not in (None, planted)
    client.cookies.clear()
    assert client.get("/api/v1/session", headers={"Authorization": f"Bearer {planted}"}).status_code == 401


def test_after_logout_neither_bearer_nor_cookie_nor_a_second_logout_works(
    env: Env, client: TestClient
) -> None:
    headers = login(client, env, "sam")
    token = headers["Authorization"].removeprefix("Bearer ")
    response = client.post("/api/v1/logout", headers=headers)
    assert response.status_code == 200
    assert "cookies" in response.headers.get("clear-site-data", "")
    assert client.get("/api/v1/session", headers=headers).status_code == 401
    client.cookies.set("sealroom_session", token)
    assert client.get("/api/v1/images").status_code == 401
    client.cookies.clear()
    assert client.post("/api/v1/logout", headers=headers).status_code == 401


@pytest.mark.parametrize("name", ["token", "access_token", "session", "sealroom_session"])
def test_a_token_in_the_query_string_is_not_accepted(env: Env, client: TestClient, name: str) -> None:
    token = login(client, env, "sam")["Authorization"].removeprefix("Bearer ")
    response = client.get(f"/api/v1/images?{name}={token}")
    assert response.status_code == 401
    _assert_safe_response(response)


def test_state_changing_routes_refuse_get_and_the_session_survives(env: Env, client: TestClient) -> None:
    headers = login(client, env, "sam")
    for method, path in [
        ("GET", "/api/v1/logout"),
        ("GET", "/api/v1/login"),
        ("GET", f"/api/v1/images/{'0' * 32}/analyses"),
        ("PUT", "/api/v1/images"),
        ("DELETE", f"/api/v1/images/{'0' * 32}"),
    ]:
        response = client.request(method, path, headers=headers)
        assert response.status_code == 405, (method, path, response.status_code)
        _assert_safe_response(response)
    assert client.get("/api/v1/session", headers=headers).status_code == 200


def test_login_refuses_form_and_text_bodies(client: TestClient) -> None:
    """A cross-site HTML form can only send these content types; login must not parse them."""
    body = f"username=sam&password={PASSWORD}"
    for content_type in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data"):
        response = client.post("/api/v1/login", content=body, headers={"content-type": content_type})
        assert response.status_code == 422, (content_type, response.text)
        assert PASSWORD not in response.text


# --- authorisation ------------------------------------------------------------------------------------


def test_scope_is_enforced_across_case_dataset_and_classification(env: Env, client: TestClient) -> None:
    """sam holds a grant for CLINICAL_CASE only, up to 'confidential', clinical-records only."""
    data = render_lab_report()
    allowed = _ingest(env, data)
    other_case = _ingest(env, data, case="ENC-2026-9999")
    same_case_other_dataset = _ingest(env, data, dataset="finance-records", doc="financial")
    same_case_higher_class = _ingest(env, data, classification="restricted")
    same_case_other_type = _ingest(env, data, doc="legal")
    headers = login(client, env, "sam")

    listed = {image["id"] for image in client.get("/api/v1/images", headers=headers).json()["images"]}
    assert listed == {allowed}

    missing = client.get(f"/api/v1/images/{'0' * 32}", headers=headers)
    assert missing.status_code == 404
    for image_id in (other_case, same_case_other_dataset, same_case_higher_class, same_case_other_type):
        described = client.get(f"/api/v1/images/{image_id}", headers=headers)
        assert (described.status_code, described.json()) == (404, missing.json())
        analysed = client.post(f"/api/v1/images/{image_id}/analyses", headers=headers, json={})
        assert (analysed.status_code, analysed.json()) == (404, missing.json())
    reasons = _audit_text(env)
    for reason in ("no_case_grant", "dataset_out_of_scope", "classification_above_clearance"):
        assert reason in reasons


def test_revoked_grant_closes_access_inside_an_open_session(env: Env, client: TestClient) -> None:
    image_id = _ingest(env, render_lab_report())
    headers = login(client, env, "sam")
    assert client.get(f"/api/v1/images/{image_id}", headers=headers).status_code == 200
    with env.workspace.db() as db:
        sam = db.scalar(select(User).where(User.username == "sam"))
        assert sam is not None
        grant_id = db.scalar(select(Grant.id).where(Grant.user_id == sam.id))
    env.workspace.grants.revoke_grant(grant_id, revoked_by="operator:test")
    assert client.get(f"/api/v1/images/{image_id}", headers=headers).status_code == 404
    assert client.get("/api/v1/images", headers=headers).json()["images"] == []


def test_auditor_cannot_see_images_and_clinician_cannot_read_audit(env: Env, client: TestClient) -> None:
    image_id = _ingest(env, render_lab_report())
    kim = login(client, env, "kim")
    assert client.get(f"/api/v1/images/{image_id}", headers=kim).status_code == 404
    assert client.post(f"/api/v1/images/{image_id}/analyses", headers=kim, json={}).status_code == 404
    sam = login(client, env, "sam")
    for path in ("/api/v1/audit/events", "/api/v1/audit/verify"):
        response = client.get(path, headers=sam)
        assert response.status_code == 403
        _assert_safe_response(response)
    upload = UPLOAD.format(dataset="clinical-records", case=CLINICAL_CASE, doc="clinical")
    assert client.post(upload, content=render_lab_report(), headers=sam).status_code == 403


@pytest.mark.parametrize(
    "image_id",
    [
        "../../etc/passwd",
        "..%2f..%2fkeys%2fworkspace.key",
        "%2e%2e%2fsealroom.db",
        "0" * 31 + "G",
        "ABCDEF" + "0" * 26,
        "0" * 33,
        "0" * 5000,
        "00000000000000000000000000000000%00",
        "' OR 1=1 --",
        "\u0660" * 32,  # Arabic-Indic zeros: digits to str.isdigit, not to the id pattern
    ],
)
def test_malformed_image_ids_are_refused_without_touching_storage(
    env: Env, client: TestClient, image_id: str
) -> None:
    headers = login(client, env, "sam")
    for method, suffix in (("GET", ""), ("POST", "/analyses")):
        response = client.request(method, f"/api/v1/images/{image_id}{suffix}", headers=headers)
        assert response.status_code in (307, 404, 405, 422), (image_id, response.status_code)
        _assert_safe_response(response)
        assert "Traceback" not in response.text and "sealroom.db" not in response.text


def test_huge_and_odd_query_parameters_are_bounded(env: Env, client: TestClient) -> None:
    kim = login(client, env, "kim")
    for query in (
        "actor=" + "a" * 20000,
        "limit=100000",
        "limit=-1",
        "after_seq=-5",
        "since=not-a-date",
    ):
        response = client.get(f"/api/v1/audit/events?{query}", headers=kim)
        assert response.status_code == 422, (query, response.status_code)
        _assert_safe_response(response)


# --- hostile requests and files -----------------------------------------------------------------------


def test_malformed_json_and_wrong_content_types_get_clean_4xx(env: Env, client: TestClient) -> None:
    image_id = _ingest(env, render_lab_report())
    headers = login(client, env, "sam")
    url = f"/api/v1/images/{image_id}/analyses"
    for content, content_type in (
        (b"{bad", "application/json"),
        (b"[" * 50000, "application/json"),
        (b'{"engine": "local", "extra": 1}', "application/json"),
        (b'{"engine": "../../../etc/passwd"}', "application/json"),
        (b'{"engine": "local"}', "text/plain"),
        (b"\xff\xfe\x00", "application/json"),
    ):
        response = client.post(url, content=content, headers={**headers, "content-type": content_type})
        assert 400 <= response.status_code < 500, (content[:20], content_type, response.status_code)
        _assert_safe_response(response)
        assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("svg-with-png-magic", b"\x89PNG\r\n\x1a\n<svg xmlns='http://www.w3.org/2000/svg'/>", "truncated"),
        ("html-utf16", "<html><script>alert(1)</script></html>".encode("utf-16"), ""),
        ("pdf-js-plain", _pdf({**_page_objects(b"/OpenAction 5 0 R"), 5: _JS_ACTION}), "JavaScript"),
        ("pdf-js-in-flate-object-stream", _pdf_js_in_object_stream(["Flate"]), "JavaScript"),
        ("empty", b"", ""),
    ],
)
def test_hostile_uploads_are_refused_and_nothing_is_stored(
    env: Env, client: TestClient, name: str, data: bytes, message: str
) -> None:
    headers = login(client, env, "nora")
    upload = UPLOAD.format(dataset="clinical-records", case=CLINICAL_CASE, doc="clinical")
    response = client.post(upload, content=data, headers={**headers, "content-type": "image/png"})
    assert 400 <= response.status_code < 500, (name, response.text)
    assert message.lower() in response.json()["message"].lower()
    _assert_safe_response(response)
    assert not [p for p in (env.root / "blobs").rglob("*") if p.is_file()]


def test_chunked_upload_over_the_limit_is_cut_off(env: Env, client: TestClient) -> None:
    """No Content-Length (chunked): the stream is counted and stopped at the limit."""
    limit = env.workspace.settings.limits.max_file_bytes
    headers = login(client, env, "nora")
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(limit // (1 << 20) + 8):  # bounded: 8 MiB past the limit at most
            sent += 1 << 20
            yield b"\x00" * (1 << 20)

    upload = UPLOAD.format(dataset="clinical-records", case=CLINICAL_CASE, doc="clinical")
    response = client.post(upload, content=body(), headers=headers)
    assert response.status_code == 413, response.text
    _assert_safe_response(response)


# --- audit ------------------------------------------------------------------------------------------


def test_audit_holds_no_password_code_or_typed_secret(env: Env, client: TestClient) -> None:
    secret_like = "Tr0ub4dor&3-typed-into-the-username-field"
    client.post("/api/v1/login", json={"username": secret_like, "password": PASSWORD, "totp": "123456"})
    client.post("/api/v1/login", json={"username": "sam", "password": "not-" + PASSWORD, "totp": "654321"})
    good_code = env.fresh_code("pat")
    client.post("/api/v1/login", json={"username": "pat", "password": PASSWORD, "totp": good_code})
    text = _audit_text(env)
    for value in (
        secret_like.lower(),
        secret_like,
        PASSWORD,
        "123456",
        "654321",
        good_code,
        env.secrets["pat"],
    ):
        assert value not in text, value


def _cli(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli_app, list(args), env={"SEALROOM_WORKSPACE": str(root), **(env or {})})
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "tamper",
    [
        "update audit_events set outcome = 'allow' where action = 'access.decision' and outcome = 'deny'",
        "delete from audit_events where seq = 3",
        "update audit_events set details = '{}' where seq = 2",
        "update audit_events set seq = seq + 1000 where seq = 4",
    ],
)
def test_cli_audit_verify_detects_tampering_of_the_database(
    env: Env, client: TestClient, tamper: str
) -> None:
    headers = login(client, env, "sam")
    client.get(f"/api/v1/images/{'0' * 32}", headers=headers)  # a denial on record
    client.post("/api/v1/logout", headers=headers)
    root = env.root
    env.workspace.close()
    with sqlite3.connect(root / "sealroom.db") as db:
        assert db.execute(tamper).rowcount >= 1
    code, out = _cli(root, "audit", "verify")
    assert code != 0, out
    assert re.search(r"record \d+", out), out


def test_serve_refuses_to_start_with_a_world_readable_key(env: Env) -> None:
    root = env.root
    env.workspace.close()
    for key in ("keys/workspace.key", "keys/audit.key"):
        (root / key).chmod(0o644)
        code, out = _cli(root, "serve", "--port", "1")
        assert code == 3 and "chmod 600" in out, out
        code, out = _cli(root, "user", "list")
        assert code == 3, out
        (root / key).chmod(0o600)


# --- regressions: faults found in the security review, fixed and locked in here ---------------------


def test_a_user_without_mfa_cannot_sign_in_with_a_password_only(env: Env, client: TestClient) -> None:
    """PRODUCT.md: sensitive classifications require a recent second factor.

    A user created with ``user add`` and never enrolled signs in with the password alone and gets a
    session that opens confidential clinical images. Expected: refused (no session without MFA, or no
    access to confidential/restricted material while ``mfa_verified_at`` is empty).
    """
    image_id = _ingest(env, render_lab_report())
    env.workspace.identity.add_user("olga", PASSWORD, ["clinician"], actor="operator:test")
    env.workspace.grants.create_grant(
        "olga", CLINICAL_CASE, purpose="care", duration=timedelta(hours=1), granted_by="operator:test"
    )
    response = client.post("/api/v1/login", json={"username": "olga", "password": PASSWORD})
    if response.status_code == 200:
        client.cookies.clear()
        headers = {"Authorization": f"Bearer {response.json()['token']}"}
        described = client.get(f"/api/v1/images/{image_id}", headers=headers)
        assert described.status_code in (401, 403, 404), (
            "a password-only session opened a confidential image: " + described.text
        )


def test_an_unauthenticated_json_body_is_cut_off_at_the_limit(client: TestClient) -> None:
    """POST /api/v1/login (no session needed) reads any body into memory; 300 MB raised server RSS to 700 MB.

    Expected: a small cap for JSON routes (e.g. ``FastAPI(max_body_size=...)`` or a check in the ASGI
    middleware) answering 413 before the body is read.
    """
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"username": "sam", "password": "'
        for _ in range(8):  # 8 MiB: far over anything a login needs, small enough for CI
            sent += 1 << 20
            yield b"x" * (1 << 20)
        yield b'"}'

    response = client.post("/api/v1/login", content=body(), headers={"content-type": "application/json"})
    assert response.status_code == 413, f"{response.status_code} after reading {sent} bytes: {response.text}"


@pytest.mark.parametrize(
    "filters",
    [["Flate", "Flate"], ["Hex"], ["Hex", "Flate"]],
    ids=["flate-twice", "asciihex", "hex-then-flate"],
)
def test_pdf_javascript_behind_any_stream_filter_is_refused(
    env: Env, client: TestClient, filters: list[str]
) -> None:
    """docs/security.md: active PDF content is refused. ``vault.pdfscan`` inflates an object stream once
    with zlib and otherwise scans its raw bytes, so a stream with ``[/FlateDecode /FlateDecode]`` or
    ``/ASCIIHexDecode`` hides ``/S /JavaScript`` (PDFium reads the page tree from the same stream, so
    the file is accepted and stored). Expected: decode the object stream through its whole filter chain,
    or refuse object streams with filters other than a single FlateDecode.
    """
    headers = login(client, env, "nora")
    upload = UPLOAD.format(dataset="clinical-records", case=CLINICAL_CASE, doc="clinical")
    response = client.post(upload, content=_pdf_js_in_object_stream(filters), headers=headers)
    assert response.status_code == 422, f"stored a PDF with an /OpenAction JavaScript: {response.text}"
    assert "javascript" in response.json()["message"].lower()


def test_pdf_uri_open_action_is_refused(env: Env, client: TestClient) -> None:
    """A PDF that calls out to a URL when opened (``/OpenAction << /S /URI >>``) is not on the active list.

    Expected: ``URI`` (and ``GoToR``, ``Sound``, ``Movie``, ``Rendition``) treated as active content.
    """
    action = b"<< /Type /Action /S /URI /URI (https://attacker.invalid/beacon) >>"
    data = _pdf({**_page_objects(b"/OpenAction 5 0 R"), 5: action})
    headers = login(client, env, "nora")
    upload = UPLOAD.format(dataset="clinical-records", case=CLINICAL_CASE, doc="clinical")
    response = client.post(upload, content=data, headers=headers)
    assert response.status_code == 422, f"stored a PDF that beacons out when opened: {response.text}"


def test_a_huge_after_seq_is_a_clean_4xx(env: Env, client: TestClient) -> None:
    """``after_seq`` has ``ge=0`` but no upper bound; a value past SQLite's 64-bit INTEGER raises
    ``OverflowError`` inside the query (a 500, logged as unhandled). Expected: ``le=2**63 - 1`` → 422."""
    kim = login(client, env, "kim")
    quiet = TestClient(client.app, raise_server_exceptions=False)
    response = quiet.get("/api/v1/audit/events?after_seq=99999999999999999999999999", headers=kim)
    assert response.status_code == 422, response.text


def test_upload_is_authorised_before_the_request_is_validated(env: Env, client: TestClient) -> None:
    """A clinician (no ``image:ingest``) probing the upload route learns every data set, classification
    and document type of the workspace, and the attempt leaves no audit record. Expected: the
    permission check first (403, audited), the config details only for roles that may ingest.
    """
    headers = login(client, env, "sam")
    with env.workspace.db() as db:
        before = db.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    upload = UPLOAD.format(dataset="probe", case=CLINICAL_CASE, doc="clinical")
    response = client.post(upload, content=b"x", headers=headers)
    assert "identity-docs" not in response.text, response.text
    assert response.status_code == 403, response.text
    with env.workspace.db() as db:
        after = db.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    assert after is not None and before is not None and after > before


def test_init_suggests_a_next_command_that_parses(tmp_path: Path) -> None:
    """``sealroom init`` prints ``sealroom -w ROOT user add NAME --role ROLE``; ``-w`` is not a global
    option, so the very first command a newcomer copies fails with "No such option: -w"."""
    root = tmp_path / "ws"
    code, out = _cli(root, "init", str(root))
    assert code == 0, out
    suggested = next(line for line in out.splitlines() if "user add" in line)
    args = shlex.split(suggested.strip())[1:]
    args = [("nora" if a == "NAME" else "intake" if a == "ROLE" else a) for a in args]
    code, out = _cli(root, *args, env={"SEALROOM_NEW_PASSWORD": PASSWORD})
    assert code == 0, f"{suggested!r} -> exit {code}: {out}"
