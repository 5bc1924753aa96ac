"""Retention: images past their data set's retention are crypto-shredded (unreadable even from a
backup of the data), legal holds keep them, every step is on the audit record."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from sealroom.api.app import create_app
from sealroom.api.retention import router as retention_router
from sealroom.audit.verify import verify_chain
from sealroom.cli import main as cli_main
from sealroom.cli.retention_cmd import hold_app, retention_app
from sealroom.db.models import AuditEvent, Image, LegalHold, SessionImage
from sealroom.demo.documents import demo_documents
from sealroom.errors import ConflictError, InputError, NotFoundError, StorageError
from sealroom.keys import LocalKeyProvider, WorkspaceKeys
from sealroom.retention import ORPHAN_GRACE
from sealroom.vault.blobstore import FileBlobStore
from sealroom.vault.envelope import open_sealed
from sealroom.vault.keystore import DataKeyDestroyedError, FileDataKeyStore
from sealroom.vault.service import IngestRequest
from sealroom.workspace import Workspace
from tests.conftest import CLINICAL_CASE, Env, login

DATASETS = ("clinical-records", "finance-records", "identity-docs")


# --- helpers -----------------------------------------------------------------------------------------


def _ingest(env: Env) -> dict[str, str]:
    """Ingest the three demo documents as nora; returns image ids by document type."""
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
        ids[document.document_type] = str(meta["id"])
    env.workspace.sessions.end(intake.id, "logout")
    return ids


def _set_retention(env: Env, days: int, datasets: tuple[str, ...] = DATASETS) -> None:
    """Rewrite the data sets' ``retention_days`` in sealroom.toml and reopen the workspace."""
    config = env.root / "sealroom.toml"
    text = config.read_text(encoding="utf-8")
    for name in datasets:
        section = re.compile(rf"(\[datasets\.{re.escape(name)}\][^\[]*?)retention_days = \d+", re.S)
        text, count = section.subn(rf"\g<1>retention_days = {days}", text)
        assert count == 1, name
    config.write_text(text, encoding="utf-8")
    env.reopen()


def _keystore(env: Env) -> FileDataKeyStore:
    return FileDataKeyStore(env.root / "keys" / "data-keys")


def _blob(env: Env, image_id: str) -> Path:
    return env.root / "blobs" / image_id[:2] / image_id


def _events(env: Env, action: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.seq)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    with env.workspace.db() as db:
        return list(db.scalars(query))


def _image_ids(env: Env) -> set[str]:
    with env.workspace.db() as db:
        return set(db.scalars(select(Image.id)))


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _chain_ok(env: Env) -> bool:
    with env.workspace.db() as db:
        return verify_chain(db, env.workspace.keys.audit_key).ok


# --- crypto-shredding ---------------------------------------------------------------------------------


def test_crypto_shredded_image_is_unreadable_with_the_old_key_material(
    env: Env, client: TestClient, tmp_path: Path
) -> None:
    image_id = _ingest(env)["clinical"]
    lab = next(d for d in demo_documents() if d.document_type == "clinical")
    wrapped = _keystore(env).get(image_id)

    # The backup an operator takes of the data: database, blob folder and the workspace key file.
    backup = tmp_path / "backup"
    (backup / "keys").mkdir(parents=True)
    with sqlite3.connect(env.root / "sealroom.db") as live, sqlite3.connect(backup / "sealroom.db") as copy:
        live.backup(copy)
    shutil.copytree(env.root / "blobs", backup / "blobs")
    shutil.copy2(env.root / "keys" / "workspace.key", backup / "keys" / "workspace.key")
    keys = WorkspaceKeys.load(backup / "keys" / "workspace.key", env.root / "keys" / "audit.key")
    provider = LocalKeyProvider(keys)
    ciphertext = FileBlobStore(backup / "blobs").get(image_id)
    with sqlite3.connect(backup / "sealroom.db") as db:
        row_key = db.execute("select wrapped_key from images where id = ?", (image_id,)).fetchone()[0]
    assert row_key == b""  # the database never held the key
    assert wrapped not in (backup / "sealroom.db").read_bytes()
    # Before the pass, the backup's blob still opens with the key store's entry.
    assert open_sealed(image_id, ciphertext, wrapped, provider) == lab.data

    _set_retention(env, 1)
    env.clock.advance(days=2)
    report = env.workspace.retention.run()

    assert image_id in report.deleted and report.failed == []
    # From the backup, every way in fails: no key in the row, none in the key store.
    with pytest.raises(DataKeyDestroyedError):
        open_sealed(image_id, ciphertext, row_key, provider)
    with pytest.raises(DataKeyDestroyedError, match="deleted by retention"):
        _keystore(env).get(image_id)
    assert not (env.root / "keys" / "data-keys" / f"{image_id}.key").exists()
    assert not any(wrapped in path.read_bytes() for path in env.root.rglob("*") if path.is_file())
    # The live workspace: gone from listing and describe, its ciphertext deleted.
    headers = login(client, env, "sam")
    assert client.get(f"/api/v1/images/{image_id}", headers=headers).status_code == 404
    listed = client.get("/api/v1/images", headers=headers).json()["images"]
    assert image_id not in {image["id"] for image in listed}
    assert not _blob(env, image_id).exists()


