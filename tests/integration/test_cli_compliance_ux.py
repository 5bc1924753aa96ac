"""The compliance commands as a newcomer meets them: machine-readable output that stays parseable at any
terminal width, readiness remedies shown whole, errors as JSON with ``--json``, the same search filters
as the API and the audit page, a sign-off made by a signed-in reviewer, honest export messages, and
private files."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner, Result

from sealroom.audit import standalone
from sealroom.cli import common
from sealroom.cli.main import app
from sealroom.db.models import AuditEvent, ComplianceSignoff
from sealroom.readiness import evaluate
from sealroom.workspace import Workspace, init_workspace
from tests.conftest import CLINICAL_CASE, PASSWORD, Env, login

runner = CliRunner()
NARROW = 80


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """An 80-column terminal (the tests' default is 250, so nothing is wrapped by accident)."""
    monkeypatch.setattr(common.console, "width", NARROW)
    monkeypatch.setattr(common.err_console, "width", NARROW)


def _run(env: Env, *args: str, user: str | None = None) -> Result:
    environ = {"SEALROOM_WORKSPACE": str(env.root), "COLUMNS": str(NARROW)}
    if user is not None:
        # The CLI opens the workspace with the real clock, so the code is the real current one.
        environ |= {"SEALROOM_PASSWORD": PASSWORD, "SEALROOM_TOTP": pyotp.TOTP(env.secrets[user]).now()}
    return runner.invoke(app, list(args), env=environ)


def _flat(text: str) -> str:
    """``text`` without any white space, to compare what a terminal wrapped onto several lines."""
    return re.sub(r"\s+", "", text)


def _seqs(env: Env, **where: str) -> list[int]:
    with env.workspace.db() as db:
        query = select(AuditEvent.seq).order_by(AuditEvent.seq)
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        return list(db.scalars(query))


# --- 1. JSON and hashes are plain text, never wrapped or read as markup --------------------------------


def test_alerts_status_prints_valid_json_at_80_columns_with_brackets_kept(env: Env, narrow: None) -> None:
    result = _run(env, "alerts", "status")
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)  # one long problem line must not be wrapped inside its string
    problems = " ".join(status["problems"])
    assert "[alerts] webhook_url" in problems  # not eaten as Rich markup
    assert any(len(problem) > NARROW for problem in status["problems"])


def test_anchor_public_key_and_signoff_show_json_are_parseable_at_80_columns(env: Env, narrow: None) -> None:
    result = _run(env, "audit", "anchor", "--public-key")
    assert result.exit_code == 0, result.output
    key = json.loads(result.stdout)
    assert len(key["key_id"]) == 64 and len(key["public_key"]) == 64
    notes = "Reviewed roles, egress and retention " * 4
    signed = _run(env, "signoff", "--user", "kim", "--notes", notes, user="kim")
    assert signed.exit_code == 0, signed.output
    shown = _run(env, "signoff", "--show", "--json")
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.stdout)
    assert view["reviewer"] == "kim" and view["notes"].startswith("Reviewed roles")
    text = _run(env, "signoff", "--show")
    assert f"configuration sha256: {view['config_sha256']}" in text.stdout.splitlines()


def test_readiness_json_is_parseable_at_80_columns(env: Env, narrow: None) -> None:
    result = _run(env, "readiness", "--json")
    assert result.exit_code == 2, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "fail"


def test_audit_export_prints_the_hash_and_key_id_whole_at_80_columns(
    env: Env, narrow: None, tmp_path: Path
) -> None:
    out = tmp_path / ("a-long-folder-name-for-the-evidence-" * 2) / "evidence.jsonl"
    out.parent.mkdir()
    result = _run(env, "audit", "export", "--out", str(out))
    assert result.exit_code == 0, result.output
    manifest = json.loads(out.read_text().splitlines()[-1])
    lines = result.stdout.splitlines()
    assert f"signed by anchor key {manifest['key_id']}" in lines
    assert any(line.startswith("sha256 ") and len(line) == len("sha256 ") + 64 for line in lines)
    assert f"verify with: sealroom audit verify --file {out}" in lines


# --- 2. readiness remedies are shown whole ----------------------------------------------------------------


def test_readiness_shows_every_finding_and_remedy_whole_at_80_columns(env: Env, narrow: None) -> None:
    report = json.loads(_run(env, "readiness", "--json").stdout)  # the same evaluation, as the CLI sees it
    result = _run(env, "readiness")
    assert result.exit_code == 2, result.output
    shown = _flat(result.stdout)
    checks = [check for item in report["items"] for check in item["checks"]]
    assert any(check["remedy"] and len(check["remedy"]) > NARROW for check in checks)
    for check in checks:
        assert _flat(f"{check['id']} {check['title']}") in shown
        if check["remedy"]:
            assert _flat(f"remedy: {check['remedy']}") in shown, check["id"]
    assert result.stdout.count("found: ") == len(checks)


# --- 3. readiness --json with a broken configuration still prints JSON ---------------------------------


