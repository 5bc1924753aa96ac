"""Second security review: lifecycle races, audit edge cases, failure handling, masking of demo documents.

Like ``test_attacks.py``: plain tests lock in defences that held; ``test_bug_*`` tests show a real
problem and fail until it is fixed (each docstring says what the fix should make true).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from typer.testing import CliRunner

from sealroom.analysis.models import (
    AnalysisResult,
    AnalysisTask,
    CallObserver,
    EngineInfo,
    Entity,
    ExtractedField,
    PageImage,
    PageText,
)
from sealroom.analysis.registry import EngineRegistry
from sealroom.api.app import create_app
from sealroom.cli.main import app as cli_app
from sealroom.db.models import AuditEvent, Image, SessionImage
from sealroom.demo.documents import render_lab_report
from sealroom.vault.service import IngestRequest
from sealroom.workspace import Workspace
from tests.conftest import CLINICAL_CASE, PASSWORD, Env, login

UPLOAD = "/api/v1/images?dataset={dataset}&case_id={case}&document_type={doc}"
WAIT = 20.0


# --- helpers -----------------------------------------------------------------------------------------


def _ingest(env: Env, data: bytes, *, case: str = CLINICAL_CASE) -> str:
    intake = env.session("nora")
    meta = env.workspace.vault.ingest(intake, data, IngestRequest("clinical-records", case, "clinical"))
    env.workspace.sessions.end(intake.id, "logout")
    return str(meta["id"])


def _events(env: Env, after: int = 0) -> list[AuditEvent]:
    with env.workspace.db() as db:
        rows = list(db.scalars(select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq)))
        db.expunge_all()
        return rows


def _head(env: Env) -> int:
    with env.workspace.db() as db:
        return db.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) or 0


class GatedEngine:
    """A fake engine that waits for the test before it answers (to hold a request mid-analysis)."""

    name = "local"
    egress = "none"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail: Exception | None = None

    def info(self) -> EngineInfo:
        return EngineInfo(name="local", kind="local", egress="none")

    def analyze(
        self,
        pages: Sequence[PageImage],
        task: AnalysisTask = AnalysisTask(),
        *,
        observer: CallObserver | None = None,
    ) -> AnalysisResult:
        self.entered.set()
        assert self.release.wait(WAIT)
        if self.fail is not None:
            raise self.fail
        text = "Patient Name: Eleanor Whitfield SSN: 512-38-4471"
        return AnalysisResult(
            engine="local",
            document_type="clinical",
            document_type_confidence=0.9,
            pages=[PageText(0, 10, 10, text)],
            entities=[Entity("SSN", "512-38-4471", 0, None, 0.9, 37, 48, "ssn")],
            fields=[ExtractedField("Patient Name", "Eleanor Whitfield", 0, None, "PERSON")],
        )


@pytest.fixture
def gated(env: Env) -> Iterator[tuple[GatedEngine, TestClient]]:
    """``env``'s workspace reopened with the gated fake engine, and an app client on it."""
    engine = GatedEngine()
    env.workspace.close()
    env.workspace = Workspace.open(
        env.root, clock=env.clock, engines=EngineRegistry({"local": lambda: engine})
    )
    with TestClient(create_app(env.workspace, sweep=False)) as test_client:
        yield engine, test_client
    engine.release.set()


def _in_thread(call: Callable[[], Response]) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["response"] = call()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def _unpurged_rows(env: Env, session_id: str) -> list[str]:
    with env.workspace.db() as db:
        return list(
            db.scalars(
                select(SessionImage.image_id).where(
                    SessionImage.session_id == session_id, SessionImage.purged_at.is_(None)
                )
            )
        )


def _cli(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli_app, list(args), env={"SEALROOM_WORKSPACE": str(root)})
    return result.exit_code, result.output + (repr(result.exception) if result.exception else "")


# --- 1. session and material lifecycle races ------------------------------------------------------------