def test_deletion_is_audited_with_the_sha256_in_order_and_the_chain_verifies(env: Env) -> None:
    ids = _ingest(env)
    _set_retention(env, 1, ("clinical-records",))
    env.clock.advance(days=2)

    report = env.workspace.retention.run()

    assert report.deleted == [ids["clinical"]] and report.due == [ids["clinical"]]
    assert _image_ids(env) == {ids["financial"], ids["identity"]}  # other data sets keep 2555/1825 days
    trail = _events(env)
    delete = next(e for e in trail if e.action == "retention.delete")
    run = next(e for e in trail if e.action == "retention.run")
    assert delete.seq < run.seq
    lab = next(d for d in demo_documents() if d.document_type == "clinical")
    assert delete.details["sha256"] == hashlib.sha256(lab.data).hexdigest()
    assert delete.details["method"] == "crypto-shred"
    assert delete.details["retention_days"] == 1 and delete.details["dataset"] == "clinical-records"
    assert (delete.image_id, delete.case_id, delete.category, delete.actor) == (
        ids["clinical"],
        CLINICAL_CASE,
        "image",
        "system:retention",
    )
    assert run.category == "admin" and run.details["deleted"] == 1 and run.details["dry_run"] is False
    assert _chain_ok(env)


def test_dry_run_deletes_nothing_but_reports_and_is_audited(env: Env) -> None:
    ids = _ingest(env)
    _set_retention(env, 1)
    env.clock.advance(days=2)

    report = env.workspace.retention.run(dry_run=True)

    assert sorted(report.to_delete) == sorted(ids.values()) and report.deleted == []
    assert _image_ids(env) == set(ids.values())
    assert _keystore(env).list_ids() == sorted(ids.values())
    assert all(_blob(env, image_id).exists() for image_id in ids.values())
    assert _events(env, "retention.delete") == []
    assert _events(env, "retention.run")[-1].details["dry_run"] is True


def test_nothing_is_due_before_the_retention_period_ends(env: Env) -> None:
    ids = _ingest(env)
    _set_retention(env, 3)
    env.clock.advance(days=2, hours=23)
    assert env.workspace.retention.run().due == []
    env.clock.advance(hours=1)
    assert sorted(env.workspace.retention.run().deleted) == sorted(ids.values())


# --- legal holds --------------------------------------------------------------------------------------