def test_readiness_json_with_an_invalid_configuration_prints_an_error_object(env: Env) -> None:
    env.workspace.close()
    config = env.root / "sealroom.toml"
    good = config.read_text(encoding="utf-8")
    config.write_text("[session\nidle = ", encoding="utf-8")
    result = _run(env, "readiness", "--json")
    config.write_text(good, encoding="utf-8")
    assert result.exit_code == 3, result.output
    body = json.loads(result.stdout)
    assert body["status"] == "error" and body["exit_code"] == 3 and body["error"]
    assert body["error"].split(":")[0] in result.stderr  # the message is on stderr as well
    env.workspace = Workspace.open(env.root, clock=env.clock, engines=env.workspace.engines)


# --- 4. the same filters in the CLI, the API and the web page ------------------------------------------


def test_cli_until_a_date_includes_that_whole_day(env: Env) -> None:
    # The template's records were written at 2026-03-02 09:00 UTC by operator:test.
    assert _seqs(env, actor="operator:test")
    result = _run(env, "audit", "show", "--user", "operator:test", "--until", "2026-03-02", "--limit", "500")
    assert result.exit_code == 0, result.output
    assert "admin.user.create" in result.stdout
    assert "No audit records match" not in result.stdout
    before = _run(env, "audit", "show", "--user", "operator:test", "--until", "2026-03-01")
    assert "No audit records match these filters." in before.stdout


def test_cli_accepts_an_action_family_with_a_star_like_the_web_page(env: Env) -> None:
    starred = _run(env, "audit", "show", "--action", "admin.*", "--limit", "500")
    dotted = _run(env, "audit", "show", "--action", "admin.", "--limit", "500")
    assert starred.exit_code == 0 and dotted.exit_code == 0, starred.output + dotted.output
    assert "admin.user.create" in starred.stdout and "admin.grant.create" in starred.stdout
    assert "auth.mfa.enroll" not in starred.stdout
    rows = [line for line in starred.stdout.splitlines() if "admin." in line]
    assert rows == [line for line in dotted.stdout.splitlines() if "admin." in line]


@pytest.mark.parametrize("family", ["session.*", "session."])
def test_api_accepts_an_action_family(env: Env, client: TestClient, family: str) -> None:
    headers = login(client, env, "kim")
    response = client.get("/api/v1/audit/events", params={"action": family, "limit": 1000}, headers=headers)
    assert response.status_code == 200, response.text
    actions = {event["action"] for event in response.json()["events"]}
    assert "session.open" in actions and all(action.startswith("session.") for action in actions)


# --- 5. a sign-off is made by a signed-in reviewer --------------------------------------------------------


def test_cli_signoff_signs_in_and_refuses_administrators(env: Env) -> None:
    env.workspace.identity.add_user("dual", PASSWORD, ["admin", "auditor"], actor="operator:test")
    env.secrets["dual"] = env.workspace.identity.enroll_mfa("dual", actor="operator:test").secret
    notes = ("--notes", "Reviewed roles and egress")
    admin = _run(env, "signoff", "--user", "alex", *notes, user="alex")
    assert admin.exit_code == 7, admin.output
    dual = _run(env, "signoff", "--user", "dual", *notes, user="dual")
    assert dual.exit_code == 7 and "does not administer the workspace" in dual.output
    with env.workspace.db() as db:
        assert db.scalars(select(ComplianceSignoff)).all() == []
    kim = _run(env, "signoff", "--user", "kim", *notes, user="kim")
    assert kim.exit_code == 0, kim.output
    with env.workspace.db() as db:
        [row] = db.scalars(select(ComplianceSignoff)).all()
        [record] = db.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "readiness.signoff", AuditEvent.outcome == "success"
            )
        ).all()
    assert (row.reviewer, row.recorded_by) == ("kim", "kim")
    assert record.actor == "kim" and record.session_id is not None


def test_cli_signoff_no_longer_takes_a_typed_reviewer_name(env: Env) -> None:
    result = _run(env, "signoff", "--reviewer", "Dana Reviewer", "--notes", "fine")
    assert result.exit_code == 4 and "--user" in result.output
    result = _run(env, "signoff", "--notes", "fine")
    assert result.exit_code == 4 and "--user" in result.output
    with env.workspace.db() as db:
        assert db.scalars(select(ComplianceSignoff)).all() == []


# --- 6. export messages, the manifest's "contiguous", the standalone verifier -------------------------


def test_an_empty_export_says_no_record_matched(env: Env, tmp_path: Path) -> None:
    out = tmp_path / "none.jsonl"
    result = _run(env, "audit", "export", "--out", str(out), "--user", "nobody")
    assert result.exit_code == 0, result.output
    assert "exported 0 records (no record matched the filters)" in result.stdout
    assert "None" not in result.stdout


