"""Signed anchors: written to the table, the external file and the audit log; a rewritten database
is caught through the external copy, even when the anchor table was rewritten too."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from typer.testing import CliRunner

from sealroom.alerting.monitor import Monitor
from sealroom.alerting.status import anchor_covers_head
from sealroom.api.app import create_app
from sealroom.audit.anchor_key import AnchorKey, verify_statement
from sealroom.audit.anchors import SignedAnchor
from sealroom.audit.chain import Sealer, canonical_text
from sealroom.audit.verify import verify_chain
from sealroom.cli.main import app
from sealroom.db.models import AuditAnchor, AuditEvent
from sealroom.workspace import Workspace
from tests.conftest import Env, login
from tests.forwarding import append_events, head_seq

runner = CliRunner()


def sealroom(root: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"SEALROOM_WORKSPACE": str(root)})
    return result.exit_code, result.output


def configure_anchor_file(env: Env, path: Path) -> Workspace:
    config = env.root / "sealroom.toml"
    body = config.read_text(encoding="utf-8")
    marker = '[audit.anchor]\nkey_file = "keys/anchor.key"\n'
    assert marker in body
    config.write_text(body.replace(marker, marker + f"file = {json.dumps(str(path))}\n"), encoding="utf-8")
    return env.reopen()


@pytest.fixture
def anchored(env: Env, tmp_path: Path) -> tuple[Env, Path, SignedAnchor]:
    """A workspace with an external anchor file and one anchor signed over a few records."""
    anchor_file = tmp_path / "worm" / "anchors.jsonl"
    anchor_file.parent.mkdir()
    workspace = configure_anchor_file(env, anchor_file)
    append_events(workspace, 5)
    result = Monitor.of(workspace).sign_now()
    assert result.anchor is not None and result.file_written is True
    return env, anchor_file, result.anchor


def test_anchor_is_signed_and_kept_in_table_file_and_audit_log(
    anchored: tuple[Env, Path, SignedAnchor],
) -> None:
    env, anchor_file, anchor = anchored
    workspace = env.workspace
    key = AnchorKey.load(env.root / "keys" / "anchor.key")
    with workspace.db() as db:
        row = db.get(AuditAnchor, anchor.id)
        record = db.scalars(select(AuditEvent).where(AuditEvent.action == "audit.anchor")).one()
        anchored_mac = db.scalar(select(AuditEvent.mac).where(AuditEvent.seq == anchor.seq))
    assert row is not None and row.seq == anchor.seq and row.signature == anchor.signature
    assert anchor.mac == anchored_mac and anchor.key_id == key.key_id
    assert record.seq == anchor.seq + 1 and record.outcome == "success"
    assert record.details["signature"] == anchor.signature and record.details["file"] == "written"

    lines = anchor_file.read_text().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert stat.S_IMODE(anchor_file.stat().st_mode) == 0o600
    statement = {k: v for k, v in line.items() if k not in ("id", "signature")}
    assert statement["type"] == "sealroom.audit.anchor" and statement["seq"] == anchor.seq
    assert verify_statement(key.public_key_hex, statement, line["signature"])
    # The table's copy, rebuilt from its columns, verifies as well.
    assert row is not None and verify_statement(
        key.public_key_hex, SignedAnchor.from_row(row).statement(), row.signature
    )
    assert not verify_statement(key.public_key_hex, {**statement, "seq": anchor.seq - 1}, line["signature"])


def test_public_key_and_check_of_an_intact_chain(anchored: tuple[Env, Path, SignedAnchor]) -> None:
    env, _file, anchor = anchored
    env.workspace.close()
    code, out = sealroom(env.root, "audit", "anchor", "--public-key")
    assert code == 0, out
    published = json.loads(out)
    assert published["key_id"] == anchor.key_id
    code, out = sealroom(env.root, "audit", "anchor", "--check")
    assert code == 0, out
    assert "OK" in out and "anchors match" in out


def test_cli_signs_an_anchor_now(anchored: tuple[Env, Path, SignedAnchor]) -> None:
    env, anchor_file, first = anchored
    env.workspace.close()
    code, out = sealroom(env.root, "audit", "anchor")
    assert code == 0, out
    assert f"record {first.seq + 1}" in out  # the previous anchor's own record is now the head
    assert len(anchor_file.read_text().splitlines()) == 2


def _truncate_and_rewind(workspace: Workspace, keep: int) -> None:
    """What an attacker with the database does: cut the tail and point the head at the new last record."""
    with workspace.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq > :keep"), {"keep": keep})
        mac = conn.execute(
            text("SELECT mac FROM audit_events WHERE seq = :keep"), {"keep": keep}
        ).scalar_one()
        conn.execute(text("UPDATE audit_head SET seq = :keep, mac = :mac"), {"keep": keep, "mac": mac})


def _edit_and_reseal(workspace: Workspace, seq: int) -> None:
    """An attacker holding the audit HMAC key edits record ``seq`` and re-seals every record after it."""
    sealer = Sealer(workspace.keys.audit_key)
    with workspace.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'someone-else' WHERE seq = :seq"), {"seq": seq})
        prev = conn.execute(text("SELECT mac FROM audit_events WHERE seq = :s"), {"s": seq - 1}).scalar_one()
        rows = conn.execute(
            text(
                "SELECT seq, event_id, ts, category, action, outcome, actor, session_id, image_id, case_id, "
                "reason, details FROM audit_events WHERE seq >= :seq ORDER BY seq"
            ),
            {"seq": seq},
        ).all()
        for row in rows:
            mac = sealer.seal(prev, canonical_text(row[0], row[1], row[2] + "Z", *row[3:]))
            conn.execute(
                text("UPDATE audit_events SET prev_mac = :p, mac = :m WHERE seq = :s"),
                {"p": prev, "m": mac, "s": row[0]},
            )
            prev = mac
        conn.execute(text("UPDATE audit_head SET mac = :m"), {"m": prev})


def _rewrite_table(workspace: Workspace, how: str) -> None:
    with workspace.engine.begin() as conn:
        if how == "delete":
            conn.execute(text("DELETE FROM audit_anchors"))
        else:  # point each anchor at the rewritten chain (the attacker cannot sign)
            for anchor_id, seq in conn.execute(text("SELECT id, seq FROM audit_anchors")).all():
                mac = conn.execute(text("SELECT mac FROM audit_events WHERE seq = :s"), {"s": seq}).scalar()
                conn.execute(
                    text("UPDATE audit_anchors SET mac = :m WHERE id = :i"),
                    {"m": mac or "0" * 64, "i": anchor_id},
                )


@pytest.mark.parametrize("table", ["delete", "forge"])
def test_truncated_log_with_rewound_head_is_caught_by_the_file(
    anchored: tuple[Env, Path, SignedAnchor], table: str
) -> None:
    env, _file, anchor = anchored
    workspace = env.workspace
    _truncate_and_rewind(workspace, anchor.seq - 2)
    _rewrite_table(workspace, table)
    with workspace.db() as db:
        assert verify_chain(db, workspace.keys.audit_key).ok  # the HMAC chain alone cannot see it
    workspace.close()
    code, out = sealroom(env.root, "audit", "anchor", "--check")
    assert code == 2, out
    assert f"record {anchor.seq} is missing" in out or "does not verify" in out
    if table == "delete":
        assert f"anchor {anchor.id} (file anchors.jsonl line 1)" in out


@pytest.mark.parametrize("table", ["delete", "forge"])
def test_resealed_chain_is_caught_by_the_file(anchored: tuple[Env, Path, SignedAnchor], table: str) -> None:
    env, _file, anchor = anchored
    workspace = env.workspace
    _edit_and_reseal(workspace, anchor.seq - 3)
    _rewrite_table(workspace, table)
    with workspace.db() as db:
        assert verify_chain(db, workspace.keys.audit_key).ok
    report, _state = Monitor.of(workspace).check()
    assert not report.ok and report.first_bad_anchor is not None
    if table == "delete":
        assert report.first_bad_anchor.source == "file anchors.jsonl line 1"
        assert "another seal" in report.first_bad_anchor.problem
    else:
        assert "signature does not verify" in report.first_bad_anchor.problem
    workspace.close()
    code, out = sealroom(env.root, "audit", "anchor", "--check")
    assert code == 2 and "FAILED" in out


def test_a_rewritten_database_passes_without_an_external_copy(
    anchored: tuple[Env, Path, SignedAnchor],
) -> None:
    """The counter-test: with the file gone and the table emptied, nothing is left to disagree."""
    env, anchor_file, anchor = anchored
    workspace = env.workspace
    _edit_and_reseal(workspace, anchor.seq - 3)
    _rewrite_table(workspace, "delete")
    anchor_file.unlink()
    report, state = Monitor.of(workspace).check()
    assert report.ok and state == "missing"


def test_edited_anchor_line_fails_its_signature(
    anchored: tuple[Env, Path, SignedAnchor], tmp_path: Path
) -> None:
    env, anchor_file, anchor = anchored
    line = json.loads(anchor_file.read_text())
    forged = tmp_path / "forged.jsonl"
    forged.write_text(json.dumps({**line, "seq": anchor.seq - 1}) + "\n")
    env.workspace.close()
    code, out = sealroom(env.root, "audit", "anchor", "--check", "--file", str(forged))
    assert code == 2, out
    assert "forged.jsonl line 1" in out and "signature does not verify" in out


def test_siem_export_of_anchor_records_serves_as_anchors(
    anchored: tuple[Env, Path, SignedAnchor], tmp_path: Path
) -> None:
    env, anchor_file, anchor = anchored
    workspace = env.workspace
    with workspace.db() as db:
        record = db.scalars(select(AuditEvent).where(AuditEvent.action == "audit.anchor")).one()
    export = tmp_path / "siem.jsonl"
    export.write_text(
        json.dumps({"seq": record.seq, "action": "audit.anchor", "details": record.details})
        + "\n"
        + json.dumps({"seq": 1, "action": "test.event", "details": {}})
        + "\n"
    )
    anchor_file.unlink()
    _truncate_and_rewind(workspace, anchor.seq - 1)
    _rewrite_table(workspace, "delete")
    report, _state = Monitor.of(workspace).check((export,))
    assert not report.ok and report.anchors_checked == 1
    assert report.first_bad_anchor is not None and report.first_bad_anchor.source == "file siem.jsonl line 1"


def test_periodic_anchor_only_when_due_and_the_head_moved(env: Env) -> None:
    workspace = env.workspace
    monitor = Monitor.of(workspace)
    first = monitor.anchor_if_due()
    assert first is not None and first.anchor is not None
    with workspace.db() as db:
        assert anchor_covers_head(db)  # its own record moved the head, nothing else
    assert monitor.anchor_if_due() is None  # the interval has not passed
    env.clock.advance(minutes=61)
    assert monitor.anchor_if_due() is None  # only the anchor's own record is new
    append_events(workspace, 1)
    with workspace.db() as db:
        assert not anchor_covers_head(db)
    other = Workspace.open(env.root, clock=env.clock, engines=workspace.engines)  # a second process
    try:
        second = Monitor.of(other).anchor_if_due()
        assert (
            second is not None and second.anchor is not None and second.anchor.seq == head_seq(workspace) - 1
        )
        assert monitor.anchor_if_due() is None  # the other process claimed this interval
    finally:
        other.close()
    with workspace.db() as db:
        assert len(db.scalars(select(AuditAnchor)).all()) == 2


def test_audit_verify_in_cli_and_api_holds_the_chain_against_its_anchors(
    anchored: tuple[Env, Path, SignedAnchor],
) -> None:
    """An auditor's everyday verify (not only ``anchor --check``) sees a re-sealed database."""
    env, _file, anchor = anchored
    workspace = env.workspace
    _edit_and_reseal(workspace, anchor.seq - 3)
    _rewrite_table(workspace, "delete")
    with TestClient(create_app(workspace, sweep=False, forward=False)) as client:
        body = client.get("/api/v1/audit/verify", headers=login(client, env, "kim")).json()
    assert body["ok"] is False and body["first_bad_seq"] == anchor.seq
    assert "another seal" in body["problem"]
    workspace.close()
    code, out = sealroom(env.root, "audit", "verify")
    assert code == 2 and "FAILED" in out and "anchors.jsonl line 1" in out