def test_legal_holds_by_case_and_by_image_survive_until_released(env: Env) -> None:
    ids = _ingest(env)
    retention = env.workspace.retention
    by_case = retention.place_hold("operator:test", case_id=CLINICAL_CASE, reason="Matter 2026-17 litigation")
    by_image = retention.place_hold("operator:test", image_id=ids["financial"], reason="Dispute 88")
    _set_retention(env, 1)
    env.clock.advance(days=2)
    retention = env.workspace.retention

    first = retention.run()

    assert sorted(first.held) == sorted([ids["clinical"], ids["financial"]])
    assert first.deleted == [ids["identity"]]
    assert _image_ids(env) == {ids["clinical"], ids["financial"]}
    assert _keystore(env).get(ids["clinical"]) and _blob(env, ids["financial"]).exists()

    retention.release_hold("operator:test", by_case.id)
    retention.release_hold("operator:test", by_image.id)
    second = retention.run()

    assert sorted(second.deleted) == sorted([ids["clinical"], ids["financial"]]) and second.held == []
    assert _image_ids(env) == set()
    assert _keystore(env).list_ids() == []
    placed = _events(env, "legal_hold.place")
    assert [e.details["target"] for e in placed] == ["case", "image"]
    assert placed[1].case_id == "ACCT-7731" and placed[1].image_id == ids["financial"]
    assert placed[0].details["reason_chars"] == len("Matter 2026-17 litigation")
    assert "Matter" not in str([e.details for e in placed])  # the reason stays in the hold table
    assert len(_events(env, "legal_hold.release")) == 2
    assert _chain_ok(env)


def test_hold_rules(env: Env) -> None:
    ids = _ingest(env)
    retention = env.workspace.retention
    with pytest.raises(InputError, match="exactly one"):
        retention.place_hold("operator:test", case_id=CLINICAL_CASE, image_id=ids["clinical"], reason="x")
    with pytest.raises(InputError, match="exactly one"):
        retention.place_hold("operator:test", reason="x")
    with pytest.raises(InputError, match="reason"):
        retention.place_hold("operator:test", case_id=CLINICAL_CASE, reason="   ")
    with pytest.raises(InputError, match="case id"):
        retention.place_hold("operator:test", case_id="../etc", reason="x")
    with pytest.raises(NotFoundError):
        retention.place_hold("operator:test", image_id="0" * 32, reason="x")
    hold = retention.place_hold("operator:test", case_id="FUTURE-1", reason="hold before ingest")
    assert [h.id for h in retention.list_holds()] == [hold.id]
    retention.release_hold("operator:test", hold.id)
    with pytest.raises(ConflictError, match="already released"):
        retention.release_hold("operator:test", hold.id)
    with pytest.raises(NotFoundError):
        retention.release_hold("operator:test", "f" * 32)
    assert retention.list_holds() == []
    assert [h.id for h in retention.list_holds(active_only=False)] == [hold.id]


# --- sessions, failures and orphans -------------------------------------------------------------------


def test_an_image_open_in_a_live_session_is_purged_from_memory(env: Env) -> None:
    image_id = _ingest(env)["clinical"]
    _set_retention(env, 1)
    sam = env.session("sam")
    with env.workspace.db() as db:
        image = db.get(Image, image_id)
        assert image is not None
        opened = env.workspace.vault.open_into_session(db, sam, image)
        db.commit()
    assert env.workspace.sessions.material.held_ids(sam.id) == [image_id]
    env.clock.advance(days=2)

    env.workspace.retention.run()

    assert env.workspace.sessions.material.held_ids(sam.id) == []
    assert not any(opened.plaintext) and opened.pages == ()
    assert _events(env, "retention.delete")[0].details["sessions_holding"] == 1
    purge = _events(env, "session.purge")[-1]
    assert (purge.session_id, purge.reason, purge.details["images_purged"]) == (
        sam.id,
        "retention",
        [image_id],
    )
    with env.workspace.db() as db:
        assert db.scalars(select(SessionImage).where(SessionImage.image_id == image_id)).all() == []


def test_a_copy_open_in_another_process_goes_at_that_process_s_next_pass(env: Env) -> None:
    image_id = _ingest(env)["clinical"]
    _set_retention(env, 1)
    sam = env.session("sam")
    with env.workspace.db() as db:
        image = db.get(Image, image_id)
        assert image is not None
        env.workspace.vault.open_into_session(db, sam, image)
        db.commit()
    env.clock.advance(days=2)
    # ``sealroom retention run`` beside ``serve``: another process, which cannot reach this memory.
    other = Workspace.open(env.root, clock=env.clock, engines=env.workspace.engines)
    try:
        assert image_id in other.retention.run(actor="operator:test").deleted
    finally:
        other.close()
    assert env.workspace.sessions.material.held_ids(sam.id) == [image_id]

    env.workspace.retention.run()

    assert env.workspace.sessions.material.held_ids(sam.id) == []
    assert _events(env, "session.purge")[-1].session_id == sam.id