def test_logout_during_a_request_never_puts_plaintext_back_into_the_ended_session(
    env: Env, gated: tuple[GatedEngine, TestClient]
) -> None:
    """An analysis request resolves its session; before it reaches the policy check (any delay: a busy
    thread pool, engine start-up, a slow blob store on PostgreSQL) the user logs out:
    ``SessionManager.end`` purges and records ``session.purge``. The request
    then decrypts the image and ``SessionMaterial.put`` files it under the *ended* session id: plaintext
    is held in memory for a session that is over, nothing will ever purge it (``end`` is idempotent and
    the sweep only looks at open sessions), and a ``session_images`` row is left with ``purged_at`` NULL.

    Expected: ``open_into_session``/``put`` refuse a session that has ended (check ``ended_at`` under
    the same lock ``end`` takes, or mark the session id as closed in ``SessionMaterial`` at purge and
    refuse ``put`` for it), and the request answers 401.
    """
    engine, client = gated
    engine.release.set()
    image_id = _ingest(env, render_lab_report())
    headers = login(client, env, "sam")
    session_id = client.get("/api/v1/session", headers=headers).json()["session_id"]

    registry = env.workspace.engines
    real_get = registry.get
    reading, go_on = threading.Event(), threading.Event()

    def slow_get(name: str) -> Any:  # the first step of AnalysisService.analyze, after the session check
        reading.set()
        assert go_on.wait(WAIT)
        return real_get(name)

    registry.get = slow_get  # type: ignore[method-assign]
    thread, box = _in_thread(lambda: client.post(f"/api/v1/images/{image_id}/analyses", headers=headers))
    assert reading.wait(WAIT)
    assert client.post("/api/v1/logout", headers=headers).status_code == 200
    go_on.set()
    thread.join(WAIT)
    response = box.get("response")

    held = env.workspace.sessions.material.held_ids(session_id)
    assert held == [], f"ended session still holds decrypted image(s) {held}"
    assert _unpurged_rows(env, session_id) == []
    assert response is not None and response.status_code == 401, (
        f"a result was delivered after logout: {response.status_code if response else box}"
    )


def test_no_result_is_delivered_after_the_session_ended_mid_analysis(
    env: Env, gated: tuple[GatedEngine, TestClient]
) -> None:
    """The engine is running when the user logs out (or is disabled, or the session times out). The
    purge closes the pages under the engine; the engine still returns, and the service then masks the
    result, records ``result.deliver`` *after* ``session.end``/``session.purge`` and answers 200 with
    the analysis: a result delivered outside any session, and an audit trail where delivery follows the
    purge.

    Expected: before delivering, re-check that the session is still open (e.g. ``sessions.is_open`` in
    the delivery transaction) and answer 401 without a ``result.deliver`` record.
    """
    engine, client = gated
    image_id = _ingest(env, render_lab_report())
    headers = login(client, env, "sam")
    thread, box = _in_thread(lambda: client.post(f"/api/v1/images/{image_id}/analyses", headers=headers))
    assert engine.entered.wait(WAIT)
    before = _head(env)
    assert client.post("/api/v1/logout", headers=headers).status_code == 200
    engine.release.set()
    thread.join(WAIT)
    response = box["response"]
    actions = [event.action for event in _events(env, before)]
    assert "result.deliver" not in actions, actions
    assert response.status_code == 401, f"{response.status_code}: {response.text[:200]}"


def test_a_user_disabled_mid_analysis_receives_nothing(
    env: Env, gated: tuple[GatedEngine, TestClient]
) -> None:
    """Same window as above, triggered by an administrator disabling the account (e.g. a leaver).

    Expected: the in-flight analysis is not delivered (401/403), and the disabled user's material is
    purged now, not at their next request.
    """
    engine, client = gated
    image_id = _ingest(env, render_lab_report())
    headers = login(client, env, "sam")
    session_id = client.get("/api/v1/session", headers=headers).json()["session_id"]
    thread, box = _in_thread(lambda: client.post(f"/api/v1/images/{image_id}/analyses", headers=headers))
    assert engine.entered.wait(WAIT)
    env.workspace.identity.disable_user("sam", actor="operator:test")
    engine.release.set()
    thread.join(WAIT)
    response = box["response"]
    assert client.get("/api/v1/session", headers=headers).status_code == 401
    assert env.workspace.sessions.material.held_ids(session_id) == []
    assert response.status_code in (401, 403), f"{response.status_code}: {response.text[:200]}"