def test_a_content_filtered_export_is_never_contiguous(env: Env, tmp_path: Path) -> None:
    [seq, *_] = _seqs(env, case_id=CLINICAL_CASE)
    out = tmp_path / "case.jsonl"
    result = _run(
        env, "audit", "export", "--out", str(out), "--case", CLINICAL_CASE,
        "--after-seq", str(seq - 1), "--before-seq", str(seq + 1),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads(out.read_text().splitlines()[-1])
    assert manifest["record_count"] == 1 and manifest["contiguous"] is False
    assert "filtered" in result.stdout
    ranged = tmp_path / "range.jsonl"
    result = _run(env, "audit", "export", "--out", str(ranged), "--before-seq", "4")
    assert json.loads(ranged.read_text().splitlines()[-1])["contiguous"] is True


def test_standalone_says_no_records_and_names_one_missing_record(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "none.jsonl"
    assert _run(env, "audit", "export", "--out", str(empty), "--user", "nobody").exit_code == 0
    assert standalone.main([str(empty)]) == 0
    assert "0 records (no records)" in capsys.readouterr().out
    full = tmp_path / "full.jsonl"
    assert _run(env, "audit", "export", "--out", str(full), "--before-seq", "6").exit_code == 0
    lines = full.read_text().splitlines()
    missing = json.loads(lines[2])["seq"]
    full.write_text("\n".join([*lines[:2], *lines[3:]]) + "\n")
    assert standalone.main([str(full)]) == 2
    error = capsys.readouterr().err
    assert f"record {missing} is missing" in error and " to " not in error


def test_a_short_expect_key_is_refused(env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "e.jsonl"
    assert _run(env, "audit", "export", "--out", str(out)).exit_code == 0
    key_id = json.loads(out.read_text().splitlines()[-1])["key_id"]
    with pytest.raises(SystemExit) as exited:
        standalone.main([str(out), "--expect-key", key_id[:8]])
    assert exited.value.code == 2
    assert "give the key id's first 16 or more hex digits" in capsys.readouterr().err
    result = _run(env, "audit", "verify", "--file", str(out), "--expect-key", key_id[:8])
    assert result.exit_code == 4 and "give the key id's first 16 or more hex digits" in result.output
    result = _run(env, "audit", "verify", "--file", str(out), "--expect-key", key_id[:16])
    assert result.exit_code == 0, result.output


# --- 7. a search without results says so ----------------------------------------------------------------


def test_audit_show_without_a_match_says_so(env: Env) -> None:
    result = _run(env, "audit", "show", "--user", "nobody")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "No audit records match these filters."


# --- 9. private files -----------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_workspace_database_is_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        root = init_workspace(tmp_path / "ws")
    finally:
        os.umask(old)
    assert _mode(root / "sealroom.db") == 0o600
    for companion in ("sealroom.db-wal", "sealroom.db-shm"):
        if (root / companion).exists():
            assert _mode(root / companion) == 0o600


def test_opening_a_workspace_makes_an_older_database_and_its_companions_0600(env: Env) -> None:
    env.workspace.close()
    database = env.root / "sealroom.db"
    wal = env.root / "sealroom.db-wal"
    wal.touch()
    for path in (database, wal):
        os.chmod(path, 0o644)
    env.workspace = Workspace.open(env.root, clock=env.clock, engines=env.workspace.engines)
    assert _mode(database) == 0o600 and _mode(wal) == 0o600


def test_an_audit_export_file_is_0600(env: Env, tmp_path: Path) -> None:
    out = tmp_path / "evidence.csv"
    old = os.umask(0o022)
    try:
        assert _run(env, "audit", "export", "--format", "csv", "--out", str(out)).exit_code == 0
    finally:
        os.umask(old)
    assert _mode(out) == 0o600


# --- 10. the alerts check says whose environment it saw -------------------------------------------------


def test_c_alerts_names_the_unset_variable_and_where_it_must_be_set(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEALROOM_TEST_HOOK_SECRET", raising=False)
    text = (env.root / "sealroom.toml").read_text(encoding="utf-8")
    text = text.replace(
        '# webhook_secret_env = "SEALROOM_WEBHOOK_SECRET"',
        'webhook_url = "https://siem.example.org/hook"\nwebhook_secret_env = "SEALROOM_TEST_HOOK_SECRET"',
    )
    (env.root / "sealroom.toml").write_text(text, encoding="utf-8")
    env.reopen()
    check = evaluate(env.workspace).check("c.alerts")
    assert check.status == "warn"
    assert "SEALROOM_TEST_HOOK_SECRET is not set in this process's environment" in check.detail
    assert check.remedy is not None
    assert "SEALROOM_TEST_HOOK_SECRET" in check.remedy and "sealroom serve" in check.remedy
    assert "sealroom alerts run" in check.remedy
    monkeypatch.setenv("SEALROOM_TEST_HOOK_SECRET", "s3cret-value-for-the-test")
    check = evaluate(env.workspace).check("c.alerts")
    assert "SEALROOM_TEST_HOOK_SECRET" not in check.detail + (check.remedy or "")