def test_a_failed_key_destruction_is_finished_by_the_next_run(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_id = _ingest(env)["clinical"]
    _set_retention(env, 1, ("clinical-records",))
    env.clock.advance(days=2)
    store = _keystore(env)
    key_file = store.folder / f"{image_id}.key"
    _age(key_file, 2 * 24 * 3600)  # written at ingest, two days ago (the file system's clock is real)

    def broken(_image_id: str) -> None:
        raise StorageError("disk went read-only")

    monkeypatch.setattr(FileDataKeyStore, "destroy", lambda self, image_id: broken(image_id))
    first = env.workspace.retention.run()
    monkeypatch.undo()

    assert first.deleted == [image_id] and first.failed == [image_id]
    assert image_id not in _image_ids(env) and key_file.exists()  # the row went, the key is left
    assert _events(env, "retention.run")[-1].outcome == "failure"

    second = env.workspace.retention.run()

    assert second.orphan_keys_removed == 1 and second.failed == []
    assert not key_file.exists()
    orphan = _events(env, "retention.orphan_key")
    assert [e.image_id for e in orphan] == [image_id]


def test_orphaned_keys_and_blobs_are_removed_after_the_grace_period(env: Env) -> None:
    ids = _ingest(env)
    store = _keystore(env)
    blobs = FileBlobStore(env.root / "blobs")
    old, fresh, lone_blob, unrecorded = "a" * 32, "b" * 32, "c" * 32, "d" * 32
    for orphan in (old, fresh, unrecorded):
        store.put(orphan, b"\x01" * 40)
        blobs.put(orphan, b"\x02" * 64)
    blobs.put(lone_blob, b"\x03" * 64)
    grace = ORPHAN_GRACE.total_seconds()
    for path in (store.folder / f"{old}.key", _blob(env, old), _blob(env, lone_blob)):
        _age(path, grace + 60)
    for path in (store.folder / f"{unrecorded}.key", _blob(env, unrecorded)):
        _age(path, grace + 60)
    with env.workspace.db.begin() as db:  # a pass recorded the deletion of `old`, then failed to destroy it
        env.workspace.audit.record(
            db, category="image", action="retention.delete", outcome="success", actor="system:retention",
            image_id=old, details={"method": "crypto-shred"},
        )  # fmt: skip

    report = env.workspace.retention.run()

    assert (report.orphan_keys_removed, report.orphan_blobs_removed) == (1, 1)
    # No deletion was ever decided for `unrecorded`: kept and reported, not destroyed.
    assert report.unmatched_keys == [unrecorded]
    assert [e.details["count"] for e in _events(env, "retention.unmatched_keys")] == [1]
    assert store.list_ids() == sorted([*ids.values(), fresh, unrecorded])  # fresh: maybe an ingest in flight
    assert not _blob(env, old).exists() and not _blob(env, lone_blob).exists()
    assert _blob(env, fresh).exists()
    assert all(_blob(env, image_id).exists() for image_id in ids.values())  # live images untouched
    assert [e.image_id for e in _events(env, "retention.orphan_key")] == [old]


def test_a_pass_is_refused_when_its_deletion_cannot_be_audited(env: Env) -> None:
    image_id = _ingest(env)["clinical"]
    _set_retention(env, 1, ("clinical-records",))
    env.clock.advance(days=2)
    with env.workspace.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END"
            )
        )
    with pytest.raises(Exception, match="audit"):
        env.workspace.retention.run()
    assert image_id in _image_ids(env)
    assert _keystore(env).get(image_id) and _blob(env, image_id).exists()


def test_legacy_rows_have_their_key_moved_out_of_the_database(env: Env) -> None:
    image_id = _ingest(env)["clinical"]
    store = _keystore(env)
    wrapped = store.get(image_id)
    # A row as written before the key store existed: the key in the database, none in the store.
    with env.workspace.db.begin() as db:
        db.execute(update(Image).where(Image.id == image_id).values(wrapped_key=wrapped))
    (store.folder / f"{image_id}.key").unlink()

    assert env.workspace.vault.move_legacy_keys() == 1
    assert env.workspace.vault.move_legacy_keys() == 0

    assert store.get(image_id) == wrapped
    with env.workspace.db() as db:
        image = db.get(Image, image_id)
        assert image is not None and image.wrapped_key == b""
        sam = env.session("sam")
        opened = env.workspace.vault.open_into_session(db, sam, image)
        db.commit()
    assert bytes(opened.plaintext) == next(d for d in demo_documents() if d.document_type == "clinical").data
    assert _events(env, "vault.keys_moved")[-1].details["count"] == 1