def test_revoked_grant_mid_session_purges_nothing_but_refuses_the_cached_result(
    env: Env, gated: tuple[GatedEngine, TestClient]
) -> None:
    """After a grant is revoked, an image already opened (and analysed) in the session is not served
    from the session cache: policy is checked again before the cached result is returned."""
    engine, client = gated
    engine.release.set()
    image_id = _ingest(env, render_lab_report())
    headers = login(client, env, "sam")
    assert client.post(f"/api/v1/images/{image_id}/analyses", headers=headers).status_code == 200
    with env.workspace.db() as db:
        from sealroom.db.models import Grant, User

        sam_id = db.scalar(select(User.id).where(User.username == "sam"))
        grant_id = db.scalar(select(Grant.id).where(Grant.user_id == sam_id))
    env.workspace.grants.revoke_grant(grant_id, revoked_by="operator:test")
    response = client.post(f"/api/v1/images/{image_id}/analyses", headers=headers)
    assert response.status_code == 404, response.text


def test_concurrent_requests_on_an_expired_token_end_the_session_once(
    env: Env, gated: tuple[GatedEngine, TestClient]
) -> None:
    """Six requests arrive with a token whose session is past its idle limit: all get 401 and the
    material is purged (good), but each ``resolve`` calls ``end`` and the audit log gets up to six
    ``session.end`` + ``session.purge`` pairs for one session. ``end`` reads ``ended_at`` with
    ``with_for_update``, which SQLite ignores, in a deferred transaction, so concurrent callers all
    see it open. Misleading evidence (several ends, purge counts of 0 after the first).

    Expected: exactly one ``session.end``: make the end conditional
    (``UPDATE sessions SET ended_at=… WHERE id=… AND ended_at IS NULL`` and check ``rowcount``), or
    ``BEGIN IMMEDIATE`` on SQLite.
    """
    engine, client = gated
    engine.release.set()
    image_id = _ingest(env, render_lab_report())
    headers = login(client, env, "sam")
    session_id = client.get("/api/v1/session", headers=headers).json()["session_id"]
    assert client.post(f"/api/v1/images/{image_id}/analyses", headers=headers).status_code == 200
    assert env.workspace.sessions.material.held_ids(session_id) == [image_id]
    env.clock.advance(minutes=env.workspace.settings.session.idle_timeout_minutes, seconds=1)
    runs = [
        _in_thread(lambda: client.post(f"/api/v1/images/{image_id}/analyses", headers=headers))
        for _ in range(6)
    ]
    for thread, _box in runs:
        thread.join(WAIT)
    assert [box["response"].status_code for _thread, box in runs] == [401] * 6
    assert env.workspace.sessions.material.sessions() == []
    assert _unpurged_rows(env, session_id) == []
    ends = [e for e in _events(env) if e.action == "session.end" and e.session_id == session_id]
    assert len(ends) == 1 and ends[0].reason == "idle_timeout"


# --- 2. audit integrity edge cases ---------------------------------------------------------------------


def test_control_characters_typed_as_a_case_id_never_reach_the_audit_log(
    env: Env, client: TestClient
) -> None:
    """``_validate_request`` refuses a case id with control characters, but ``_audit_refusal`` first
    writes ``request.case_id`` verbatim into the record's ``case_id`` column: ANSI escapes, NUL,
    newlines and bidi overrides typed by a user land in the log and in ``audit show`` / exports, where
    they can rewrite a terminal line or forge what looks like another record.

    Expected: a refused case id is not stored raw (store ``None`` plus a keyed hash or an escaped,
    truncated form in details).
    """
    headers = login(client, env, "nora")
    evil = "ENC-1\x1b[2K\r2026-03-02 kim audit.verify success\n\u202e"
    before = _head(env)
    params = {"dataset": "clinical-records", "case_id": evil, "document_type": "clinical"}
    response = client.post("/api/v1/images", params=params, content=render_lab_report(), headers=headers)
    assert response.status_code == 400, response.text
    stored = [e.case_id for e in _events(env, before) if e.case_id]
    assert all(value.isprintable() for value in stored), stored


def test_markup_never_reaches_audit_show_as_markup(env: Env, client: TestClient) -> None:
    """Rich reads ``[/]`` or ``[link=…]`` in printed text as markup: a crash, or restyled evidence.

    Case ids are restricted to a plain alphabet at ingest; and whatever a record holds is printed
    literally by ``audit show``.
    """
    headers = login(client, env, "nora")
    for case in ("[/]", "[link=https://attacker.invalid]ENC-2026-0042[/link]"):
        upload = UPLOAD.format(dataset="clinical-records", case=case, doc="clinical")
        response = client.post(upload, content=render_lab_report(), headers=headers)
        assert response.status_code == 400, response.text
    env.workspace.audit.append(
        env.workspace.db, category="admin", action="admin.note", outcome="success", actor="operator:test",
        reason="[/] [link=https://attacker.invalid]x[/link]",
    )  # fmt: skip
    code, out = _cli(env.root, "audit", "show", "--limit", "20")
    assert code == 0, out
    assert "[/]" in out and "attacker.invalid" in out, out