# --- the periodic pass --------------------------------------------------------------------------------


def test_maintain_runs_retention_when_due(env: Env) -> None:
    ids = _ingest(env)
    _set_retention(env, 1)
    env.clock.advance(days=2)

    env.workspace.maintain()

    assert _image_ids(env) == set()
    assert len(_events(env, "retention.run")) == 1
    env.workspace.maintain()  # within the interval: not run again
    assert len(_events(env, "retention.run")) == 1
    env.clock.advance(minutes=env.workspace.settings.retention.interval_minutes)
    env.workspace.maintain()
    runs = _events(env, "retention.run")
    assert len(runs) == 2 and runs[0].details["deleted"] == len(ids) and runs[1].details["due"] == 0


# --- API ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _admin_client(env: Env) -> Iterator[TestClient]:
    """The app of ``env``'s current workspace (open it after the last ``reopen``)."""
    app = create_app(env.workspace, sweep=False)
    paths = {getattr(route, "path", None) for route in app.routes}
    if "/api/v1/retention/run" not in paths:  # until the router is registered in app.py
        app.include_router(retention_router)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def admin_client(env: Env) -> Iterator[TestClient]:
    with _admin_client(env) as test_client:
        yield test_client


def test_api_is_for_administrators_only(env: Env, admin_client: TestClient) -> None:
    headers = login(admin_client, env, "sam")
    assert admin_client.post("/api/v1/retention/run", json={}, headers=headers).status_code == 403
    assert admin_client.get("/api/v1/legal-holds", headers=headers).status_code == 403
    body = {"case_id": CLINICAL_CASE, "reason": "x"}
    assert admin_client.post("/api/v1/legal-holds", json=body, headers=headers).status_code == 403
    assert admin_client.post("/api/v1/retention/run", json={}).status_code == 401
    denials = [e for e in _events(env, "access.decision") if e.outcome == "deny"]
    assert {e.details["requested"] for e in denials} == {"workspace:admin"}
    assert _events(env, "legal_hold.place") == [] and _events(env, "retention.run") == []


def test_api_holds_and_run(env: Env) -> None:
    ids = _ingest(env)
    _set_retention(env, 1)
    env.clock.advance(days=2)
    with _admin_client(env) as admin_client:
        _api_holds_and_run(env, admin_client, ids)


def _api_holds_and_run(env: Env, admin_client: TestClient, ids: dict[str, str]) -> None:
    headers = login(admin_client, env, "alex")

    placed = admin_client.post(
        "/api/v1/legal-holds", json={"image_id": ids["identity"], "reason": "KYC review"}, headers=headers
    )
    assert placed.status_code == 201, placed.text
    hold = placed.json()
    assert hold["active"] is True and hold["placed_by"] == "alex" and hold["image_id"] == ids["identity"]
    assert hold["images_covered"] == 1
    both = {"case_id": CLINICAL_CASE, "image_id": ids["clinical"], "reason": "x"}
    assert admin_client.post("/api/v1/legal-holds", json=both, headers=headers).status_code == 400
    extra = {"case_id": CLINICAL_CASE, "reason": "x", "note": "y"}
    assert admin_client.post("/api/v1/legal-holds", json=extra, headers=headers).status_code == 422
    listed = admin_client.get("/api/v1/legal-holds", headers=headers).json()["holds"]
    assert [h["id"] for h in listed] == [hold["id"]]

    dry = admin_client.post("/api/v1/retention/run", json={"dry_run": True}, headers=headers).json()
    assert dry["dry_run"] is True and dry["held"] == [ids["identity"]] and len(dry["to_delete"]) == 2
    assert _image_ids(env) == set(ids.values())
    run = admin_client.post("/api/v1/retention/run", json={}, headers=headers).json()
    assert sorted(run["deleted"]) == sorted([ids["clinical"], ids["financial"]])
    assert _events(env, "retention.run")[-1].actor == "alex"

    released = admin_client.post(f"/api/v1/legal-holds/{hold['id']}/release", headers=headers)
    assert released.status_code == 200 and released.json()["released_by"] == "alex"
    again = admin_client.post(f"/api/v1/legal-holds/{hold['id']}/release", headers=headers)
    assert again.status_code == 409
    assert admin_client.get("/api/v1/legal-holds", headers=headers).json()["holds"] == []
    every = admin_client.get("/api/v1/legal-holds?all=true", headers=headers).json()["holds"]
    assert [h["active"] for h in every] == [False]
    assert admin_client.post("/api/v1/legal-holds/nothex/release", headers=headers).status_code == 422
    assert _chain_ok(env)