def _export(env: Env, tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "evidence.jsonl"
    code, text = _cli(env.root, "audit", "export", "--jsonl", "--out", str(out), *args)
    assert code == 0, text
    return out


def _activity(env: Env, client: TestClient) -> None:
    headers = login(client, env, "sam")
    client.get(f"/api/v1/images/{'0' * 32}", headers=headers)
    client.post("/api/v1/logout", headers=headers)


def _rewrite(path: Path, change: Callable[[list[str]], list[str]]) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(change(lines)) + "\n")


def _edit_ts(lines: list[str]) -> list[str]:
    record = json.loads(lines[3])
    record["ts"] = (
        record["ts"].replace("09:", "08:", 1) if "09:" in record["ts"] else "2020-01-01 00:00:00.000000Z"
    )
    return [*lines[:3], json.dumps(record), *lines[4:]]


def _edit_actor(lines: list[str]) -> list[str]:
    return [*lines[:2], lines[2].replace('"actor":"', '"actor":"x'), *lines[3:]]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(_edit_actor, id="edited-actor"),
        pytest.param(_edit_ts, id="edited-ts"),
        pytest.param(lambda lines: [*lines[:4], *lines[5:]], id="dropped-line"),
        pytest.param(lambda lines: [*lines[:3], lines[4], lines[3], *lines[5:]], id="swapped-lines"),
        pytest.param(lambda lines: [*lines, "garbage that is not json"], id="trailing-garbage"),
        pytest.param(lambda lines: [*lines[:2], "{not json", *lines[2:]], id="non-json-line"),
        pytest.param(lambda lines: [*lines[:2], "[1, 2, 3]", *lines[2:]], id="json-array-line"),
        pytest.param(lambda lines: [*lines, lines[-1]], id="duplicated-last-line"),
        pytest.param(lambda lines: [lines[0], *lines], id="duplicated-first-line"),
    ],
)
def test_audit_verify_file_reports_a_tampered_export_clearly(
    env: Env, client: TestClient, tmp_path: Path, tamper: Callable[[list[str]], list[str]]
) -> None:
    _activity(env, client)
    path = _export(env, tmp_path)
    code, out = _cli(env.root, "audit", "verify", "--file", str(path))
    assert code == 0, out
    _rewrite(path, tamper)
    code, out = _cli(env.root, "audit", "verify", "--file", str(path))
    assert code == 2, out
    assert "FAILED" in out and re.search(r"(record|line) \d+", out), out
    assert "Traceback" not in out


def test_audit_verify_file_accepts_reordered_detail_keys_but_not_edited_values(
    env: Env, client: TestClient, tmp_path: Path
) -> None:
    """Details are re-canonicalised, so key order in the file is irrelevant; a value change is not."""
    _activity(env, client)
    path = _export(env, tmp_path)
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if json.loads(line)["details"])
    record = json.loads(lines[index])
    record["details"] = dict(reversed(list(record["details"].items())))
    lines[index] = json.dumps(record, sort_keys=False)
    path.write_text("\n".join(lines) + "\n")
    code, out = _cli(env.root, "audit", "verify", "--file", str(path))
    assert code == 0, out
    key = next(iter(record["details"]))
    record["details"][key] = "changed"
    lines[index] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    code, out = _cli(env.root, "audit", "verify", "--file", str(path))
    assert code == 2 and "FAILED" in out, out


def test_audit_verify_detects_reordered_detail_keys_in_the_database(env: Env, client: TestClient) -> None:
    """The database keeps the sealed details text; a rewrite with another key order is an edit."""
    _activity(env, client)
    root = env.root
    env.workspace.close()
    with sqlite3.connect(root / "sealroom.db") as db:
        seq, details = db.execute(
            "select seq, details from audit_events where details like '%,%' order by seq limit 1"
        ).fetchone()
        reordered = json.dumps(dict(reversed(list(json.loads(details).items()))), separators=(",", ":"))
        assert reordered != details
        db.execute("update audit_events set details = ? where seq = ?", (reordered, seq))
    code, out = _cli(root, "audit", "verify")
    assert code == 2 and f"record {seq}" in out, out