# --- CLI ----------------------------------------------------------------------------------------------


def test_a_hold_on_a_case_without_images_says_it_covers_none(env: Env, admin_client: TestClient) -> None:
    headers = login(admin_client, env, "alex")
    placed = admin_client.post(
        "/api/v1/legal-holds",
        json={"case_id": "ENC-2026-9999", "reason": "litigation notice"},
        headers=headers,
    )
    assert placed.status_code == 201 and placed.json()["images_covered"] == 0
    for reason in ("\u200b\u200b", "\u202e \x00"):
        body = {"case_id": CLINICAL_CASE, "reason": reason}
        assert admin_client.post("/api/v1/legal-holds", json=body, headers=headers).status_code == 400


def _cli() -> typer.Typer:
    names = {group.name for group in cli_main.app.registered_groups}
    if {"retention", "hold"} <= names:
        return cli_main.app
    app = typer.Typer()  # until the lead mounts the sub-apps in sealroom.cli.main
    app.add_typer(retention_app, name="retention")
    app.add_typer(hold_app, name="hold")
    return app


def test_cli_retention_run_and_holds(env: Env) -> None:
    ids = _ingest(env)
    _set_retention(env, 1, ("clinical-records", "finance-records"))
    # The CLI runs on the real clock: make the images old.
    with env.workspace.db.begin() as db:
        db.execute(
            update(Image)
            .where(Image.dataset != "identity-docs")
            .values(ingested_at=datetime(2001, 1, 1, tzinfo=UTC))
        )
    runner, app = CliRunner(), _cli()

    def sealroom(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env={"SEALROOM_WORKSPACE": str(env.root)})
        return result.exit_code, result.output

    code, out = sealroom("hold", "add", "--case", CLINICAL_CASE, "--reason", "Matter 17")
    assert code == 0, out
    hold_id = re.search(r"hold id: ([0-9a-f]{32})", out)
    assert hold_id, out
    code, out = sealroom("hold", "add", "--reason", "no target")
    assert code == 4 and "exactly one" in out
    code, out = sealroom("hold", "list")
    assert code == 0 and CLINICAL_CASE in out and "Matter 17" in out and hold_id.group(1) in out

    code, out = sealroom("retention", "run", "--dry-run")
    assert code == 0 and "Dry run" in out and "would delete: 1" in out and "held: 1" in out, out
    code, out = sealroom("retention", "run")
    assert code == 0 and "deleted: 1" in out and "held: 1" in out and "failed: 0" in out, out
    assert ids["financial"] in out and _image_ids(env) == {ids["clinical"], ids["identity"]}

    code, out = sealroom("hold", "release", hold_id.group(1))
    assert code == 0 and "Released" in out
    code, out = sealroom("hold", "release", hold_id.group(1))
    assert code == 9 and "already released" in out
    code, out = sealroom("hold", "list", "--all")
    assert code == 0 and "released" in out
    code, out = sealroom("retention", "run")
    assert code == 0 and "deleted: 1" in out, out
    assert _image_ids(env) == {ids["identity"]}
    actors = {e.actor for e in _events(env, "retention.run")} | {
        e.actor for e in _events(env, "legal_hold.place")
    }
    assert all(actor.startswith("operator:") for actor in actors)
    with env.workspace.db() as db:
        assert db.scalars(select(LegalHold)).one().released_by.startswith("operator:")  # type: ignore[union-attr]