def test_audit_verify_detects_an_edited_ts_in_the_database(env: Env, client: TestClient) -> None:
    _activity(env, client)
    root = env.root
    env.workspace.close()
    with sqlite3.connect(root / "sealroom.db") as db:
        db.execute("update audit_events set ts = '2026-03-01 09:00:00.000000' where seq = 3")
    code, out = _cli(root, "audit", "verify")
    assert code == 2 and "record 3" in out, out


def test_audit_verify_file_reports_a_non_utf8_export(env: Env, client: TestClient, tmp_path: Path) -> None:
    """A damaged export (one byte flipped to 0xff) makes ``audit verify --file`` die with an uncaught
    ``UnicodeDecodeError`` (exit 1, traceback) instead of naming the bad line with exit 2.

    Expected: decode errors reported as a malformed line: "FAILED: line N is not UTF-8", exit 2.
    """
    _activity(env, client)
    path = _export(env, tmp_path)
    data = bytearray(path.read_bytes())
    data[data.index(b'"actor":"') + 9] = 0xFF
    path.write_bytes(bytes(data))
    code, out = _cli(env.root, "audit", "verify", "--file", str(path))
    assert code == 2 and "FAILED" in out, out


def test_audit_verify_file_reports_markup_in_a_tampered_line(
    env: Env, client: TestClient, tmp_path: Path
) -> None:
    """The problem text of a malformed line quotes the offending key; it is printed through Rich
    markup, so a key like ``[/]`` raises ``MarkupError``: the verifier crashes instead of reporting.

    Expected: ``FAILED: line N is malformed (duplicate key '[/]')`` with exit 2 (escape the problem).
    """
    _activity(env, client)
    path = _export(env, tmp_path)
    lines = path.read_text().splitlines()
    lines[1] = lines[1][:-1] + ',"[/]":1,"[/]":2}'
    path.write_text("\n".join(lines) + "\n")
    code, out = _cli(env.root, "audit", "verify", "--file", str(path))
    assert code == 2 and "FAILED" in out, out


def test_a_filtered_export_verifies(env: Env, client: TestClient, tmp_path: Path) -> None:
    """``audit export --user sam`` is the documented way to pull evidence about one person, but
    ``audit verify --file`` always checks it as a contiguous chain and reports the first gap as
    "record N is missing (deleted)": an untouched, genuine export is declared tampered.

    Expected: ``verify --file`` detects a filtered export (or takes ``--filtered``) and then checks
    every record's seal (``verify_jsonl(..., contiguous=False)``), saying that gaps are expected.
    """
    _activity(env, client)
    path = _export(env, tmp_path, "--user", "sam")
    assert path.read_text().strip()
    code, out = _cli(env.root, "audit", "verify", "--file", str(path))
    assert code == 0, out


# --- 3. failure handling --------------------------------------------------------------------------------


def _blob_files(env: Env) -> list[Path]:
    return [p for p in (env.root / "blobs").rglob("*") if p.is_file()]


def test_a_blob_store_write_failure_at_ingest_is_clear_audited_and_leaves_nothing(
    env: Env, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the blob directory read-only, upload answers 503 ``storage_unavailable`` with a clear
    message and stores nothing (good), but the attempt leaves no audit record at all: the
    ``access.decision`` allow written in the same transaction is rolled back with it, and no
    ``image.ingest`` failure is written. PRODUCT.md: every image access and access-control event is
    on record.

    Expected: an ``image.ingest`` failure record (reason ``storage_unavailable``) is committed.
    """
    headers = login(client, env, "nora")
    blobs = env.root / "blobs"
    real_replace = os.replace

    def read_only(src: Any, dst: Any) -> None:  # the disk turns read-only after the temp file is written
        if str(dst).startswith(str(blobs)):
            raise OSError(30, "Read-only file system")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", read_only)
    before = _head(env)
    upload = UPLOAD.format(dataset="clinical-records", case=CLINICAL_CASE, doc="clinical")
    response = client.post(upload, content=render_lab_report(), headers=headers)
    monkeypatch.undo()
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "storage_unavailable"
    assert "nothing was stored" in response.json()["message"]
    assert _blob_files(env) == []
    assert not [p for p in blobs.rglob(".tmp-*")]
    with env.workspace.db() as db:
        assert db.scalars(select(Image)).all() == []
    ingest = [e for e in _events(env, before) if e.action == "image.ingest"]
    assert ingest and ingest[0].outcome == "failure", [e.action for e in _events(env, before)]


def _analyse_after(
    env: Env, client: TestClient, damage: Callable[[Path], None]
) -> tuple[Response, list[AuditEvent]]:
    image_id = _ingest(env, render_lab_report())
    (blob,) = _blob_files(env)
    damage(blob)
    headers = login(client, env, "sam")
    before = _head(env)
    quiet = TestClient(client.app, raise_server_exceptions=False)
    response = quiet.post(f"/api/v1/images/{image_id}/analyses", headers=headers)
    return response, _events(env, before)


def _flip_byte(blob: Path) -> None:
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [pytest.param(lambda blob: blob.unlink(), id="missing"), pytest.param(_flip_byte, id="corrupted")],
)
def test_a_missing_or_corrupted_blob_at_analysis_is_a_clear_audited_503(
    env: Env, client: TestClient, damage: Callable[[Path], None]
) -> None:
    """A stored image whose ciphertext is gone answers **404 "blob … is not in the blob store"** (the
    client cannot tell it from "out of scope", and the internal reference leaks); a corrupted one
    answers a bare **500 "internal error"**. In both cases the allowed ``access.decision`` is rolled
    back and no failure is recorded: the audit log shows nothing happened, although an integrity
    failure of stored evidence is exactly what an operator must see.

    Expected: a clear 5xx (e.g. 503 ``storage_unavailable`` / 500 ``integrity_error`` with a message
    telling the user to contact the operator), and a committed ``image.open`` failure record with the
    reason.
    """
    response, events = _analyse_after(env, client, damage)
    assert response.status_code >= 500, f"{response.status_code}: {response.text}"
    assert response.json()["error"] != "internal_error", response.text
    failures = [e for e in events if e.action in ("image.open", "analysis.run") and e.outcome == "failure"]
    assert failures, [(e.action, e.outcome) for e in events]
    assert env.workspace.sessions.material.sessions() == []


def test_an_engine_exception_is_a_502_with_an_audited_failure(
    env: Env, gated: tuple[GatedEngine, TestClient]
) -> None:
    engine, client = gated
    engine.fail = RuntimeError("model exploded: /opt/models/secret-path Eleanor Whitfield")
    engine.release.set()
    image_id = _ingest(env, render_lab_report())
    headers = login(client, env, "sam")
    before = _head(env)
    response = client.post(f"/api/v1/images/{image_id}/analyses", headers=headers)
    assert response.status_code == 502, response.text
    assert response.json()["error"] == "analysis_failed"
    assert "Whitfield" not in response.text and "/opt/models" not in response.text
    events = _events(env, before)
    failures = [e for e in events if e.action == "analysis.run" and e.outcome == "failure"]
    assert len(failures) == 1 and failures[0].reason == "RuntimeError"
    assert "Whitfield" not in json.dumps([e.details for e in events])
    assert "result.deliver" not in [e.action for e in events]


def test_a_locked_database_refuses_the_request_cleanly(env: Env, client: TestClient) -> None:
    """Another process holds the SQLite write lock: the request is refused (503), never 500 or 200."""
    image_id = _ingest(env, render_lab_report())
    headers = login(client, env, "sam")
    holder = sqlite3.connect(env.root / "sealroom.db", timeout=0.1)
    holder.execute("begin exclusive")
    try:
        quiet = TestClient(client.app, raise_server_exceptions=False)
        response = quiet.get(f"/api/v1/images/{image_id}", headers=headers)
    finally:
        holder.rollback()
        holder.close()
    assert response.status_code in (401, 503), f"{response.status_code}: {response.text}"
    assert "Traceback" not in response.text and "sqlite" not in response.text.lower()


# --- 4. masking of the demo documents for a role without pii:view_unmasked ------------------------------

ANALYST_ROLE = """
[roles.analyst]
actions = ["metadata:view", "image:analyze"]
datasets = ["clinical-records", "finance-records", "identity-docs"]
max_classification = "restricted"
document_types = ["clinical", "financial", "identity"]
"""


def _raw_values() -> dict[str, list[str]]:
    from sealroom.demo.documents import BANK_ACCOUNT, BANK_HOLDER, ID_CARD, LAB_ORDER, LAB_PATIENT

    people = [
        LAB_PATIENT["Patient Name"], LAB_ORDER["Ordering Physician"], BANK_HOLDER["Account Holder"],
        ID_CARD["First Name"] + " " + ID_CARD["Last Name"],
    ]  # fmt: skip
    words = [w.strip(".,") for name in people for w in name.split() if len(w.strip(".,")) >= 3 and w != "Dr."]
    numbers = [
        LAB_PATIENT["MRN"], LAB_PATIENT["SSN"], LAB_PATIENT["Phone"], LAB_PATIENT["Email"],
        LAB_PATIENT["Date of Birth"], LAB_ORDER["NPI"], LAB_ORDER["Member ID"], BANK_HOLDER["Phone"],
        BANK_HOLDER["Email"], BANK_ACCOUNT["Account Number"], BANK_ACCOUNT["Routing Number"],
        BANK_ACCOUNT["IBAN"], BANK_ACCOUNT["Debit Card Number"], ID_CARD["DL No"], ID_CARD["Date of Birth"],
    ]  # fmt: skip
    digit_runs = [re.sub(r"\D", "", n) for n in numbers if len(re.sub(r"\D", "", n)) >= 6]
    streets = ["Larkspur", "Quarry Hill", "JUNIPER", "1842", "905 "]
    return {"names": words, "numbers": numbers, "digits": digit_runs, "streets": streets}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


@pytest.mark.slow
def test_demo_documents_leak_no_raw_value_to_a_role_without_unmasked_pii(tmp_path: Path) -> None:
    """Lab report, 2-page bank statement and ID card analysed by a finance/identity analyst role: no
    name, number, date of birth, address or e-mail appears in clear anywhere in the delivered JSON
    (fields, page text, joined text, entities, document type, sources), and no digit run of an
    identifier survives even with its separators removed."""
    import pyotp

    from sealroom.clock import ManualClock
    from sealroom.demo.documents import demo_documents
    from sealroom.workspace import default_config_text, init_workspace
    from tests.conftest import START

    root = init_workspace(tmp_path / "ws", default_config_text() + ANALYST_ROLE)
    clock = ManualClock(START)
    workspace = Workspace.open(root, clock=clock)
    try:
        for name, roles in (("ivy", ["intake"]), ("ana", ["analyst"])):
            workspace.identity.add_user(name, PASSWORD, roles, actor="operator:test")
        secrets = {n: workspace.identity.enroll_mfa(n, actor="operator:test").secret for n in ("ivy", "ana")}
        docs = demo_documents()
        for doc in docs:
            workspace.grants.create_grant(
                "ana", doc.case_id, purpose="review", duration=timedelta(hours=8), granted_by="operator:test"
            )
        with TestClient(create_app(workspace, sweep=False)) as client:

            def sign_in(name: str) -> dict[str, str]:
                clock.advance(seconds=30)
                code = pyotp.TOTP(secrets[name]).at(clock.now())
                response = client.post(
                    "/api/v1/login", json={"username": name, "password": PASSWORD, "totp": code}
                )
                assert response.status_code == 200, response.text
                client.cookies.clear()
                return {"Authorization": f"Bearer {response.json()['token']}"}

            ivy = sign_in("ivy")
            ids = []
            for doc in docs:
                url = UPLOAD.format(dataset=doc.dataset, case=doc.case_id, doc=doc.document_type)
                response = client.post(
                    f"{url}&classification={doc.classification}", content=doc.data, headers=ivy
                )
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])
            ana = sign_in("ana")
            raw = _raw_values()
            for doc, image_id in zip(docs, ids, strict=True):
                response = client.post(f"/api/v1/images/{image_id}/analyses", headers=ana)
                assert response.status_code == 200, response.text
                result = response.json()
                assert result["masked"] is True
                blob = json.dumps(result, ensure_ascii=False)
                strings = _strings(result)
                for kind in ("names", "numbers", "streets"):
                    for value in raw[kind]:
                        assert value.lower() not in blob.lower(), (doc.filename, kind, value)
                for digits in raw["digits"]:
                    for text in strings:
                        assert digits not in re.sub(r"\D", "", text), (doc.filename, digits, text[:200])
                for field in result["fields"]:
                    if field["entity_type"]:
                        assert "*" in field["value"] or field["value"].startswith("["), field
    finally:
        workspace.close()
